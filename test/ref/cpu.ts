// Plain float64 references for every op, for tests only. Arrays are row-major with a shape.

export interface Arr {
  data: Float64Array;
  shape: number[];
}

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function arr(data: ArrayLike<number>, shape: number[]): Arr {
  if (data.length !== size(shape)) throw new Error(`ref: ${data.length} values for shape [${shape}]`);
  return { data: Float64Array.from(data), shape: [...shape] };
}

/** Deterministic pseudo-random float32-representable values in [lo, hi), never zero-filled. */
export function random(shape: number[], seed: number, lo = -1, hi = 1): Arr {
  let s = (seed * 2654435761) >>> 0 || 1;
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    data[i] = Math.fround(lo + ((s >>> 0) / 2 ** 32) * (hi - lo));
  }
  return { data, shape: [...shape] };
}

export function strides(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error('ref: no broadcast');
    return Math.max(da, db);
  });
}

function broadcastIndex(i: number, out: readonly number[], shape: readonly number[]): number {
  const st = strides(shape);
  const off = out.length - shape.length;
  let rem = i;
  let idx = 0;
  for (let d = out.length - 1; d >= 0; d--) {
    const c = rem % out[d]!;
    rem = Math.floor(rem / out[d]!);
    if (d >= off && shape[d - off] !== 1) idx += c * st[d - off]!;
  }
  return idx;
}

export function map(a: Arr, f: (x: number) => number): Arr {
  return { data: a.data.map(f), shape: [...a.shape] };
}

export function zip(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const shape = broadcastShape(a.shape, b.shape);
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    data[i] = f(a.data[broadcastIndex(i, shape, a.shape)]!, b.data[broadcastIndex(i, shape, b.shape)]!);
  }
  return { data, shape };
}

/** Sum over axes; kept axes stay in order. */
export function sum(a: Arr, axes: number[] = a.shape.map((_, i) => i), keepDims = false): Arr {
  const outShape = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float64Array(size(outShape));
  const st = strides(a.shape);
  const ost = strides(outShape);
  for (let i = 0; i < a.data.length; i++) {
    let o = 0;
    for (let d = 0; d < a.shape.length; d++) {
      const c = Math.floor(i / st[d]!) % a.shape[d]!;
      if (!axes.includes(d)) o += c * ost[d]!;
    }
    out[o]! += a.data[i]!;
  }
  return { data: out, shape: keepDims ? outShape : a.shape.filter((_, i) => !axes.includes(i)) };
}

/** Sums a broadcast result back to `shape` (the gradient of broadcasting). */
export function sumTo(a: Arr, shape: number[]): Arr {
  const off = a.shape.length - shape.length;
  const axes = a.shape.map((_, i) => i).filter((i) => i < off || (shape[i - off] === 1 && a.shape[i] !== 1));
  const s = sum(a, axes, true);
  return { data: s.data, shape: [...shape] };
}

/** op(A) op(B), batched when either is 3-D. */
export function matmul(a: Arr, b: Arr, transA = false, transB = false): Arr {
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const N = transB ? br : bc;
  const batchA = a.shape.length === 3 ? a.shape[0]! : 1;
  const batchB = b.shape.length === 3 ? b.shape[0]! : 1;
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * M * N);
  for (let t = 0; t < batch; t++) {
    const oa = batchA === 1 ? 0 : t * M * K;
    const ob = batchB === 1 ? 0 : t * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = a.data[oa + (transA ? k * M + m : m * K + k)]!;
          const bv = b.data[ob + (transB ? n * K + k : k * N + n)]!;
          acc += av * bv;
        }
        out[t * M * N + m * N + n] = acc;
      }
    }
  }
  return { data: out, shape: a.shape.length === 3 || b.shape.length === 3 ? [batch, M, N] : [M, N] };
}

/** Central finite differences of a scalar function of one array, at the given element indices. */
export function finiteDiff(f: (x: Arr) => number, x: Arr, indices: number[], h = 1e-6): Map<number, number> {
  const out = new Map<number, number>();
  for (const i of indices) {
    const orig = x.data[i]!;
    x.data[i] = orig + h;
    const up = f(x);
    x.data[i] = orig - h;
    const down = f(x);
    x.data[i] = orig;
    out.set(i, (up - down) / (2 * h));
  }
  return out;
}

/** Dot product of two equal-size arrays: the scalar loss sum(out * R) used for gradient checks. */
export function dot(a: Arr, b: Arr): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i]! * b.data[i]!;
  return s;
}

/** Max |got - want| / (atol + rtol |want|); <= 1 passes. */
export function closeness(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number): { worst: number; at: number } {
  if (got.length !== want.length) throw new Error(`closeness: lengths ${got.length} vs ${want.length}`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const r = Number.isFinite(g) ? Math.abs(g - w) / (atol + rtol * Math.abs(w)) : Infinity;
    if (r > worst || Number.isNaN(r)) {
      worst = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  return { worst, at };
}

/** Evenly spread sample of n indices in [0, total), always including the ends. */
export function sampleIndices(total: number, n: number): number[] {
  if (total <= n) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: n }, (_, i) => Math.round((i * (total - 1)) / (n - 1)));
}
