// The activations a kernel can apply in its epilogue (joined to that kernel's source), and
// their derivatives from the output for a gradient's prologue: ACT_RELU keeps NaN, as the
// elementwise relu does (lavapipe's max(NaN, 0) is 0); ACT_SIGMOID is the elementwise sigmoid.
// Neither define: the identity. activateGrad matches activationGrad in src/kernels/elementwise.ts.

// By its bits: WGSL lets a compiler assume floats are never NaN, which folds `v != v` to false.
// (The one NaN test of the shaders: elementwise.wgsl's expressions and the pooling kernels join
// this file for it.)
fn isNan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn activate(v: f32) -> f32 {
#if ACT_RELU
  return select(max(v, 0.0), v, isNan(v));
#else
#if ACT_SIGMOID
  return 1.0 / (1.0 + exp(-v));
#else
  return v;
#endif
#endif
}

/** Whether a gradient passes the activation at its output y: for ReLU, y positive (not NaN). */
fn activePasses(y: f32) -> bool {
#if ACT_RELU
  return y > 0.0;
#else
  return true;
#endif
}

/** g through the activation's derivative, read from the activation's output y. */
fn activateGrad(g: f32, y: f32) -> f32 {
#if ACT_RELU
  return select(0.0, g, activePasses(y));
#else
#if ACT_SIGMOID
  return g * y * (1.0 - y);
#else
  return g;
#endif
#endif
}
