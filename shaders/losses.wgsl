// Fused losses, summed over every element. BCE: -(t log p + (1 - t) log(1 - p)) with p clamped
// to [eps, 1 - eps]; KL: 0.5 (mu^2 + exp(logvar) - 1 - logvar), the KL divergence of
// N(mu, exp(logvar)) from N(0, 1). The forward writes one partial sum per workgroup (a
// deterministic tree, no atomics) for reduce.wgsl to finish; the backward (BACKWARD) scales the
// elementwise derivative by the scalar incoming gradient G[0].

struct U {
  n: u32,       // elements in this chunk
  wgBase: u32,  // index of this chunk's first partial sum
  eps: f32,
  _a: u32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;   // BCE: pred; KL: mu
@group(0) @binding(2) var<storage, read> B: array<f32>;   // BCE: target; KL: logvar
#if BACKWARD
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> GA: array<f32>;
#if KL
@group(0) @binding(5) var<storage, read_write> GB: array<f32>;
#endif
#else
@group(0) @binding(3) var<storage, read_write> PART: array<f32>;
#endif

const WG = 256u;
override PER_THREAD: u32 = 16u;

fn loss(a: f32, b: f32) -> f32 {
#if KL
  return 0.5 * (a * a + exp(b) - 1.0 - b);
#else
  let p = clamp(a, u.eps, 1.0 - u.eps);
  return -(b * log(p) + (1.0 - b) * log(1.0 - p));
#endif
}

#if BACKWARD
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= u.n) { return; }
  let g = G[0];
  let a = A[i];
  let b = B[i];
#if KL
  GA[i] = g * a;
  GB[i] = g * 0.5 * (exp(b) - 1.0);
#else
  // The derivative at the clamped probability, also where p was clamped: a saturated decoder
  // output keeps a (large, bounded) gradient instead of none, as Torch's BCECriterion does.
  let p = clamp(a, u.eps, 1.0 - u.eps);
  GA[i] = g * (p - b) / (p * (1.0 - p));
#endif
}
#else
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = wid.x + wid.y * nwg.x;
  let start = w * WG * PER_THREAD;
  let end = min(start + WG * PER_THREAD, u.n);
  var acc = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    acc += loss(A[i], B[i]);
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { partial[lid] += partial[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u && start < u.n) { PART[u.wgBase + w] = partial[0]; }
}
#endif
