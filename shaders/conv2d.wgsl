// 2-D convolution (NCHW, cross-correlation as in PyTorch) and its gradients, four kernels chosen
// by define: CONV (the forward, and also the input gradient), DW (weight gradient), DW_SUM
// (adds split-K partials of DW) and DB (bias gradient).
//
// CONV is an implicit GEMM, M = output channels, N = output pixels, K = input channels x taps,
// in the register-blocked style of matmul.wgsl: an invocation owns OB output channels x PX
// consecutive pixels of one output row of one image. The lanes run over the images of a chunk
// times the pixel blocks of a plane, so small planes still fill whole workgroups. For every input
// channel and kernel row a lane loads the row's run of RUN = (PX-1)*SX + KW inputs once and reuses
// each value for every tap that reads it, so x costs RUN loads per OB*PX*KW multiply-adds. The
// output-channel block comes from the workgroup id, so the weights are the same in every
// invocation of a workgroup and the lanes differ only in the pixels they read. With SUBGROUPS (at
// least 8 lanes) each lane loads one weight in eight and subgroupBroadcast hands them round:
// lavapipe turns every storage load into a branchy per-lane loop, uniform address or not, so this
// cuts the weight loads eightfold. Zero padding is a select on a per-row flag and per-column
// flags computed once, so the K loop has no other bounds checks.
//
// CONV and DW share the entry point (GEMM, at the end): each defines the lane's K loop
// (accumulate) and its stores for one output channel (store).
//
// The innermost loops, the CONV_TAPS and DW_TAPS substitutions, come fully unrolled from
// src/kernels/conv2d.ts (subgroupBroadcast takes only constant lane ids; straight-line code
// keeps the run and the accumulators in registers). CONV_TAPS is, for one (c, kernel row a):
//   for t < RUN:        x[t] = select(0, X[row + col[t]], rowOk && colOk[t])
//                       (INSIDE, where no stored output reads past the plane: X[row + col[t]])
//   for b < KW, o < OB: w = Wt[min(m0 + o, M - 1) * wM + wa + b * wCol]
//     for q < PX:       acc[o][q] += w * x[q * SX + b]
// (the products emitted an accumulator at a time, its KW taps in a row: tapOrder there says why).
//
// The input gradient runs the same kernel over dy with the weights read transposed and flipped
// through signed strides. With stride s it runs once per output phase (py, px) in [0,s)^2:
// dx[py + s*ty, px + s*tx] needs only the taps i = py+p (mod s), j likewise, which is a stride-1
// correlation of dy with that sub-kernel, flipped. Hence the general addressing below: output
// pixel (ty, tx) of the GEMM lands at (oyBase + oyStep*ty, oxBase + oxStep*tx) of the output
// plane, and tap (a, b) reads weight w0 + a*wRow + b*wCol of the channel pair's slice.
//
// Tensors are bound as windows that start on an aligned byte offset at or before a chunk's first
// image; inBase/outBase (xBase/dyBase) are the element offsets of that image in the windows.
//
// CONV's store adds the bias and applies the activation of shaders/activation.wgsl (appended).
// With PAIRS (stride-1 rows of large convolutions) a lane owns two output rows 2r and 2r+1, which
// share kh - 1 input rows: with SHARE_ROWS the K loop walks the kh + 1 input rows once, each row
// feeding the first output row through kernel row a and the second through kernel row a - 1.
// With POOL (forward only; each lane owns two output rows 2r and 2r+1, sharing input rows at
// stride 1, else the second run of each step read rowStep input rows below the first) the store
// is a 2x2 max pool at stride 2 instead, as shaders/maxpool2d.wgsl does it (Torch's floor size,
// the first maximum on ties, NaN winning), then the activation: the encoder's conv, pool and
// ReLU in one dispatch, the conv's output never written. IDX gets each window's argmax as an
// offset in the conv's output plane (ih * tilesX + iw), as maxPool2dBackward reads it, or
// 0xffffffff where the activation passes no gradient (as shaders/maxpool2d.wgsl stores it).
// With SHUFFLE it also interleaves depth into space for upsampleConv2d: stacked channel
// m = (py*2+px)*shufO + o goes to pixels (2ty+py, 2tx+px) of channel o, whose bias it takes, so
// the decoder's output needs no pass of its own (outW, outPlane and the steps are the output's).

