// The convolution's passes as a classic workgroup-tiled GEMM, for GPUs with fast workgroup memory
// (shaders/conv2d.wgsl's register-blocked kernels suit lavapipe, which has none to speak of).
// A workgroup owns a TM x TN tile of the output (M rows x NC columns), walks K in slices of TK:
// its lanes copy the slice's TK x TM operand A and TK x TN operand B into workgroup memory
// (B gathered im2col-style, zeros outside the input or past K), meet at a barrier, and each lane
// accumulates an RM x RN sub-tile from there. The lanes of a sub-tile row or column are TY or TX
// apart, so a warp's stores and workgroup-memory reads are consecutive.
//
// FWD: the forward and the input gradient, with conv2d.wgsl CONV's addressing: M output channels,
//   NC = images x GEMM output pixels, K = input channels x taps x kwTaps; tap (a, b) of channel
//   pair (m, c) is weight m*wM + c*wK + w0 + a*wRow + b*wCol; GEMM pixel (ty, tx) lands at
//   (oyBase + oyStep*ty, oxBase + oxStep*tx) of the output plane. The store adds the bias, applies
//   the activation (shaders/activation.wgsl, appended) and, with SHUFFLE, interleaves depth into
//   space as CONV does.
// DW: the weight gradient: M = O, NC = C x kh x kw, K = (image, output row, output column) of dy.
//   K is split into segments of whole output rows, one per workgroup z, each written to its own
//   partial slice (conv2d.wgsl's DW_SUM adds them in order: deterministic, no atomics). With
//   DB_LANE one more column of ones gives the bias gradient, stored to PB as conv2d.wgsl's DW does.

const TM = {{TM}}u;
const TN = {{TN}}u;
const TK = {{TK}}u;
const RM = {{RM}}u;
const RN = 4u;
const TY = TM / RM;
const TX = TN / RN;
const LANES = TX * TY;
// Each lane gathers the same B columns in every K slice: CPT columns LANES apart (wide tiles), or
// one column in rows RSTEP apart. So a column's decoding (image, pixel or tap) is done once, and
// a row's (channel and tap, or image and pixel) once per slice for all its columns: integer
// division costs GPUs tens of instructions, more than the 16 multiply-adds per loaded pair.
const CPT = max(1u, TN / LANES);
const RSTEP = max(1u, LANES / TN);
const RPT = TK / RSTEP;

var<workgroup> As: array<f32, TK * TM>; // [k][m]
var<workgroup> Bs: array<f32, TK * TN>; // [k][n]

#if FWD
const SHUFFLE = {{SHUFFLE}};

