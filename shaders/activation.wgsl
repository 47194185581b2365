// The activations a kernel can apply in its epilogue (prepended to that kernel's source):
// ACT_RELU keeps NaN, as the elementwise relu does (lavapipe's max(NaN, 0) is 0); ACT_SIGMOID is
// the elementwise sigmoid. Neither define: the identity.

// By its bits: WGSL lets a compiler assume floats are never NaN, which folds `v != v` to false.
fn actIsNan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn activate(v: f32) -> f32 {
#if ACT_RELU
  return select(max(v, 0.0), v, actIsNan(v));
#else
#if ACT_SIGMOID
  return 1.0 / (1.0 + exp(-v));
#else
  return v;
#endif
#endif
}
