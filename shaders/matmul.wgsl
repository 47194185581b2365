// C[b] = activate(alpha * gate(op(A[b])) op(B[b]) (+ C[b] with ACCUMULATE) (+ BIAS[n] with BIAS)),
// op = transpose where TRANS_A / TRANS_B, activate from activation.wgsl (prepended). ROW_SUM also
// writes RS[m] = alpha * sum over k of op(A)[m, k] (batch 1): a linear layer's bias gradient
// comes out of the dispatch that makes its weight gradient, from the op(A) values it loads anyway.
// Register-blocked: each invocation owns a 4x8 block of C held in 8 vec4 accumulators and reads
// A and B straight from storage, with vec4 loads along whichever axis is contiguous and a
// multiple of 4 (A_VEC, B_VEC, C_VEC). No workgroup memory: on CPU adapters barriers cost more
// than the loads they save. Rows and columns past the edge read clamped (valid) addresses and
// are never stored, so the k loop has no bounds checks; a scalar loop takes the K % 4 tail.
//
// A_GATE passes op(A) through the derivative of the activation (activation.wgsl's ACT_ define)
// read from Y, laid out as A, as it loads it: a layer's gradient through its activation costs
// no pass of its own; the store then applies no activation.
//
// Layouts (row-major, batch outermost): A is [M,K] or, with TRANS_A, [K,M]; B is [K,N] or,
// with TRANS_B, [N,K]; C is [M,N]. Batch strides of 0 broadcast an operand over the batch.
//
// SPLIT (batch 1, no row sums): workgroup z takes K's slice [z * kChunk, (z + 1) * kChunk) and
// writes alpha times its partial product to slice z of C, [splits, M, N]; SPLIT_SUM then adds the
// slices in order and applies the epilogue (accumulate, bias, activation). A product with few
// outputs and a long K (a linear layer's dx, or an encoder head of one image) otherwise runs as a
// handful of lanes in one workgroup, one core of a CPU adapter and a sliver of a GPU.
//
// FEW_ROWS (op(A) of ROWS <= 4 rows, batch 1, no row sums or gate; scalar bindings): a lane per
// four columns of C and K slice (z, as SPLIT: with splits > 1 it writes slice z of the scratch
// and SPLIT_SUM the epilogue), its sums in a vec4 per row. The register blocks above keep theirs in
// arrays indexed by loop counters, which SwiftShader leaves in memory: an encoder head of one
// image (1 x 3600 by 3600 x 32) took 1.7 ms there, this about 0.3.

struct U {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, alpha: f32,
  kChunk: u32, splits: u32,
}

#if SPLIT_SUM
// C[e] = activate(sum over s of P[s * M * N + e] (+ C[e]) (+ BIAS[e % N])), s in order.
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
#if BIAS
@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
#endif

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let size = u.M * u.N;
  let e = gid.x;
  if (e >= size) { return; }
  var v = 0.0;
  for (var s = 0u; s < u.splits; s++) { v += P[s * size + e]; }
#if ACCUMULATE
  v += C[e];
#endif
#if BIAS
  v += BIAS[e % u.N];
#endif
  C[e] = activate(v);
}
#else

@group(0) @binding(0) var<uniform> u: U;
#if A_VEC
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> A: array<f32>;
#endif
#if B_VEC
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> B: array<f32>;
#endif
#if C_VEC
@group(0) @binding(3) var<storage, read_write> C: array<vec4<f32>>;
#else
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
#endif
#if BIAS
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;
#endif
#if FEW_ROWS
override ROWS: u32 = 1u;
#endif
#if ROW_SUM
@group(0) @binding({{RS_BINDING}}) var<storage, read_write> RS: array<f32>;
#endif
#if A_GATE
@group(0) @binding({{Y_BINDING}}) var<storage, read> Y: array<f32>;
#endif

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