struct U {
  M: u32,
  NC: u32,       // images in this chunk x GEMM pixels
  K: u32,        // inC * taps * kwTaps
  taps: u32,
  kwTaps: u32,
  inH: u32,
  inW: u32,
  inImg: u32,
  inBase: u32,
  tilesX: u32,
  plane: u32,    // GEMM pixels per image
  sy: u32,
  sx: u32,
  padY: i32,
  padX: i32,
  wM: u32,
  wK: u32,
  w0: u32,
  wRow: i32,
  wCol: i32,
  outPlane: u32,
  outW: u32,
  outImg: u32,
  outBase: u32,
  oyBase: u32,
  oyStep: u32,
  oxBase: u32,
  oxStep: u32,
  hasBias: u32,  // else Bias is bound to any buffer and ignored
  shufO: u32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: array<f32>;
@group(0) @binding(3) var<storage, read> Bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

fn kRange(z: u32) -> vec2<u32> {
  return vec2<u32>(0u, u.K);
}

fn loadA(k: u32, m: u32) -> f32 {
  if (k >= u.K || m >= u.M) { return 0.0; }
  let taps = u.taps * u.kwTaps;
  let c = k / taps;
  let r = k % taps;
  let at = i32(u.w0) + i32(r / u.kwTaps) * u.wRow + i32(r % u.kwTaps) * u.wCol;
  return Wt[m * u.wM + c * u.wK + u32(at)];
}

// B column n: output pixel n of the chunk: its image's offset and tap (0, 0)'s input position.
struct Col { base: u32, y: i32, x: i32, ok: bool }
// B row k: input channel c, tap (a, b).
struct Row { base: u32, y: i32, x: i32, ok: bool }

fn colInfo(n: u32) -> Col {
  let pix = n % u.plane;
  let y = i32((pix / u.tilesX) * u.sy) - u.padY;
  let x = i32((pix % u.tilesX) * u.sx) - u.padX;
  return Col(u.inBase + (n / u.plane) * u.inImg, y, x, n < u.NC);
}

fn rowInfo(k: u32) -> Row {
  let taps = u.taps * u.kwTaps;
  let r = k % taps;
  return Row((k / taps) * u.inH * u.inW, i32(r / u.kwTaps), i32(r % u.kwTaps), k < u.K);
}

fn gather(r: Row, c: Col) -> f32 {
  let iy = c.y + r.y;
  let ix = c.x + r.x;
  if (!r.ok || !c.ok || iy < 0 || iy >= i32(u.inH) || ix < 0 || ix >= i32(u.inW)) { return 0.0; }
  return X[c.base + r.base + u32(iy) * u.inW + u32(ix)];
}

fn store(m: u32, n: u32, z: u32, v: f32) {
  let img = n / u.plane;
  let pix = n % u.plane;
  // SHUFFLE: stacked channel m = (py*2+px)*shufO + o goes to pixel (2ty+py, 2tx+px) of channel o.
  let p = m / u.shufO;
  let o = select(m, m % u.shufO, SHUFFLE);
  let chan = select(m * u.outPlane, o * u.outPlane + (p >> 1u) * u.outW + (p & 1u), SHUFFLE);
  let bias = select(0.0, Bias[o], u.hasBias != 0u);
  let oy = u.oyBase + (pix / u.tilesX) * u.oyStep;
  let ox = u.oxBase + (pix % u.tilesX) * u.oxStep;
  Y[u.outBase + img * u.outImg + chan + oy * u.outW + ox] = activate(v + bias);
}
#endif

#if DW
struct U {
  M: u32,        // O
  NC: u32,       // GEMM columns: C * kh * kw, and with DB_LANE the bias column
  wCols: u32,    // C * kh * kw: the stride between output channels of dw
  C: u32,
  H: u32,
  W: u32,
  xImg: u32,
  xBase: u32,
  Ho: u32,
  Wo: u32,
  dyImg: u32,
  dyBase: u32,
  s: u32,
  padY: i32,
  padX: i32,
  kh: u32,
  kw: u32,
  rows: u32,     // images in this chunk x Ho
  rowsPerSeg: u32,
  dwSize: u32,   // O * wCols: the stride between partial slices
  dbStride: u32,
  segBase: u32,  // the first partial slice this dispatch writes (earlier batch chunks wrote those before)
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> DY: array<f32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;
#if DB_LANE
@group(0) @binding(4) var<storage, read_write> PB: array<f32>;
#endif

fn kRange(z: u32) -> vec2<u32> {
  let r0 = z * u.rowsPerSeg;
  return vec2<u32>(r0, min(r0 + u.rowsPerSeg, u.rows)) * u.Wo;
}

fn loadA(k: u32, m: u32) -> f32 {
  if (m >= u.M) { return 0.0; }
  let plane = u.Ho * u.Wo;
  return DY[u.dyBase + (k / plane) * u.dyImg + m * plane + k % plane];
}

// B column n: input channel c, tap (i, j); the bias column reads ones.
struct Col { base: u32, y: i32, x: i32, ok: bool, ones: bool }
// B row k: image and output pixel (oy, ox) of dy, as the input position of tap (0, 0).
struct Row { base: u32, y: i32, x: i32, ok: bool }

fn colInfo(n: u32) -> Col {
  let taps = u.kh * u.kw;
  let r = n % taps;
  return Col((n / taps) * u.H * u.W, i32(r / u.kw), i32(r % u.kw), n < u.NC, n == u.wCols);
}

fn rowInfo(k: u32) -> Row {
  let plane = u.Ho * u.Wo;
  let pix = k % plane;
  let y = i32((pix / u.Wo) * u.s) - u.padY;
  let x = i32((pix % u.Wo) * u.s) - u.padX;
  return Row(u.xBase + (k / plane) * u.xImg, y, x, true);
}

fn gather(r: Row, c: Col) -> f32 {
  if (!c.ok) { return 0.0; }
  if (c.ones) { return 1.0; }
  let iy = r.y + c.y;
  let ix = r.x + c.x;
  if (iy < 0 || iy >= i32(u.H) || ix < 0 || ix >= i32(u.W)) { return 0.0; }
  return X[r.base + c.base + u32(iy) * u.W + u32(ix)];
}

fn store(m: u32, n: u32, z: u32, v: f32) {
#if DB_LANE
  if (n == u.wCols) {
    PB[(u.segBase + z) * u.dbStride + m] = v;
    return;
  }
#endif
  P[(u.segBase + z) * u.dwSize + m * u.wCols + n] = v;
}
#endif

// The last K slice of a range loads zeros past its end.
@compute @workgroup_size(LANES, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  let tm = t / TX;
  let tn = t % TX;
  let ks = kRange(wid.z);
  // This lane's B columns n0 + c0 + ci * LANES and rows r0 + ri * RSTEP of every slice.
  let c0 = t % TN;
  let r0 = t / TN;
  var cols: array<Col, CPT>;
  for (var ci = 0u; ci < CPT; ci++) { cols[ci] = colInfo(n0 + c0 + ci * LANES); }
  var acc: array<array<f32, RN>, RM>;
  for (var k0 = ks.x; k0 < ks.y; k0 += TK) {
    for (var e = t; e < TK * TM; e += LANES) {
      let k = k0 + e / TM;
      var v = 0.0;
      if (k < ks.y) { v = loadA(k, m0 + e % TM); }
      As[e] = v;
    }
    for (var ri = 0u; ri < RPT; ri++) {
      let kk = r0 + ri * RSTEP;
      let row = rowInfo(k0 + kk);
      let live = k0 + kk < ks.y;
      for (var ci = 0u; ci < CPT; ci++) {
        var v = 0.0;
        if (live) { v = gather(row, cols[ci]); }
        Bs[kk * TN + c0 + ci * LANES] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, RM>;
      var b: array<f32, RN>;
      for (var i = 0u; i < RM; i++) { a[i] = As[kk * TM + tm + i * TY]; }
      for (var j = 0u; j < RN; j++) { b[j] = Bs[kk * TN + tn + j * TX]; }
      for (var i = 0u; i < RM; i++) {
        for (var j = 0u; j < RN; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RM; i++) {
    let m = m0 + tm + i * TY;
    for (var j = 0u; j < RN; j++) {
      let n = n0 + tn + j * TX;
      if (m < u.M && n < u.NC) { store(m, n, wid.z, acc[i][j]); }
    }
  }
}