#if SUBGROUPS
enable subgroups;
#endif

#if CONV
struct U {
  inC: u32,     // K channels (x channels forward, dy channels for the input gradient)
  inH: u32,
  inW: u32,
  inImg: u32,   // elements per image of the input
  inBase: u32,
  M: u32,       // output channels
  tilesX: u32,  // GEMM output pixels per row
  blocksX: u32, // ceil(tilesX / PX)
  blocks: u32,  // blocksX * GEMM output rows: the pixel blocks of one image
  lanes: u32,   // images in this chunk * blocks
  outPlane: u32,
  outW: u32,
  outImg: u32,
  outBase: u32,
  sy: u32,      // input rows between consecutive output rows
  taps: u32,    // kernel rows (0: the output is bias or zero)
  padY: i32,    // input row of output row 0, tap 0, negated
  padX: i32,
  wM: u32,      // weight stride between output channels
  wK: u32,      // weight stride between input channels
  w0: u32,      // weight of tap (0, 0) within a channel pair's slice
  wRow: i32,
  wCol: i32,
  oyBase: u32,
  oyStep: u32,
  oxBase: u32,
  oxStep: u32,
  hasBias: u32, // else Bias is bound to any buffer of at least M elements and ignored
  shufO: u32,   // SHUFFLE: channels of the output
  rowStep: u32, // POOL: input rows between a lane's two output rows
  poolW: u32,   // POOL: pooled columns (outW is the pooled row's length too)
  tilesY: u32,  // PAIRS: GEMM output rows (a lane's second row past them is not stored)
}

@group(0) @binding(2) var<storage, read> Wt: array<f32>;
@group(0) @binding(3) var<storage, read> Bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
#if POOL
@group(0) @binding(5) var<storage, read_write> IDX: array<u32>;
#endif
#if PAIRS
const ROWS = 2u;
#else
const ROWS = 1u;
#endif

const RUN = {{RUN}}u;
alias Acc = array<array<f32, PX * ROWS>, OB>;