fn a1(i: u32) -> f32 {
#if A_VEC
  return A[i / 4u][i % 4u];
#else
  return A[i];
#endif
}

fn b1(i: u32) -> f32 {
#if B_VEC
  return B[i / 4u][i % 4u];
#else
  return B[i];
#endif
}

// A's element at flat index i, loaded as v, through the gate.
fn gate(v: f32, i: u32) -> f32 {
#if A_GATE
  return activateGrad(v, Y[i]);
#else
  return v;
#endif
}

fn store(v: f32) -> f32 {
#if A_GATE
  return v;
#else
  return activate(v);
#endif
}

// Element (m, k) of op(A) and (k, n) of op(B) as flat indices.
fn ia(base: u32, m: u32, k: u32) -> u32 {
#if TRANS_A
  return base + k * u.M + m;
#else
  return base + m * u.K + k;
#endif
}

fn ib(base: u32, k: u32, n: u32) -> u32 {
#if TRANS_B
  return base + n * u.K + k;
#else
  return base + k * u.N + n;
#endif
}

#if FEW_ROWS
// C's row m at column n, plus the epilogue, or the slice's partial sum with SPLIT.
fn storeOne(base: u32, m: u32, n: u32, sum: f32) {
  var v = sum * u.alpha;
#if ACCUMULATE
  v += C[base + m * u.N + n];
#endif
#if BIAS
  v += BIAS[n];
#endif
  C[base + m * u.N + n] = store(v);
}

// Row m at columns n0 .. n0 + 3, those inside C.
fn storeRow(base: u32, m: u32, n0: u32, s: vec4<f32>) {
  storeOne(base, m, n0, s.x);
  if (n0 + 1u < u.N) { storeOne(base, m, n0 + 1u, s.y); }
  if (n0 + 2u < u.N) { storeOne(base, m, n0 + 2u, s.z); }
  if (n0 + 3u < u.N) { storeOne(base, m, n0 + 3u, s.w); }
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let n0 = gid.x * 4u;
  if (n0 >= u.N) { return; }
  // Columns past N read the last one; their sums are never stored.
  let c1 = min(n0 + 1u, u.N - 1u);
  let c2 = min(n0 + 2u, u.N - 1u);
  let c3 = min(n0 + 3u, u.N - 1u);
  let kFrom = wid.z * u.kChunk;
  let kTo = min(u.K, kFrom + u.kChunk);
#if SPLIT
  let base = wid.z * u.M * u.N;
#else
  let base = 0u;
#endif
  // Rows past ROWS are never read: ROWS is a pipeline constant, so their branches fold away.
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  for (var k = kFrom; k < kTo; k++) {
    let bk = vec4<f32>(B[ib(0u, k, n0)], B[ib(0u, k, c1)], B[ib(0u, k, c2)], B[ib(0u, k, c3)]);
    s0 = fma(vec4<f32>(A[ia(0u, 0u, k)]), bk, s0);
    if (ROWS > 1u) { s1 = fma(vec4<f32>(A[ia(0u, 1u, k)]), bk, s1); }
    if (ROWS > 2u) { s2 = fma(vec4<f32>(A[ia(0u, 2u, k)]), bk, s2); }
    if (ROWS > 3u) { s3 = fma(vec4<f32>(A[ia(0u, 3u, k)]), bk, s3); }
  }
  storeRow(base, 0u, n0, s0);
  if (ROWS > 1u) { storeRow(base, 1u, n0, s1); }
  if (ROWS > 2u) { storeRow(base, 2u, n0, s2); }
  if (ROWS > 3u) { storeRow(base, 3u, n0, s3); }
}
#else
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n0 = (wid.x * WG_X + lid.x) * 8u;
  let m0 = (wid.y * WG_Y + lid.y) * 4u;
  if (n0 >= u.N || m0 >= u.M) { return; }
