// relu?(maxPool2d(conv2d(x, w) + bias)) with 2x2 windows at stride 2, forward only: the encoder
// when nothing records a gradient (no argmax is stored). Stride 1, zero padding, NCHW, PyTorch's
// [O, C, kh, kw] weights and the floor mode's output size.
//
// Made for CPU adapters that run a lane's storage loads as a gather per SIMD lane, even at an
// address every lane shares (SwiftShader: about 1 G floats/s against 18 G multiply-adds/s): each
// lane owns two convolution rows by 2 * PXP columns of OB output channels (the rows and columns of
// PXP pooled outputs), so each input value it loads serves up to OB * kw products, and the weights
// reach the lanes one of two ways (src/kernels/conv2d-pooled.ts emits the body):
// - WEIGHTS 'const' (few weights): the loops over input channels are unrolled, so every weight
//   index is a constant: a load the compiler knows every lane shares;
// - otherwise each of SHARED_LANES lanes of a subgroup loads one weight in that many and
//   subgroupBroadcast hands them round (or, without subgroups, every lane loads every weight).
// The weights are bound as an array of fixed size, so that the robustness clamp of each index is
// against a constant rather than the binding's length (the small encoder's two shared layers on
// SwiftShader, two runs each: 5.96, 5.70 -> 5.14, 5.65 ms).
// Lanes past the last tile repeat it rather than return (a broadcast needs every lane of its
// subgroup) and store nothing.
//
// The convolution's per-channel sums sit in scalars named a{row}_{column}_{channel}: an array
// indexed by a loop counter is memory on SwiftShader.

#if SUBGROUPS
enable subgroups;
#endif

#if CHANNEL_LANES
@group(0) @binding(0) var<storage, read> X: array<f32, {{X_SIZE}}>;
#else
@group(0) @binding(0) var<storage, read> X: array<f32>;
#endif
@group(0) @binding(1) var<storage, read> WT: array<f32, {{W_SIZE}}>;
#if BIAS
@group(0) @binding(2) var<storage, read> BIAS: array<f32>;
#endif
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> OUT: array<f32>;

#if CHANNEL_LANES
// CHANNEL_LANES (few weights a lane, valid convolutions): the lanes of a four-lane workgroup
// (one subgroup) split the output channels, OBL each, and share every input value: each loads a
// quarter of a window and subgroupBroadcast hands them round. A lane's weights sit in a private
// array read at constant indices (plain loads, not gathers), filled once by a loop; the workgroup
// then walks pooled outputs GROUPS apart, each a 2x2 convolution window of OBL channels a lane.
// (Filling the array by unrolled loads took SwiftShader 4.8 s to compile for the small encoder's
// second layer, the loop 0.9 s.)
@compute @workgroup_size(4, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {
  let og = wid.y * {{GROUP_CHANNELS}}u + sid * {{OBL}}u;
  var wl: array<f32, {{LANE_WEIGHTS}}>;
  for (var i = 0u; i < {{LANE_WEIGHTS}}u; i++) {
    wl[i] = WT[min(og + i / {{CT}}u, {{O}}u - 1u) * {{CT}}u + i % {{CT}}u];
  }
{{BODY}}
}
#else
@compute @workgroup_size(64, 1, 1)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) sid: u32,
#endif
) {
  let tile = min(gid.x, {{TILES}}u - 1u);
  let live = gid.x < {{TILES}}u;
  // Pooled row, first pooled column (the last block of a row moves left to stay inside), first
  // output channel, image.
  let py = tile / {{COL_BLOCKS}}u;
  let px = min((tile % {{COL_BLOCKS}}u) * {{PXP}}u, {{OW}}u - {{PXP}}u);
  let og = gid.y * {{OB}}u;
  let n = gid.z;
{{BODY}}
}
#endif
