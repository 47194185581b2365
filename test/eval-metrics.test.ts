// The evaluation's pure metrics on constructed codes whose answers are known. CPU only.
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/data/rng.js';
import { fitGbt } from '../src/eval/gbt.js';
import {
  batchSpread, bestPredictor, bestThreshold, cosine, dci, dciScores, discretise, entropy, mig, mutualInformation, ownNearest, pearson, r2,
  sameDifferent, sap, standardise,
} from '../src/eval/metrics.js';

const N = 1500;
const rng = Rng.fromSeed(11, 1);
// Five factors like the renderer's: three uniform angles and two Gaussian identity coefficients.
const factors = [
  Array.from({ length: N }, () => rng.range(-1.5, 1.5)),
  Array.from({ length: N }, () => rng.range(-0.6, 0.6)),
  Array.from({ length: N }, () => rng.range(-1.5, 1.5)),
  Array.from({ length: N }, () => rng.normal()),
  Array.from({ length: N }, () => rng.normal()),
];
// A perfectly disentangled code: each factor in its own latent (permuted, rescaled, one through a
// monotone non-linearity), plus two latents that carry nothing (posterior collapse).
const perfect = [
  factors[2]!.map((v) => -2 * v + 1),
  factors[0]!.map((v) => Math.tanh(v)),
  Array.from({ length: N }, () => 0),
  factors[4]!.map((v) => 0.5 * v),
  factors[1]!.map((v) => v * 3),
  Array.from({ length: N }, () => 0.01 * rng.normal()),
  factors[3]!.slice(),
];
// A random code: as many latents, independent of every factor.
const random = perfect.map(() => Array.from({ length: N }, () => rng.normal()));
// An entangled code: every latent a random mixture of all factors.
const mixing = perfect.map(() => factors.map(() => rng.normal()));
const entangled = mixing.map((w) => Array.from({ length: N }, (_, i) => factors.reduce((s, f, k) => s + w[k]! * f[i]!, 0)));

const split = (cols: number[][], from: number, to: number) => cols.map((c) => c.slice(from, to));
const train = (latents: number[][]) => ({ latents: split(latents, 0, 1000), factors: split(factors, 0, 1000) });
const test = (latents: number[][]) => ({ latents: split(latents, 1000, N), factors: split(factors, 1000, N) });