// Lane `at` is image n = at / blocks, pixel block b = at % blocks: row b / blocksX, first
// column (b % blocksX) * PX.
fn accumulate(at: u32, m0: u32, z: u32, sl: u32) -> Acc {
  let n = at / u.blocks;
  let b = at % u.blocks;
  let H = i32(u.inH);
  let W = i32(u.inW);
  let iy0 = i32((b / u.blocksX) * u.sy) - u.padY;
  let ix0 = i32((b % u.blocksX) * PX * SX) - u.padX;

  var col: array<u32, RUN>;
  var colOk: array<bool, RUN>;
  for (var t = 0u; t < RUN; t++) {
    let ix = ix0 + i32(t);
    colOk[t] = ix >= 0 && ix < W;
    col[t] = u32(clamp(ix, 0, W - 1));
  }

  var acc: Acc;
#if SHARE_ROWS
{{CONV_VARS}}
#endif
  let plane = u.inH * u.inW;
  var xc = u.inBase + n * u.inImg;
  var wc = u.w0;
  for (var c = 0u; c < u.inC; c++) {
#if SHARE_ROWS
    // A lane's two output rows, one input row apart, share kh - 1 input rows: the loop walks the
    // kh + 1 input rows once, input row a feeding the first output row through kernel row a and
    // the second through kernel row a - 1 (kept from the step before).
    for (var a = 0u; a <= u.taps; a++) {
#else
    for (var a = 0u; a < u.taps; a++) {
#endif
      let iy = iy0 + i32(a);
      let rowOk = iy >= 0 && iy < H;
      let row = xc + u32(clamp(iy, 0, H - 1)) * u.inW;
#if POOL
      let iy2 = iy + i32(u.rowStep);
      let rowOk2 = iy2 >= 0 && iy2 < H;
      let row2 = xc + u32(clamp(iy2, 0, H - 1)) * u.inW;
#endif
      let wa = i32(wc) + i32(a) * u.wRow;
{{CONV_TAPS}}
    }
    xc += plane;
    wc += u.wK;
  }
  return acc;
}

#if POOL
fn store(at: u32, m: u32, z: u32, acc: array<f32, PX * ROWS>) {
  let n = at / u.blocks;
  let b = at % u.blocks;
  let pr = b / u.blocksX;
  let tx0 = (b % u.blocksX) * PX;
  let bias = select(0.0, Bias[m], u.hasBias != 0u);
  let out = u.outBase + n * u.outImg + m * u.outPlane + pr * u.outW;
  for (var q = 0u; q < PX; q += 2u) {
    let pc = (tx0 + q) / 2u;
    if (pc >= u.poolW) { break; }
    // The window's four pixels in row-major order, as the pool scans them.
    let first = 2u * pr * u.tilesX + tx0 + q;
    var best = acc[q] + bias;
    var arg = first;
    for (var e = 1u; e < 4u; e++) {
      let v = acc[(e >> 1u) * PX + q + (e & 1u)] + bias;
      if (isNan(v) || (!isNan(best) && v > best)) {
        best = v;
        arg = first + (e >> 1u) * u.tilesX + (e & 1u);
      }
    }
    let y = activate(best);
    Y[out + pc] = y;
    // As shaders/maxpool2d.wgsl stores it: no argmax (NONE) where the activation passes no gradient.
    IDX[out + pc] = select(0xffffffffu, arg, activePasses(y));
  }
}
#else
fn store(at: u32, m: u32, z: u32, acc: array<f32, PX * ROWS>) {
  let n = at / u.blocks;
  let b = at % u.blocks;
  let tx0 = (b % u.blocksX) * PX;
#if SHUFFLE
  let o = m % u.shufO;
  let p = m / u.shufO;
  let chan = o * u.outPlane + (p >> 1u) * u.outW + (p & 1u);
#else
  let o = m;
  let chan = m * u.outPlane;
#endif
  let bias = select(0.0, Bias[o], u.hasBias != 0u);
#if PAIRS
  // A lane's rows 2r and 2r + 1 (SHARE_ROWS); the second past the last row is not stored.
  for (var r = 0u; r < 2u; r++) {
    let ty = (b / u.blocksX) * 2u + r;
    if (ty >= u.tilesY) { break; }
    let row = u.outBase + n * u.outImg + chan + (u.oyBase + ty * u.oyStep) * u.outW + u.oxBase;
    for (var q = 0u; q < PX; q++) {
      let tx = tx0 + q;
      if (tx < u.tilesX) { Y[row + tx * u.oxStep] = activate(acc[r * PX + q] + bias); }
    }
  }
#else
  let row = u.outBase + n * u.outImg + chan + (u.oyBase + (b / u.blocksX) * u.oyStep) * u.outW + u.oxBase;
  for (var q = 0u; q < PX; q++) {
    let tx = tx0 + q;
    if (tx < u.tilesX) { Y[row + tx * u.oxStep] = activate(acc[q] + bias); }
  }
#endif
}
#endif
#endif

#if DW
// dw[o, c, i, j] = sum over images n and output pixels (oy, ox) of dy[n, o, oy, ox] * x[n, c,
// oy*s - padY + i, ox*s - padX + j]: a GEMM with M = O, N = C*kh*kw and K = images x pixels.
// A lane owns OB output channels x one (c, i) x all KW taps j. It walks K a row of dy at a
// time, PX pixels per step: the dy values come from the workgroup's channel block and the
// uniform loop position, so they are the same in every lane (shared by subgroupBroadcast as
// CONV's weights are), and each lane loads its run of (PX-1)*s + KW inputs once for PX*KW
// products per channel. DW_TAPS is, for one step at pixel ox0 of row (n, oy):
//   for t < RUN:        x[t] = X[xrow + ix0 + t] (zero outside the input)
//   for q < PX, o < OB: d = DY[dyrow + min(o0 + o, M - 1) * plane + ox0 + q] (zero past the row)
//     for j < KW:       acc[o][j] += d * x[q * s + j]
// K is split into segments of flattened (image, output row) rows, one per workgroup z, each
// writing its own partial slice (DW_SUM adds them in a fixed order: deterministic, no atomics).
//
// With DY_POOL dy is not read but made from the gradient at the convolution's 2x2-pooled output
// (DY, [N, O, PH, PW]) and the pool's argmax (IDXP, offsets in the convolution's output plane, as
// shaders/maxpool2d.wgsl and the POOL store write them): dy is that gradient at its window's
// argmax and zero elsewhere. conv2dPool's weight gradient reads it so where its input needs no
// gradient (the encoder's first layer), and the pooling's backward pass is never run.
//
// With DB_LANE the bias gradient rides along as one more lane, c = C: a channel whose inputs are
// all padding and whose padding is 1, so its acc[o][0] sums dy over the lane's rows. It shares
// the other lanes' dy loads and adds nothing to their work; it stores to PB (stride dbStride per
// segment) instead of P.
struct U {
  C: u32,
  H: u32,
  W: u32,
  xImg: u32,
  xBase: u32,
  M: u32,       // output channels O
  Ho: u32,
  Wo: u32,
  dyImg: u32,
  dyBase: u32,
  sy: u32,
  padY: i32,
  padX: i32,
  kh: u32,
  lanes: u32,   // C * kh
  rows: u32,    // images in this chunk x Ho
  rowsPerSeg: u32,
  dwSize: u32,  // O * C * kh * KW: the stride between partial slices
  dbStride: u32,
  segBase: u32, // the first partial slice this dispatch writes (earlier batch chunks wrote those before)
  khp: u32,     // lanes per input channel: kh, or ceil(kh / 2) with DW_PAIRS
  PH: u32,      // DY_POOL: the pooled plane (dyImg is then O * PH * PW)
  PW: u32,
  idxBase: u32, // DY_POOL: the chunk's first image in IDXP's window
}

@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;
#if DB_LANE
@group(0) @binding(4) var<storage, read_write> PB: array<f32>;
#endif
#if DY_POOL
@group(0) @binding({{IDX_BINDING}}) var<storage, read> IDXP: array<u32>;
#endif

#if DW_PAIRS
// A lane owns kernel rows i and i + 1 (stride 1): output row oy reads input rows oy + i and
// oy + i + 1, and oy + 1 reads oy + i + 1 again, so each step loads one new input run and takes
// the other from the step before (the loop walks rows inside pixel blocks to keep it).
const RL = 2u;
#else
const RL = 1u;
#endif
alias Acc = array<array<f32, KW * RL>, OB>;

// Lane `at` is input channel c = at / khp and kernel row i = (at % khp) * RL (and i + 1 with
// DW_PAIRS); z is the segment.
fn accumulate(at: u32, o0: u32, z: u32, sl: u32) -> Acc {
  let bias = at / u.khp >= u.C;
  let c = min(at / u.khp, u.C - 1u);
  let i = (at % u.khp) * RL;
  let pad = select(0.0, 1.0, bias);
  let r0 = z * u.rowsPerSeg;
  let r1 = min(r0 + u.rowsPerSeg, u.rows);
  let H = i32(u.H);
  let W = i32(u.W);
#if DY_POOL
  let plane = u.PH * u.PW;
#else
  let plane = u.Ho * u.Wo;
#endif

  var acc: Acc;
#if DW_PAIRS
{{DW_VARS}}
  for (var ox0 = 0u; ox0 < u.Wo; ox0 += PX) {
    let ix0 = i32(ox0 * SX) - u.padX;
    for (var r = r0; r < r1; r++) {
      let n = r / u.Ho;
      let oy = r % u.Ho;
      // The first run is the step before's second, except at a segment's or an image's first row.
      let fresh = r == r0 || oy == 0u;
      let iy = i32(oy) - u.padY + i32(i);
      let rowOk = iy >= 0 && iy < H && !bias;
      let rowOk2 = iy + 1 >= 0 && iy + 1 < H && !bias;
      let xrow = u.xBase + n * u.xImg + c * u.H * u.W + u32(clamp(iy, 0, H - 1)) * u.W;
      let xrow2 = u.xBase + n * u.xImg + c * u.H * u.W + u32(clamp(iy + 1, 0, H - 1)) * u.W;
      let dyrow = u.dyBase + n * u.dyImg + oy * u.Wo;
{{DW_TAPS}}
    }
  }
#else
  for (var r = r0; r < r1; r++) {
    let n = r / u.Ho;
    let oy = r % u.Ho;
    let iy = i32(oy * u.sy) - u.padY + i32(i);
    let rowOk = iy >= 0 && iy < H && !bias;
    let xrow = u.xBase + n * u.xImg + c * u.H * u.W + u32(clamp(iy, 0, H - 1)) * u.W;
#if DY_POOL
    // The pooled row that holds output row oy and oy's first pixel as the indices count them (row *
    // Wo + column of the convolution's output). A row past the floor mode's last reads the last
    // pooled row, whose argmax lies in the two rows above it: no pixel of oy matches.
    let dyrow = u.dyBase + n * u.dyImg + min(oy / 2u, u.PH - 1u) * u.PW;
    let idxrow = u.idxBase + n * u.dyImg + min(oy / 2u, u.PH - 1u) * u.PW;
    let pixrow = oy * u.Wo;
#else
    let dyrow = u.dyBase + n * u.dyImg + oy * u.Wo;
#endif
    for (var ox0 = 0u; ox0 < u.Wo; ox0 += PX) {
      let ix0 = i32(ox0 * SX) - u.padX;
{{DW_TAPS}}
    }
  }
#endif
  return acc;
}

fn store(at: u32, m: u32, z: u32, acc: array<f32, KW * RL>) {
#if DB_LANE
  if (at >= u.C * u.khp) {
    PB[(u.segBase + z) * u.dbStride + m] = acc[0];
    return;
  }
#endif
  let c = at / u.khp;
  let i = (at % u.khp) * RL;
  // With DW_PAIRS and kh odd, the last lane's second row is past the kernel: not stored.
  for (var rr = 0u; rr < RL && i + rr < u.kh; rr++) {
    let base = (u.segBase + z) * u.dwSize + ((m * u.C + c) * u.kh + i + rr) * KW;
    for (var j = 0u; j < KW; j++) { P[base + j] = acc[rr * KW + j]; }
  }
}
#endif

#if GEMM
// CONV and DW: a lane per pixel block (CONV) or per (c, kernel row) (DW), OB output channels per
// workgroup row. No lane returns before the K loop (subgroup operations need every lane): lanes
// past the end redo the last lane's work, and only the stores are skipped.
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;

const KW = {{KW}}u;
const SX = {{SX}}u;
const PX = {{PX}}u;
const OB = {{OB}}u;
override WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>
#if SUBGROUPS
  , @builtin(subgroup_invocation_id) sl: u32
#endif
) {
#if !SUBGROUPS
  let sl = 0u;
#endif
  let lane = wid.x * WG + lid.x;
  let at = min(lane, u.lanes - 1u);
  let m0 = wid.y * OB;
  let acc = accumulate(at, m0, wid.z, sl);
  if (lane >= u.lanes) { return; }
  for (var o = 0u; o < min(OB, u.M - m0); o++) { store(at, m0 + o, wid.z, acc[o]); }
}
#endif