#if SPLIT
  // z is the K slice; C is the slices' scratch, one [M, N] slice each.
  let b = 0u;
  let kBegin = wid.z * u.kChunk;
  let kEnd = min(u.K, kBegin + u.kChunk);
  let baseC = wid.z * u.M * u.N;
#else
  let b = wid.z;
  let kBegin = 0u;
  let kEnd = u.K;
  let baseC = b * u.strideC;
#endif
  let baseA = b * u.strideA;
  let baseB = b * u.strideB;

  // Clamped rows and columns: out-of-range lanes compute garbage that is never stored.
  var rows: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) { rows[i] = min(m0 + i, u.M - 1u); }
  var cols: array<u32, 8>;
  for (var c = 0u; c < 8u; c++) { cols[c] = min(n0 + c, u.N - 1u); }

  var acc: array<array<vec4<f32>, 2>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i][0] = vec4<f32>(0.0); acc[i][1] = vec4<f32>(0.0); }
  // Row sums of op(A): every lane keeps them (four adds per k step), the first column's store them.
  var rs = vec4<f32>(0.0);

  var k = kBegin;
  for (; k + 4u <= kEnd; k += 4u) {
    // a[i] = op(A)[rows[i], k..k+3]
    var a: array<vec4<f32>, 4>;
#if TRANS_A
#if A_VEC
    let mq = min(m0, u.M - 4u);
    let c0 = A[ia(baseA, mq, k) / 4u];
    let c1 = A[ia(baseA, mq, k + 1u) / 4u];
    let c2 = A[ia(baseA, mq, k + 2u) / 4u];
    let c3 = A[ia(baseA, mq, k + 3u) / 4u];
    // mq < m0 only past the edge, where results are discarded anyway.
    for (var i = 0u; i < 4u; i++) { a[i] = vec4<f32>(c0[i], c1[i], c2[i], c3[i]); }
#else
    for (var i = 0u; i < 4u; i++) {
      a[i] = vec4<f32>(A[ia(baseA, rows[i], k)], A[ia(baseA, rows[i], k + 1u)],
                       A[ia(baseA, rows[i], k + 2u)], A[ia(baseA, rows[i], k + 3u)]);
    }
#endif
#else
#if A_VEC
    for (var i = 0u; i < 4u; i++) { a[i] = A[ia(baseA, rows[i], k) / 4u]; }
#else
    for (var i = 0u; i < 4u; i++) {
      let o = ia(baseA, rows[i], k);
      a[i] = vec4<f32>(A[o], A[o + 1u], A[o + 2u], A[o + 3u]);
    }
#endif
#endif

#if A_GATE
    for (var i = 0u; i < 4u; i++) {
      a[i] = vec4<f32>(gate(a[i][0], ia(baseA, rows[i], k)), gate(a[i][1], ia(baseA, rows[i], k + 1u)),
                       gate(a[i][2], ia(baseA, rows[i], k + 2u)), gate(a[i][3], ia(baseA, rows[i], k + 3u)));
    }
#endif

    // bv[j][h] = op(B)[k+j, n0+4h .. n0+4h+3]
    var bv: array<array<vec4<f32>, 2>, 4>;
#if TRANS_B
#if B_VEC
    var r: array<vec4<f32>, 8>;
    for (var c = 0u; c < 8u; c++) { r[c] = B[ib(baseB, k, cols[c]) / 4u]; }
    for (var j = 0u; j < 4u; j++) {
      bv[j][0] = vec4<f32>(r[0][j], r[1][j], r[2][j], r[3][j]);
      bv[j][1] = vec4<f32>(r[4][j], r[5][j], r[6][j], r[7][j]);
    }
#else
    for (var j = 0u; j < 4u; j++) {
      bv[j][0] = vec4<f32>(B[ib(baseB, k + j, cols[0])], B[ib(baseB, k + j, cols[1])],
                           B[ib(baseB, k + j, cols[2])], B[ib(baseB, k + j, cols[3])]);
      bv[j][1] = vec4<f32>(B[ib(baseB, k + j, cols[4])], B[ib(baseB, k + j, cols[5])],
                           B[ib(baseB, k + j, cols[6])], B[ib(baseB, k + j, cols[7])]);
    }
#endif
#else
#if B_VEC
    let nq0 = min(n0, u.N - 4u);
    let nq1 = min(n0 + 4u, u.N - 4u);
    for (var j = 0u; j < 4u; j++) {
      bv[j][0] = B[ib(baseB, k + j, nq0) / 4u];
      bv[j][1] = B[ib(baseB, k + j, nq1) / 4u];
    }
#else
    for (var j = 0u; j < 4u; j++) {
      bv[j][0] = vec4<f32>(B[ib(baseB, k + j, cols[0])], B[ib(baseB, k + j, cols[1])],
                           B[ib(baseB, k + j, cols[2])], B[ib(baseB, k + j, cols[3])]);
      bv[j][1] = vec4<f32>(B[ib(baseB, k + j, cols[4])], B[ib(baseB, k + j, cols[5])],
                           B[ib(baseB, k + j, cols[6])], B[ib(baseB, k + j, cols[7])]);
    }
#endif
#endif

    rs += vec4<f32>(dot(a[0], vec4<f32>(1.0)), dot(a[1], vec4<f32>(1.0)), dot(a[2], vec4<f32>(1.0)), dot(a[3], vec4<f32>(1.0)));
    for (var j = 0u; j < 4u; j++) {
      for (var i = 0u; i < 4u; i++) {
        acc[i][0] = fma(vec4<f32>(a[i][j]), bv[j][0], acc[i][0]);
        acc[i][1] = fma(vec4<f32>(a[i][j]), bv[j][1], acc[i][1]);
      }
    }
  }
  for (; k < kEnd; k++) {
    let b0 = vec4<f32>(b1(ib(baseB, k, cols[0])), b1(ib(baseB, k, cols[1])), b1(ib(baseB, k, cols[2])), b1(ib(baseB, k, cols[3])));
    let b4 = vec4<f32>(b1(ib(baseB, k, cols[4])), b1(ib(baseB, k, cols[5])), b1(ib(baseB, k, cols[6])), b1(ib(baseB, k, cols[7])));
    for (var i = 0u; i < 4u; i++) {
      let av = gate(a1(ia(baseA, rows[i], k)), ia(baseA, rows[i], k));
      rs[i] += av;
      acc[i][0] = fma(vec4<f32>(av), b0, acc[i][0]);
      acc[i][1] = fma(vec4<f32>(av), b4, acc[i][1]);
    }
  }

#if ROW_SUM
  if (n0 == 0u) {
    for (var i = 0u; i < 4u; i++) {
      if (m0 + i < u.M) { RS[m0 + i] = rs[i] * u.alpha; }
    }
  }
#endif

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + i;
    if (m >= u.M) { break; }
    let row = baseC + m * u.N;
    for (var h = 0u; h < 2u; h++) {
      let n = n0 + 4u * h;
      if (n >= u.N) { break; }
      var v = acc[i][h] * u.alpha;
#if C_VEC
#if ACCUMULATE
      v += C[(row + n) / 4u];
#endif
#if BIAS
      v += vec4<f32>(BIAS[n], BIAS[n + 1u], BIAS[n + 2u], BIAS[n + 3u]);
#endif
      C[(row + n) / 4u] = vec4<f32>(store(v.x), store(v.y), store(v.z), store(v.w));
#else
      for (var q = 0u; q < 4u; q++) {
        if (n + q < u.N) {
          var e = v[q];
#if ACCUMULATE
          e += C[row + n + q];
#endif
#if BIAS
          e += BIAS[n + q];
#endif
          C[row + n + q] = store(e);
        }
      }
#endif
    }
  }
}
#endif
#endif
