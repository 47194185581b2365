// One optimizer step on parameters, in place (RMSProp: all of them, packed). RMSPROP: the variant of the original
// rmsprop.lua (Adam-like moment estimates with decays b1, b2 and a bias correction folded into
// the step size lrGamma by the host):
//   m <- (1 - b1) m + b1 g;  v <- (1 - b2) v + b2 g^2;  x <- x - lrGamma * m / sqrt(v + eps).
// Otherwise plain SGD: x <- x - lr * g. Storage bindings in order: X, G, then M, V.

struct U {
  n: u32,
  _a: u32,
  _b: u32,
  _c: u32,
  lr: f32,      // RMSPROP: lr * sqrt(1 - (1 - b2)^t) / (1 - (1 - b1)^t)
  b1: f32,
  b2: f32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
#if RMSPROP
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
  let g = G[i];
#if RMSPROP
  let m = (1.0 - u.b1) * M[i] + u.b1 * g;
  let v = (1.0 - u.b2) * V[i] + u.b2 * (g * g);
  M[i] = m;
  V[i] = v;
  X[i] = X[i] - u.lr * (m / sqrt(v + u.eps));
#else
  X[i] = X[i] - u.lr * g;
#endif
}