#if DW_SUM
// out[e] (+)= sum over s of P[s * size + e], s in order (+ where accumulate is set). With
// DB_LANE, threads past size do the same for the bias: outB[o] (+)= sum over s of PB[s * bSize + o].
struct U {
  size: u32,
  segs: u32,
  accumulate: u32,
  bSize: u32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> Out: array<f32>;
#if DB_LANE
@group(0) @binding(3) var<storage, read> PB: array<f32>;
@group(0) @binding(4) var<storage, read_write> OutB: array<f32>;
#endif

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 256u;
#if DB_LANE
  if (e >= u.size && e < u.size + u.bSize) {
    let o = e - u.size;
    var b = 0.0;
    for (var k = 0u; k < u.segs; k++) { b += PB[k * u.bSize + o]; }
    if (u.accumulate != 0u) { b += OutB[o]; }
    OutB[o] = b;
    return;
  }
#endif
  if (e >= u.size) { return; }
  var s = 0.0;
  for (var k = 0u; k < u.segs; k++) { s += P[k * u.size + e]; }
  if (u.accumulate != 0u) { s += Out[e]; }
  Out[e] = s;
}
#endif

#if DB
// db[o] (+)= sum over the chunk's images and pixels of dy[n, o, :, :]: one workgroup per
// channel, a strided sum per lane, then a fixed-shape tree (deterministic).
struct U {
  O: u32,
  plane: u32,
  images: u32,
  img: u32,
  base: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> DY: array<f32>;
@group(0) @binding(2) var<storage, read_write> DB: array<f32>;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = wid.x;
  var s = 0.0;
  for (var n = 0u; n < u.images; n++) {
    let base = u.base + n * u.img + o * u.plane;
    for (var p = lid.x; p < u.plane; p += 64u) { s += DY[base + p]; }
  }
  part[lid.x] = s;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h >>= 1u) {
    if (lid.x < h) { part[lid.x] += part[lid.x + h]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    DB[o] = select(0.0, DB[o], u.accumulate != 0u) + part[0];
  }
}
#endif
