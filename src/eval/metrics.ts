// The evaluation's numbers, as pure functions of arrays: correlation and similarity, the paper's
// same/different test (section 4.2), and the disentanglement metrics MIG, DCI and SAP after
// disentanglement_lib, adapted to this renderer's continuous factors: MIG bins the factors as
// well as the latents, SAP takes disentanglement_lib's continuous-factor branch, and DCI's
// importances come from gradient boosted regression trees rather than its classifiers (each
// function below says how). CPU only and browser-safe: no engine, no node:* imports.
//
// Layout: a code or a set of factors is a list of columns, columns[j][i] = variable j of sample i
// (disentanglement_lib's [num_codes, num_points]).
import { fitGbt, GBT_DEFAULTS, type GbtOptions } from './gbt.js';

export type Columns = readonly ArrayLike<number>[];

export function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return x.length ? s / x.length : NaN;
}

/** Pearson correlation; 0 when either side is constant (no linear relation can be read off). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`pearson: lengths differ (${x.length} vs ${y.length})`);
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i]! - mx;
    const b = y[i]! - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (!(sxx > 0) || !(syy > 0)) return 0;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Cosine similarity; 0 when either vector is zero. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`cosine: lengths differ (${a.length} vs ${b.length})`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Rescales a vector to mean 0 and standard deviation 1 (population sd); a constant vector becomes zeros. */
export function standardise(x: ArrayLike<number>): Float64Array {
  const m = mean(x);
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i]! - m) ** 2;
  const sd = Math.sqrt(ss / x.length);
  const out = new Float64Array(x.length);
  if (sd > 0) for (let i = 0; i < x.length; i++) out[i] = (x[i]! - m) / sd;
  return out;
}

/** The latent whose Pearson correlation with the factor is largest in magnitude. */
export function bestPredictor(latents: Columns, factor: ArrayLike<number>): { latent: number; r: number; rs: number[] } {
  const rs = latents.map((z) => pearson(z, factor));
  let best = 0;
  rs.forEach((r, j) => {
    if (Math.abs(r) > Math.abs(rs[best]!)) best = j;
  });
  return { latent: best, r: rs[best] ?? 0, rs };
}

/** Coefficient of determination of predictions; 1 is perfect, 0 is no better than the mean. */
export function r2(y: ArrayLike<number>, pred: ArrayLike<number>): number {
  const m = mean(y);
  let res = 0;
  let tot = 0;
  for (let i = 0; i < y.length; i++) {
    res += (y[i]! - pred[i]!) ** 2;
    tot += (y[i]! - m) ** 2;
  }
  return tot > 0 ? 1 - res / tot : 0;
}

// ---------------------------------------------------------------- same / different (section 4.2)

export interface SameDifferentResult {
  /** Fraction of pairs classified correctly at the best threshold. */
  accuracy: number;
  /** Pairs with correlation >= threshold are called "same". */
  threshold: number;
  pairs: number;
  /** Pearson correlation of each pair, in input order. */
  correlations: number[];
}

/**
 * Yildirim et al.'s procedure as the paper follows it: each representation standardised on its
 * own (mean 0, sd 1 over its dimensions), the Pearson correlation of each pair, and the threshold
 * in [-1, 1] that maximises accuracy (correlation >= threshold means "same").
 */
export function sameDifferent(pairs: readonly { a: ArrayLike<number>; b: ArrayLike<number>; same: boolean }[]): SameDifferentResult {
  if (!pairs.length) throw new Error('sameDifferent: no pairs');
  const correlations = pairs.map(({ a, b }) => {
    if (a.length !== b.length) throw new Error(`sameDifferent: representations differ in length (${a.length} vs ${b.length})`);
    const sa = standardise(a);
    const sb = standardise(b);
    let s = 0;
    for (let i = 0; i < sa.length; i++) s += sa[i]! * sb[i]!;
    return sa.length ? Math.max(-1, Math.min(1, s / sa.length)) : 0;
  });
  return bestThreshold(correlations, pairs.map((p) => p.same));
}

/** The threshold on scores (score >= t means positive) with the highest accuracy; the lowest such t on ties. */
export function bestThreshold(scores: readonly number[], positive: readonly boolean[]): SameDifferentResult {
  const n = scores.length;
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const positives = positive.filter(Boolean).length;
  // t above every score: all called negative.
  let correct = n - positives;
  let bestCorrect = correct;
  let best = scores.length ? Math.min(1, scores[idx[n - 1]!]! + 1e-9) : 1;
  // Lowering t past a group of equal scores calls that group positive.
  for (let k = n - 1; k >= 0; ) {
    const v = scores[idx[k]!]!;
    let j = k;
    while (j >= 0 && scores[idx[j]!] === v) {
      correct += positive[idx[j]!] ? 1 : -1;
      j--;
    }
    if (correct >= bestCorrect) {
      bestCorrect = correct;
      best = v;
    }
    k = j;
  }
  return { accuracy: bestCorrect / n, threshold: best, pairs: n, correlations: [...scores] };
}

