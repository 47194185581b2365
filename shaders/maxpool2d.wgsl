// 2-D max pooling over NCHW planes, windows of K x K at stride S with Torch's floor output size.
// The forward writes each window's maximum and, when INDICES, where it was (an offset within the
// input plane). The backward (BACKWARD) is deterministic and uses no atomics:
// - windows that do not overlap (S >= K): one invocation per window reads its gradient and argmax
//   once and writes its whole S x S cell of the input gradient, the gradient at the argmax and
//   zero elsewhere; the last window of a row or column also zeroes the rows and columns the floor
//   mode leaves uncovered, so every input element is written exactly once.
// - OVERLAP (S < K): one invocation per input element gathers the gradients of the windows that
//   contain it and chose it.
//
// The launch is 3-D (x: column, y: row, z: plane), so no invocation divides to find its place:
// lavapipe scalarises integer division. K and S are overrides: the forward's window loops get
// constant bounds.
// Rows and columns past the dispatch limit are launched again from the offsets y0 and x0.
//
// ACT_RELU applies activation.wgsl's ReLU (joined) to each window's maximum (it commutes with the
// maximum, so this is also the pooling of rectified inputs); a window whose output is not
// positive stores NONE as its argmax, which no input element matches, so the backward passes it
// no gradient without reading the output: the encoder's pool and ReLU as one kernel each way.
// (shaders/conv2d.wgsl's fused pooling stores its argmax the same way.)
//
// Tensors are bound as windows that start on an aligned byte offset at or before a chunk's first
// plane; inBase/outBase are the element offsets of that first plane within the bound windows.

override K: u32;
override S: u32;
override WG_X: u32;
override WG_Y: u32;

struct U {
  planes: u32,  // planes in this dispatch
  inBase: u32,
  outBase: u32,
  H: u32,
  W: u32,
  OH: u32,
  OW: u32,
  x0: u32,
  y0: u32,
  _a: u32,
  _b: u32,
  _c: u32,
}

@group(0) @binding(0) var<uniform> u: U;
const NONE = 0xffffffffu;

#if BACKWARD
@group(0) @binding(1) var<storage, read> G: array<f32>;    // gradient of the outputs
@group(0) @binding(2) var<storage, read> IDX: array<u32>;  // argmax of each output window, or NONE
@group(0) @binding(3) var<storage, read_write> GI: array<f32>;
#else
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
#if INDICES
@group(0) @binding(3) var<storage, read_write> IDX: array<u32>;
#endif
#endif

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let p = gid.z;
  let y = gid.y + u.y0;
  let x = gid.x + u.x0;
#if OVERLAP
  // (y, x) is an input element.
  if (p >= u.planes || y >= u.H || x >= u.W) { return; }
  // Windows oh with oh*S <= y < oh*S + K; rows past the last window (floored away) get none.
  var ohLo = 0u;
  if (y >= K) { ohLo = (y - K) / S + 1u; }
  let ohHi = min(y / S + 1u, u.OH);
  var owLo = 0u;
  if (x >= K) { owLo = (x - K) / S + 1u; }
  let owHi = min(x / S + 1u, u.OW);
  let plane = u.outBase + p * u.OH * u.OW;
  let r = y * u.W + x;
  var acc = 0.0;
  for (var oh = ohLo; oh < ohHi; oh++) {
    for (var ow = owLo; ow < owHi; ow++) {
      let o = plane + oh * u.OW + ow;
      if (IDX[o] == r) { acc += G[o]; }
    }
  }
  GI[u.inBase + p * u.H * u.W + r] = acc;
#else
  // (y, x) is an output window.
  if (p >= u.planes || y >= u.OH || x >= u.OW) { return; }
  let o = u.outBase + p * u.OH * u.OW + y * u.OW + x;
  let plane = u.inBase + p * u.H * u.W;
#if BACKWARD
  let g = G[o];
  let at = IDX[o];
  // The S x S cell with constant bounds (unrolled), then what the floor mode leaves uncovered
  // past the last window of a row or column: loops with bounds that vary by lane cost lavapipe
  // a mask per store.
  let first = y * S * u.W + x * S;
  for (var dr = 0u; dr < S; dr++) {
    for (var dc = 0u; dc < S; dc++) {
      // With a stride past the window the last cell can overhang the plane (S <= K: never).
      if (S > K && (y * S + dr >= u.H || x * S + dc >= u.W)) { continue; }
      let at2 = first + dr * u.W + dc;
      GI[plane + at2] = select(0.0, g, at2 == at);
    }
  }
  if (y + 1u == u.OH || x + 1u == u.OW) {
    let r1 = select(y * S + S, u.H, y + 1u == u.OH);
    let c1 = select(x * S + S, u.W, x + 1u == u.OW);
    for (var r = y * S; r < r1; r++) {
      let row = r * u.W;
      for (var c = select(x * S + S, x * S, r >= y * S + S); c < c1; c++) {
        GI[plane + row + c] = 0.0;
      }
    }
  }
#else
  let first = y * S * u.W + x * S;
  var best = X[plane + first];
  var at = first;
  // Row-major scan with a strict '>' so the first maximum wins ties, as PyTorch does; as there, a
  // NaN wins its window (the last, if several), so a NaN upstream reaches the loss and is caught.
  for (var kh = 0u; kh < K; kh++) {
    let row = first + kh * u.W;
    for (var kw = 0u; kw < K; kw++) {
      let v = X[plane + row + kw];
      if (isNan(v) || (!isNan(best) && v > best)) {
        best = v;
        at = row + kw;
      }
    }
  }
  let pooled = activate(best);
  OUT[o] = pooled;
#if INDICES
  IDX[o] = select(NONE, at, activePasses(pooled));
#endif
#endif
#endif
}