describe('correlation and similarity', () => {
  it('Pearson r of a latent equal to the factor is 1 (to 1e-12), of a negated one -1, of a constant 0', () => {
    expect(pearson(factors[0]!, factors[0]!)).toBeCloseTo(1, 12);
    expect(pearson(factors[0]!.map((v) => 3 - 2 * v), factors[0]!)).toBeCloseTo(-1, 12);
    expect(pearson(new Array(N).fill(2), factors[0]!)).toBe(0);
    expect(Math.abs(pearson(random[0]!, factors[0]!))).toBeLessThan(0.1);
  });

  it('bestPredictor picks the latent that carries the factor', () => {
    expect(bestPredictor(perfect, factors[0]!).latent).toBe(1);
    expect(bestPredictor(perfect, factors[2]!)).toMatchObject({ latent: 0 });
    expect(bestPredictor(perfect, factors[2]!).r).toBeCloseTo(-1, 12);
  });

  it('cosine, standardise and R^2 on known cases', () => {
    expect(cosine([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosine([1, 0], [0, 5])).toBe(0);
    expect(cosine([0, 0], [1, 1])).toBe(0);
    const s = standardise([1, 2, 3, 4]);
    expect(s.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
    expect(s.reduce((a, b) => a + b * b, 0) / 4).toBeCloseTo(1, 12);
    expect(r2([1, 2, 3], [1, 2, 3])).toBe(1);
    expect(r2([1, 2, 3], [2, 2, 2])).toBeCloseTo(0, 12);
  });
});

describe('same/different (section 4.2)', () => {
  const ids = Array.from({ length: 60 }, () => Array.from({ length: 34 }, () => rng.normal()));
  const pairs = Array.from({ length: 200 }, (_, i) => {
    const same = i % 2 === 0;
    const a = ids[i % 60]!;
    const b = same ? a : ids[(i * 7 + 1) % 60 === i % 60 ? (i + 1) % 60 : (i * 7 + 1) % 60]!;
    return { a, b, same };
  });

  it('a representation that is exactly the identity scores 100%', () => {
    const r = sameDifferent(pairs);
    expect(r.accuracy).toBe(1);
    expect(r.pairs).toBe(200);
    expect(r.threshold).toBeGreaterThan(Math.max(...r.correlations.filter((_, i) => !pairs[i]!.same)));
    expect(r.threshold).toBeLessThanOrEqual(1);
  });

  it('is invariant to each representation\'s own offset and scale (the per-image standardisation)', () => {
    const scaled = pairs.map((p) => ({ ...p, b: p.b.map((v) => 5 * v - 3) }));
    expect(sameDifferent(scaled).accuracy).toBe(1);
  });

  it('a representation unrelated to identity scores near chance (at most 62% on 200 pairs)', () => {
    const noise = pairs.map((p) => ({ ...p, a: p.a.map(() => rng.normal()), b: p.b.map(() => rng.normal()) }));
    const r = sameDifferent(noise);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.5);
    expect(r.accuracy).toBeLessThan(0.62);
  });

  it('bestThreshold finds the accuracy-maximising cut and handles ties', () => {
    expect(bestThreshold([0.1, 0.4, 0.35, 0.8], [false, true, false, true])).toMatchObject({ accuracy: 1, threshold: 0.4 });
    expect(bestThreshold([0.5, 0.5, 0.5], [true, false, true]).accuracy).toBeCloseTo(2 / 3, 12);
    expect(bestThreshold([0.9, 0.1], [false, true]).accuracy).toBe(0.5);
  });
});

describe('discretisation and mutual information', () => {
  it('bins like np.histogram + np.digitize: 20 equal-width bins, the maximum in the last', () => {
    const d = discretise([0, 0.5, 1, 0.999, 0.05], 20);
    expect(Array.from(d)).toEqual([0, 10, 19, 19, 1]);
    expect(Array.from(discretise([3, 3, 3]))).toEqual([0, 0, 0]);
  });

  it('MI of a variable with itself is its entropy; of independent variables about 0', () => {
    const a = Array.from({ length: 4000 }, (_, i) => i % 4);
    expect(entropy(a)).toBeCloseTo(Math.log(4), 12);
    expect(mutualInformation(a, a.map((v) => 3 - v))).toBeCloseTo(Math.log(4), 12);
    const b = Array.from({ length: 4000 }, (_, i) => Math.floor(i / 4) % 4);
    expect(mutualInformation(a, b)).toBeLessThan(1e-12);
  });
});

describe('MIG', () => {
  it('a perfectly disentangled code scores near 1 (> 0.9), a random one near 0 (< 0.05)', () => {
    const p = mig(perfect, factors);
    expect(p.score).toBeGreaterThan(0.9);
    expect(p.topLatent).toEqual([1, 4, 0, 6, 3]);
    expect(p.bins).toBe(20);
    expect(mig(random, factors).score).toBeLessThan(0.05);
    expect(mig(entangled, factors).score).toBeLessThan(0.5);
  });
});

describe('DCI', () => {
  it('scores an importance matrix as Eastwood and Williams: one factor per latent is 1, uniform is 0', () => {
    const eye = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    expect(dciScores(eye).disentanglement).toBeCloseTo(1, 6);
    expect(dciScores(eye).completeness).toBeCloseTo(1, 6);
    const flat = [[1, 1, 1], [1, 1, 1], [1, 1, 1]];
    expect(dciScores(flat).disentanglement).toBeCloseTo(0, 6);
    expect(dciScores(flat).completeness).toBeCloseTo(0, 6);
    // One latent for all factors: complete (each factor in one latent) but not disentangled.
    const one = [[1, 1, 1], [0, 0, 0], [0, 0, 0]];
    expect(dciScores(one).disentanglement).toBeCloseTo(0, 6);
    expect(dciScores(one).completeness).toBeCloseTo(1, 6);
  });

  it('a perfectly disentangled code scores disentanglement, completeness and informativeness near 1 (> 0.9)', () => {
    const r = dci(train(perfect), test(perfect));
    expect(r.disentanglement).toBeGreaterThan(0.9);
    expect(r.completeness).toBeGreaterThan(0.9);
    expect(r.informativenessTest).toBeGreaterThan(0.9);
    expect(r.importance[1]![0]).toBeGreaterThan(0.9);
  });

  it('a random code scores disentanglement near 0 (< 0.2) and no informativeness (test R^2 < 0.05)', () => {
    const r = dci(train(random), test(random));
    expect(r.disentanglement).toBeLessThan(0.2);
    expect(r.informativenessTest).toBeLessThan(0.05);
  });

  it('an entangled but informative code is informative and much less disentangled than the perfect one', () => {
    // Trees split on one latent at a time, so tree importances make mixtures look partly
    // disentangled (about 0.5 here); the bound says "clearly below the perfect code".
    const r = dci(train(entangled), test(entangled));
    expect(r.informativenessTest).toBeGreaterThan(0.5);
    expect(r.disentanglement).toBeLessThan(0.7);
  });
});

describe('SAP', () => {
  it('a perfectly disentangled code scores near 1 (> 0.9), a random one near 0 (< 0.02)', () => {
    expect(sap(perfect, factors).score).toBeGreaterThan(0.9);
    expect(sap(random, factors).score).toBeLessThan(0.02);
    expect(sap(entangled, factors).score).toBeLessThan(0.5);
  });
});

describe('gradient boosted trees', () => {
  it('fits a step function of one feature and gives that feature all the importance', () => {
    const x0 = Array.from({ length: 300 }, () => rng.uniform());
    const x1 = Array.from({ length: 300 }, () => rng.uniform());
    const y = x0.map((v) => (v > 0.5 ? 2 : -1));
    const m = fitGbt([x1, x0], y);
    expect(m.importances[1]).toBeGreaterThan(0.999);
    const pred = m.predict([[0.3, 0.9], [0.2, 0.8]]);
    expect(pred[0]).toBeCloseTo(-1, 3);
    expect(pred[1]).toBeCloseTo(2, 3);
  });

  it('is exact on a constant target and names bad input', () => {
    const m = fitGbt([[1, 2, 3]], [4, 4, 4]);
    expect(Array.from(m.predict([[5]]))).toEqual([4]);
    expect(Array.from(m.importances)).toEqual([0]);
    expect(() => fitGbt([[1, 2]], [1, 2, 3])).toThrow(/unequal length/);
  });
});

describe('ownNearest (faces told apart by their reconstructions)', () => {
  const n = 12;
  const px = 50;
  const r = Rng.fromSeed(5, 2);
  const inputs = Float32Array.from({ length: n * px }, () => r.range(0, 1));
  it('counts a reconstruction near its own input and not one nearer another face', () => {
    const recon = inputs.map((v) => v + r.range(-0.05, 0.05));
    expect(ownNearest(recon, inputs, n, px)).toBe(n);
    // Reconstructions 0..3 drawn towards face (i + 1): those four miss.
    for (let i = 0; i < 4; i++) for (let p = 0; p < px; p++) recon[i * px + p] = 0.2 * inputs[i * px + p]! + 0.8 * inputs[(i + 1) * px + p]!;
    expect(ownNearest(recon, inputs, n, px)).toBe(n - 4);
  });
  it('a blur that keeps only what the faces share (their mean) tells none apart beyond chance', () => {
    const meanImage = new Float32Array(px);
    for (let i = 0; i < n; i++) for (let p = 0; p < px; p++) meanImage[p]! += inputs[i * px + p]! / n;
    const recon = new Float32Array(n * px);
    for (let i = 0; i < n; i++) recon.set(meanImage, i * px);
    expect(ownNearest(recon, inputs, n, px)).toBeLessThanOrEqual(1);
  });
});

describe('batchSpread (identity code statistics)', () => {
  it('sums squared deviations from the batch mean over the chosen latents only, checked in float64', () => {
    const n = 7;
    const L = 5;
    const r = Rng.fromSeed(9, 4);
    const codes = Float32Array.from({ length: n * L }, () => r.range(-3, 3));
    let want = 0;
    for (let j = 2; j < 5; j++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += codes[i * L + j]!;
      m /= n;
      for (let i = 0; i < n; i++) want += (codes[i * L + j]! - m) ** 2;
    }
    const got = batchSpread(codes, n, L, 2, 5);
    expect(got.terms).toBe(n * 3);
    expect(got.sum).toBeCloseTo(want, 10);
    // Latents 0 and 1 are outside the range: changing them changes nothing.
    for (let i = 0; i < n; i++) codes[i * L] = 100 * i;
    expect(batchSpread(codes, n, L, 2, 5).sum).toBeCloseTo(want, 10);
    // A constant shift of every code leaves the spread as it was; identical codes have none.
    expect(batchSpread(codes.map((v) => v + 4), n, L, 2, 5).sum).toBeCloseTo(want, 3);
    expect(batchSpread(new Float32Array(n * L).fill(1.5), n, L, 0, L)).toEqual({ sum: 0, terms: n * L });
  });
});