// ---------------------------------------------------------------- discretisation and information

export const MIG_BINS = 20;

/** Equal-width bins between the minimum and the maximum (np.histogram's edges, then np.digitize); bins 0..bins-1. */
export function discretise(x: ArrayLike<number>, bins = MIG_BINS): Int32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    lo = Math.min(lo, x[i]!);
    hi = Math.max(hi, x[i]!);
  }
  const out = new Int32Array(x.length);
  if (!(hi > lo)) return out;
  const w = (hi - lo) / bins;
  for (let i = 0; i < x.length; i++) out[i] = Math.min(bins - 1, Math.floor((x[i]! - lo) / w));
  return out;
}

/** Mutual information (nats) between two discrete variables from their joint histogram. */
export function mutualInformation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (b.length !== n) throw new Error(`mutualInformation: lengths differ (${n} vs ${b.length})`);
  if (!n) return 0;
  const joint = new Map<number, number>();
  const pa = new Map<number, number>();
  const pb = new Map<number, number>();
  const KEY = 1 << 20;
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    joint.set(x * KEY + y, (joint.get(x * KEY + y) ?? 0) + 1);
    pa.set(x, (pa.get(x) ?? 0) + 1);
    pb.set(y, (pb.get(y) ?? 0) + 1);
  }
  let mi = 0;
  for (const [k, c] of joint) {
    const x = Math.floor(k / KEY);
    const y = k - x * KEY;
    mi += (c / n) * Math.log((c * n) / (pa.get(x)! * pb.get(y)!));
  }
  return Math.max(0, mi);
}

export function entropy(a: ArrayLike<number>): number {
  return mutualInformation(a, a);
}

// ---------------------------------------------------------------- MIG (Chen et al. 2018)

export interface MigResult {
  /** Mean over factors of (largest - second largest MI with a latent) / H(factor). */
  score: number;
  perFactor: number[];
  /** MI in nats, mi[latent][factor]. */
  mi: number[][];
  entropy: number[];
  /** The latent with the largest MI for each factor. */
  topLatent: number[];
  bins: number;
}

/**
 * Mutual information gap. As disentanglement_lib: each latent discretised into `bins` equal-width
 * bins; the factors here are continuous, so they are discretised the same way (disentanglement_lib's
 * factors are discrete already). Factors with zero entropy are skipped.
 */
export function mig(latents: Columns, factors: Columns, bins = MIG_BINS): MigResult {
  checkSamples('mig', latents, factors);
  const dz = latents.map((z) => discretise(z, bins));
  const dv = factors.map((v) => discretise(v, bins));
  const mi = dz.map((z) => dv.map((v) => mutualInformation(z, v)));
  const ent = dv.map((v) => entropy(v));
  const perFactor: number[] = [];
  const topLatent: number[] = [];
  dv.forEach((_, k) => {
    const col = mi.map((row) => row[k]!);
    const order = col.map((_, j) => j).sort((a, b) => col[b]! - col[a]!);
    topLatent.push(order[0]!);
    if (ent[k]! > 0) perFactor.push(((col[order[0]!] ?? 0) - (col[order[1]!] ?? 0)) / ent[k]!);
    else perFactor.push(NaN);
  });
  const valid = perFactor.filter(Number.isFinite);
  return { score: valid.length ? mean(valid) : NaN, perFactor, mi, entropy: ent, topLatent, bins };
}

function checkSamples(op: string, ...sets: Columns[]): void {
  const n = sets[0]?.[0]?.length ?? 0;
  for (const s of sets) {
    if (!s.length) throw new Error(`${op}: no columns`);
    for (const c of s) if (c.length !== n) throw new Error(`${op}: every column needs the same number of samples (${c.length} vs ${n})`);
  }
  if (n < 2) throw new Error(`${op}: need at least 2 samples, got ${n}`);
}

// ---------------------------------------------------------------- DCI (Eastwood & Williams 2018)

export interface DciResult {
  /** Mean over latents of 1 - H_K(P_i.), weighted by each latent's share of the total importance. */
  disentanglement: number;
  /** Mean over factors of 1 - H_D(P_.k), weighted by each factor's share of the total importance. */
  completeness: number;
  /** Mean R^2 of the regressors on the training samples and on held-out samples. */
  informativenessTrain: number;
  informativenessTest: number;
  perLatent: number[];
  perFactor: number[];
  r2Test: number[];
  /** importance[latent][factor]; each factor's column sums to 1 (or 0 when nothing was learnt). */
  importance: number[][];
  regressor: string;
}

// Entropy with the given base of a non-negative vector taken as a distribution (scipy.stats.entropy, with
// disentanglement_lib's 1e-11 added so that all-zero rows are defined).
function entropyBase(p: readonly number[], base: number): number {
  const q = p.map((v) => v + 1e-11);
  const s = q.reduce((a, b) => a + b, 0);
  let h = 0;
  for (const v of q) if (v > 0) h -= (v / s) * Math.log(v / s);
  return base > 1 ? h / Math.log(base) : 0;
}

