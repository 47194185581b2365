// The forward's store address, shared by conv2d.wgsl's CONV and conv2d-tiled.wgsl's FWD (joined to
// either; u is theirs): for GEMM row m, the output channel whose bias it takes and the offset of
// its plane in an output image. With SHUFFLE (upsampleConv2d) stacked channel m = (py*2+px)*shufO + o
// goes to pixels (2ty+py, 2tx+px) of channel o, the steps and outW being the output's.
fn storeChannel(m: u32) -> vec2<u32> {
#if SHUFFLE
  let o = m % u.shufO;
  let p = m / u.shufO;
  return vec2<u32>(o, o * u.outPlane + (p >> 1u) * u.outW + (p & 1u));
#else
  return vec2<u32>(m, m * u.outPlane);
#endif
}