/** DCI disentanglement and completeness of an importance matrix R[latent][factor]. */
export function dciScores(importance: readonly (readonly number[])[]): { disentanglement: number; completeness: number; perLatent: number[]; perFactor: number[] } {
  const D = importance.length;
  const K = importance[0]?.length ?? 0;
  let total = 0;
  for (const row of importance) for (const v of row) total += v;
  const weights = (sums: number[]) => (total > 0 ? sums.map((s) => s / total) : sums.map(() => 1 / sums.length));
  const perLatent = importance.map((row) => 1 - entropyBase(row as number[], K));
  const latentW = weights(importance.map((row) => row.reduce((a, b) => a + b, 0)));
  const cols = Array.from({ length: K }, (_, k) => importance.map((row) => row[k]!));
  const perFactor = cols.map((c) => 1 - entropyBase(c, D));
  const factorW = weights(cols.map((c) => c.reduce((a, b) => a + b, 0)));
  return {
    disentanglement: perLatent.reduce((a, v, i) => a + v * latentW[i]!, 0),
    completeness: perFactor.reduce((a, v, i) => a + v * factorW[i]!, 0),
    perLatent,
    perFactor,
  };
}

/**
 * DCI with gradient boosted regression trees for the importance matrix (see gbt.ts for how it
 * relates to disentanglement_lib's classifier); informativeness is the regressors' R^2.
 */
export function dci(train: { latents: Columns; factors: Columns }, test: { latents: Columns; factors: Columns }, gbt: GbtOptions = {}): DciResult {
  checkSamples('dci', train.latents, train.factors);
  checkSamples('dci', test.latents, test.factors);
  if (train.latents.length !== test.latents.length || train.factors.length !== test.factors.length) {
    throw new Error('dci: training and test sets have different numbers of latents or factors');
  }
  const D = train.latents.length;
  const importance = Array.from({ length: D }, () => new Array<number>(train.factors.length).fill(0));
  const r2Train: number[] = [];
  const r2Test: number[] = [];
  train.factors.forEach((y, k) => {
    const model = fitGbt(train.latents, y, gbt);
    model.importances.forEach((v, j) => (importance[j]![k] = Math.abs(v)));
    r2Train.push(r2(y, model.predict(train.latents)));
    r2Test.push(r2(test.factors[k]!, model.predict(test.latents)));
  });
  const s = dciScores(importance);
  const o = { ...GBT_DEFAULTS, ...gbt };
  return {
    ...s,
    informativenessTrain: mean(r2Train),
    informativenessTest: mean(r2Test),
    r2Test,
    importance,
    regressor: `gradient boosted regression trees (${o.trees} trees, depth ${o.depth}, learning rate ${o.learningRate}, squared loss)`,
  };
}

// ---------------------------------------------------------------- SAP (Kumar et al. 2018)

export interface SapResult {
  /** Mean over factors of the gap between the two highest scores. */
  score: number;
  perFactor: number[];
  /** score[latent][factor]: R^2 of a linear fit of the factor on that latent alone. */
  matrix: number[][];
}

/** SAP for continuous factors, as disentanglement_lib: score = cov(z, v)^2 / (var z var v), 0 for a constant latent. */
export function sap(latents: Columns, factors: Columns): SapResult {
  checkSamples('sap', latents, factors);
  const matrix = latents.map((z) => {
    const mz = mean(z);
    let vz = 0;
    for (let i = 0; i < z.length; i++) vz += (z[i]! - mz) ** 2;
    return factors.map((v) => (vz / z.length > 1e-12 ? pearson(z, v) ** 2 : 0));
  });
  const perFactor = factors.map((_, k) => {
    const col = matrix.map((row) => row[k]!).sort((a, b) => b - a);
    return (col[0] ?? 0) - (col[1] ?? 0);
  });
  return { score: mean(perFactor), perFactor, matrix };
}

/** How many of n reconstructions are nearer (squared distance) to their own input than to any other. */
export function ownNearest(recon: Float32Array, inputs: Float32Array, n: number, px: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let p = 0; p < px; p++) d += (recon[i * px + p]! - inputs[j * px + p]!) ** 2;
      if (d < bestD) [best, bestD] = [j, d];
    }
    if (best === i) hits++;
  }
  return hits;
}

/**
 * Sum of squared deviations from the batch mean over latents [from, to) of n codes [n, L], and
 * how many terms it has: sqrt(sum / terms) is the codes' rms spread within the batch.
 */
export function batchSpread(codes: Float32Array, n: number, L: number, from: number, to: number): { sum: number; terms: number } {
  let sum = 0;
  for (let j = from; j < to; j++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += codes[i * L + j]!;
    m /= n;
    for (let i = 0; i < n; i++) sum += (codes[i * L + j]! - m) ** 2;
  }
  return { sum, terms: n * Math.max(0, to - from) };
}
