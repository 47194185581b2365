// The GPU half of the evaluation: renders the designs of designs.ts, runs the encoders and
// decoders, reads back only codes and per-image scalars (images only for grids, the raw-pixel
// baseline and nothing else), and hands the arrays to metrics.ts. Browser-safe (no node:*).
// Every experiment runs all models on the same renders, so a baseline costs encoder time only.
import { CheckpointError } from '../model/safetensors.js';
import { noGrad } from '../autograd/tape.js';
import { mapBinary, mapUnary, square, sub } from '../kernels/elementwise.js';
import { mean as meanOp, sum } from '../kernels/reduce.js';
import { BCE_EPS } from '../kernels/losses.js';
import { Tensor, tidy } from '../tensor.js';
import type { Engine } from '../gpu/engine.js';
import type { Dcign } from '../model/dcign.js';
import {
  BATCH_TYPES, contactSheet, renderBatch, renderFaces, testSet, type BatchType, type FaceParams, type GrayImage,
} from '../data/index.js';
import {
  METRIC_FACTORS, SCENE_FACTORS, designRng, observationDesign, pairDesign, randomSamples, sweepDesigns, type SceneFactor,
} from './designs.js';
import { ABC_DEFAULTS, AbcChain, median, type AbcSettings } from './abc.js';
import {
  batchSpread, bestPredictor, cosine, dci, mean, mig, ownNearest, pearson, sameDifferent, sap,
  type DciResult, type MigResult, type SapResult,
} from './metrics.js';

export interface EvalSettings {
  seed: number;
  /** Held-out batches of each type for the reconstruction scores. */
  reconBatches: number;
  /** Faces re-rendered with swept latents, and sweep steps per latent. */
  traversalFaces: number;
  traversalSteps: number;
  /** Identity latents swept besides z1..z3 (those with the largest variance over the held-out set). */
  traversalIdentity: number;
  /** Faces swept in azimuth, elevation and light (the paper: 100). */
  faces: number;
  /** Same/different pairs (half same). */
  pairs: number;
  /** Random faces for MIG, DCI and SAP (DCI trains on the first two thirds). */
  samples: number;
  chains: number;
  iterations: number;
  abc: AbcSettings;
  /** Images per render/encode call. */
  chunk: number;
}

export function defaultSettings(software: boolean): EvalSettings {
  return software
    ? {
        seed: 0, reconBatches: 2, traversalFaces: 4, traversalSteps: 9, traversalIdentity: 3, faces: 20, pairs: 200,
        samples: 1500, chains: 4, iterations: 300, abc: ABC_DEFAULTS, chunk: 100,
      }
    : {
        seed: 0, reconBatches: 10, traversalFaces: 6, traversalSteps: 11, traversalIdentity: 3, faces: 100, pairs: 500,
        samples: 6000, chains: 8, iterations: 1500, abc: ABC_DEFAULTS, chunk: 200,
      };
}

export interface EvalModel {
  label: string;
  model: Dcign;
  checkpoint: string;
  preset: string;
  step: number;
  /** Training options recorded in the checkpoint, when there are any. */
  training?: Record<string, unknown>;
}

export type Progress = (stage: string, done: number, total: number) => void;

export interface ReconstructionResult {
  /** Mean over images of the summed BCE (the training loss per image) and of the per-pixel MSE. */
  perType: Record<string, { images: number; bce: number; mse: number }>;
  all: { images: number; bce: number; mse: number };
  /**
   * Whether a reconstruction shows *which* face it was: in each SHAPE batch (different faces in one
   * pose and light), the share of reconstructions whose nearest input (pixel squared distance)
   * is their own. Chance is 1 / batch size. A blur that keeps pose and light but loses the face
   * scores near chance however low its MSE.
   */
  identified: { images: number; rate: number };
  /**
   * The identity latents' posterior means (z4..): their rms spread within SHAPE batches (different
   * faces, one pose and light) and within AZ, EL and LIGHT batches (one face, one variable
   * swept), and their mean posterior sd. Identity reaches the decoder only if the spread between
   * faces stands out of both the sd (the noise training adds) and the spread within a face (what
   * the clamp hands the other images of a batch).
   */
  identityCode?: { betweenFaces: number; withinFace: Record<'az' | 'el' | 'light', number>; posteriorSd: number };
}

export interface TraversalResult {
  /** 1-based latent index, what it is meant to encode, and the values it was set to. */
  latents: { index: number; meaning: string; values: number[] }[];
  faces: number;
}

export interface TrackingResult {
  /** The latent the procedure assigns to the factor (1-based) and Pearson r of it with the factor. */
  latent: number;
  r: number;
  /** The latent that predicts the factor best (largest |r|), 1-based. */
  best: { latent: number; r: number };
  /** Sweep values and, per value, mean and sd over faces of the assigned latent. */
  values: number[];
  mean: number[];
  sd: number[];
  /** A subsample of (true value, latent) points for the plot. */
  points: [number, number][];
}

export interface InvarianceResult {
  values: number[];
  /** Mean and sd over faces of cos(z_identity(image), z_identity(image at value 0)). */
  mean: number[];
  sd: number[];
  /** The mean over all values but 0. */
  overall: number;
}

export interface RecognitionResult {
  pairs: number;
  identity: { accuracy: number; threshold: number };
  full: { accuracy: number; threshold: number };
  pixels: { accuracy: number; threshold: number };
}

export interface DisentanglementResult {
  samples: number;
  train: number;
  test: number;
  factors: string[];
  mig: MigResult;
  dci: DciResult;
  sap: SapResult;
}

export interface ChainSummary {
  /** Pixel MSE of the chain's current state after each iteration (index 0: the initial state). */
  mse: number[][];
  acceptance: number[];
  epsilon: number;
  initialMse: number;
  finalMse: number;
  /** Mean over chains of |inferred - true| of each angle at the end, radians. */
  angleError: Record<SceneFactor, number>;
}

export interface InferenceResult {
  chains: number;
  iterations: number;
  epsilonFactor: number;
  angleStep: Record<SceneFactor, number>;
  encoder: ChainSummary;
  pixels: ChainSummary;
}

export interface ModelResult {
  label: string;
  checkpoint: string;
  preset: string;
  step: number;
  latents: number;
  imageSize: number;
  training?: Record<string, unknown>;
  reconstruction: ReconstructionResult;
  traversal: TraversalResult;
  tracking: Record<SceneFactor, TrackingResult>;
  invariance: Record<SceneFactor, InvarianceResult>;
  recognition: RecognitionResult;
  disentanglement: DisentanglementResult;
  inference: InferenceResult;
  /** Wall time of the whole evaluation (every model together). */
  seconds: number;
}

export interface EvalOutput {
  results: ModelResult[];
  /** Grids per model: `recon`, `traverse-z1`, ...; and `inference-observations` shared. */
  images: Record<string, GrayImage>[];
  shared: Record<string, GrayImage>;
}

const MEANING = ['azimuth', 'elevation', 'light'];

/** Images in [0,1] as a tensor [N, 1, S, S], rendered in one call. */
function render(engine: Engine, params: readonly FaceParams[], size: number): Tensor {
  return renderFaces(params, { size }, engine);
}

/** Posterior means [N, latents] of each model for one tensor of images, read back. */
async function encodeAll(models: EvalModel[], images: Tensor): Promise<Float32Array[]> {
  const mus = models.map((m) => noGrad(() => tidy(() => m.model.encode(images).mu)));
  try {
    return await Promise.all(mus.map((t) => t.data()));
  } finally {
    mus.forEach((t) => t.dispose());
  }
}

/** Renders params in chunks and encodes them with every model; pixels only when asked for. */
async function encodeFaces(
  engine: Engine, models: EvalModel[], params: readonly FaceParams[], size: number, chunk: number,
  progress: (done: number) => void, withPixels = false,
): Promise<{ mu: Float32Array[]; pixels: Float32Array | null }> {
  const n = params.length;
  const mu = models.map((m) => new Float32Array(n * m.model.config.latents));
  const pixels = withPixels ? new Float32Array(n * size * size) : null;
  for (let first = 0; first < n; first += chunk) {
    const part = params.slice(first, first + chunk);
    const images = render(engine, part, size);
    try {
      const [codes, px] = await Promise.all([encodeAll(models, images), pixels ? images.data() : Promise.resolve(null)]);
      codes.forEach((c, k) => mu[k]!.set(c, first * models[k]!.model.config.latents));
      if (px) pixels!.set(px, first * size * size);
    } finally {
      images.dispose();
    }
    progress(Math.min(n, first + chunk));
  }
  return { mu, pixels };
}

const column = (mu: Float32Array, latents: number, j: number) => Float64Array.from({ length: mu.length / latents }, (_, i) => mu[i * latents + j]!);
const row = (a: Float32Array, width: number, i: number) => a.subarray(i * width, (i + 1) * width);

function meanSd(x: number[]): [number, number] {
  const m = mean(x);
  return [m, Math.sqrt(mean(x.map((v) => (v - m) ** 2)))];
}

// ------------------------------------------------------------------ 1. reconstruction

interface ReconOut {
  result: ReconstructionResult;
  grid: GrayImage;
  /** Posterior means over the whole held-out set, [N, latents]. */
  mu: Float32Array;
  /** The held-out random batch's first images and their codes (the traversal's test faces). */
  faces: Float32Array;
  faceMu: Float32Array;
}

const GRID_COLUMNS = 8;

const rms = (s: { sum: number; terms: number } | undefined) => (s?.terms ? Math.sqrt(s.sum / s.terms) : NaN);

async function reconstruction(engine: Engine, models: EvalModel[], s: EvalSettings, size: number, progress: Progress): Promise<ReconOut[]> {
  const specs = testSet(s.seed, { batchesPerType: s.reconBatches });
  const px = size * size;
  const acc = models.map(() => new Map<BatchType, { bce: number[]; mse: number[] }>());
  const identified = models.map(() => ({ images: 0, hits: 0 }));
  const spread = models.map(() => new Map<BatchType, { sum: number; terms: number }>());
  const sd = models.map(() => ({ sum: 0, terms: 0 }));
  const gridParts = models.map(() => [] as Float32Array[]);
  const mus = models.map(() => [] as Float32Array[]);
  const faces = { images: new Float32Array(0), mu: models.map(() => new Float32Array(0)) };
  const shown = new Set<BatchType>();
  for (let b = 0; b < specs.length; b++) {
    const spec = specs[b]!;
    const batch = renderBatch(spec, { size }, engine);
    const first = !shown.has(spec.type);
    shown.add(spec.type);
    try {
      const inputs = first || spec.type === 'shape' ? await batch.images.data() : null;
      for (let k = 0; k < models.length; k++) {
        const model = models[k]!.model;
        const out = noGrad(() =>
          tidy(() => {
            const { mu, logvar } = model.encode(batch.images);
            const recon = model.decode(mu);
            const bce = sum(mapBinary(recon, batch.images, '-(b * log(clamp(a, u.p.x, 1.0 - u.p.x)) + (1.0 - b) * log(clamp(1.0 - a, u.p.x, 1.0 - u.p.x)))', 'eval.bce', [BCE_EPS]), [1, 2, 3]);
            const mse = meanOp(square(sub(recon, batch.images)), [1, 2, 3]);
            return { mu, logvar, recon, bce, mse };
          }),
        );
        try {
          const [mu, logvar, bce, mse, recon] = await Promise.all([
            out.mu.data(), out.logvar.data(), out.bce.data(), out.mse.data(), inputs ? out.recon.data() : null,
          ]);
          const L = model.config.latents;
          if (spec.type !== 'random') {
            const d = batchSpread(mu, spec.count, L, 3, L);
            const t = spread[k]!.get(spec.type) ?? { sum: 0, terms: 0 };
            spread[k]!.set(spec.type, { sum: t.sum + d.sum, terms: t.terms + d.terms });
          }
          for (let i = 0; i < spec.count; i++) {
            for (let j = 3; j < L; j++) sd[k]!.sum += Math.exp(0.5 * logvar[i * L + j]!);
          }
          sd[k]!.terms += spec.count * Math.max(0, L - 3);
          if (spec.type === 'shape' && inputs && recon) {
            identified[k]!.hits += ownNearest(recon, inputs, spec.count, px);
            identified[k]!.images += spec.count;
          }
          const m = acc[k]!.get(spec.type) ?? { bce: [], mse: [] };
          m.bce.push(...bce);
          m.mse.push(...mse);
          acc[k]!.set(spec.type, m);
          mus[k]!.push(mu);
          const show = Math.min(GRID_COLUMNS, spec.count);
          if (first && inputs && recon) {
            gridParts[k]!.push(inputs.slice(0, show * px), recon.slice(0, show * px));
            if (spec.type === 'random') {
              faces.images = inputs.slice(0, show * px);
              faces.mu[k] = mu.slice(0, show * model.config.latents);
            }
          }
        } finally {
          Object.values(out).forEach((t) => t.dispose());
        }
      }
    } finally {
      batch.images.dispose();
    }
    progress('reconstruction', b + 1, specs.length);
  }
  return models.map((m, k) => {
    const perType: ReconstructionResult['perType'] = {};
    const all = { bce: [] as number[], mse: [] as number[] };
    for (const type of BATCH_TYPES) {
      const v = acc[k]!.get(type);
      if (!v) continue;
      perType[type] = { images: v.bce.length, bce: mean(v.bce), mse: mean(v.mse) };
      all.bce.push(...v.bce);
      all.mse.push(...v.mse);
    }
    const parts = gridParts[k]!;
    const joined = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      joined.set(p, o);
      o += p.length;
    }
    const L = m.model.config.latents;
    const muAll = new Float32Array(mus[k]!.reduce((a, p) => a + p.length, 0));
    o = 0;
    for (const p of mus[k]!) {
      muAll.set(p, o);
      o += p.length;
    }
    return {
      result: {
        perType,
        all: { images: all.bce.length, bce: mean(all.bce), mse: mean(all.mse) },
        identified: { images: identified[k]!.images, rate: identified[k]!.hits / identified[k]!.images },
        identityCode: {
          betweenFaces: rms(spread[k]!.get('shape')),
          withinFace: { az: rms(spread[k]!.get('az')), el: rms(spread[k]!.get('el')), light: rms(spread[k]!.get('light')) },
          posteriorSd: sd[k]!.sum / sd[k]!.terms,
        },
      },
      grid: contactSheet(joined, joined.length / px, size, GRID_COLUMNS),
      mu: muAll,
      faces: faces.images,
      faceMu: faces.mu[k]!.length ? faces.mu[k]! : muAll.slice(0, Math.min(GRID_COLUMNS, muAll.length / L) * L),
    };
  });
}

// ------------------------------------------------------------------ 2. re-rendering (figs. 8, 10)

async function traversal(model: Dcign, s: EvalSettings, recon: ReconOut, progress: Progress, label: string): Promise<{ result: TraversalResult; grids: Record<string, GrayImage> }> {
  const L = model.config.latents;
  const S = model.config.imageSize;
  const px = S * S;
  const n = recon.mu.length / L;
  const faces = Math.min(s.traversalFaces, recon.faceMu.length / L, recon.faces.length / px);
  // Identity latents the model actually uses: largest variance of the posterior mean.
  const variance = Array.from({ length: L }, (_, j) => {
    const c = Array.from(column(recon.mu, L, j));
    return meanSd(c)[1] ** 2;
  });
  const identity = Array.from({ length: L - 3 }, (_, i) => i + 3)
    .sort((a, b) => variance[b]! - variance[a]!)
    .slice(0, s.traversalIdentity);
  const chosen = [0, 1, 2, ...identity].filter((j) => j < L);
  const steps = s.traversalSteps;
  const latents: TraversalResult['latents'] = [];
  const grids: Record<string, GrayImage> = {};
  for (let c = 0; c < chosen.length; c++) {
    const j = chosen[c]!;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, recon.mu[i * L + j]!);
      hi = Math.max(hi, recon.mu[i * L + j]!);
    }
    if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
    const values = Array.from({ length: steps }, (_, t) => lo + ((hi - lo) * t) / Math.max(1, steps - 1));
    const z = new Float32Array(faces * steps * L);
    for (let f = 0; f < faces; f++) {
      for (let t = 0; t < steps; t++) {
        z.set(row(recon.faceMu, L, f), (f * steps + t) * L);
        z[(f * steps + t) * L + j] = values[t]!;
      }
    }
    const out = noGrad(() => tidy(() => model.decode(Tensor.fromData(z, [faces * steps, L], 'f32', model.engine))));
    const decoded = await out.data();
    out.dispose();
    // Each row: the test image, then the sweep.
    const sheet = new Float32Array(faces * (steps + 1) * px);
    for (let f = 0; f < faces; f++) {
      sheet.set(row(recon.faces, px, f), f * (steps + 1) * px);
      sheet.set(decoded.subarray(f * steps * px, (f + 1) * steps * px), (f * (steps + 1) + 1) * px);
    }
    grids[`traverse-z${j + 1}`] = contactSheet(sheet, faces * (steps + 1), S, steps + 1);
    latents.push({ index: j + 1, meaning: MEANING[j] ?? 'identity', values });
    progress(`re-rendering (${label})`, c + 1, chosen.length);
  }
  return { result: { latents, faces }, grids };
}

// ------------------------------------------------------------------ 3, 4. tracking and invariance (fig. 9)

const MAX_POINTS = 800;

async function sweeps(engine: Engine, models: EvalModel[], s: EvalSettings, size: number, progress: Progress) {
  const designs = sweepDesigns(s.seed, s.faces);
  const total = designs.reduce((a, d) => a + d.params.length * d.values.length, 0);
  let done = 0;
  const tracking = models.map(() => ({}) as Record<SceneFactor, TrackingResult>);
  const invariance = models.map(() => ({}) as Record<SceneFactor, InvarianceResult>);
  for (const d of designs) {
    const flat = d.params.flat();
    const { mu } = await encodeFaces(engine, models, flat, size, s.chunk, (k) => progress('sweeps (figure 9)', done + k, total));
    done += flat.length;
    const V = d.values.length;
    const F = d.params.length;
    const k = SCENE_FACTORS.indexOf(d.factor);
    models.forEach((m, mi) => {
      const L = m.model.config.latents;
      const codes = mu[mi]!;
      const truth = flat.map((p) => p[d.factor]);
      const assigned = column(codes, L, k);
      const cols = Array.from({ length: L }, (_, j) => column(codes, L, j));
      const best = bestPredictor(cols, truth);
      const perValue = d.values.map((_, v) => meanSd(Array.from({ length: F }, (_, f) => assigned[f * V + v]!)));
      const stride = Math.max(1, Math.ceil((F * V) / MAX_POINTS));
      const points: [number, number][] = [];
      for (let i = 0; i < F * V; i += stride) points.push([truth[i]!, assigned[i]!]);
      tracking[mi]![d.factor] = {
        latent: k + 1,
        r: pearson(assigned, truth),
        best: { latent: best.latent + 1, r: best.r },
        values: d.values,
        mean: perValue.map((x) => x[0]),
        sd: perValue.map((x) => x[1]),
        points,
      };
      // The identity part of the code: z4..zn.
      const id = (f: number, v: number) => codes.subarray((f * V + v) * L + 3, (f * V + v + 1) * L);
      const cos = d.values.map((_, v) => meanSd(Array.from({ length: F }, (_, f) => cosine(id(f, v), id(f, d.zeroIndex)))));
      invariance[mi]![d.factor] = {
        values: d.values,
        mean: cos.map((x) => x[0]),
        sd: cos.map((x) => x[1]),
        overall: mean(cos.filter((_, v) => v !== d.zeroIndex).map((x) => x[0])),
      };
    });
  }
  return { tracking, invariance };
}

// ------------------------------------------------------------------ 5. same / different (section 4.2)

async function recognition(engine: Engine, models: EvalModel[], s: EvalSettings, size: number, progress: Progress): Promise<RecognitionResult[]> {
  const design = pairDesign(s.seed, s.pairs);
  const flat = design.flatMap((p) => [p.a, p.b]);
  const { mu, pixels } = await encodeFaces(engine, models, flat, size, s.chunk, (k) => progress('same/different', k, flat.length), true);
  const px = size * size;
  const score = (rep: (i: number) => ArrayLike<number>) => {
    const r = sameDifferent(design.map((p, i) => ({ a: rep(2 * i), b: rep(2 * i + 1), same: p.same })));
    return { accuracy: r.accuracy, threshold: r.threshold };
  };
  const raw = score((i) => row(pixels!, px, i));
  return models.map((m, k) => {
    const L = m.model.config.latents;
    return {
      pairs: design.length,
      identity: score((i) => mu[k]!.subarray(i * L + 3, (i + 1) * L)),
      full: score((i) => row(mu[k]!, L, i)),
      pixels: raw,
    };
  });
}

// ------------------------------------------------------------------ 6. MIG, DCI, SAP

async function disentanglement(engine: Engine, models: EvalModel[], s: EvalSettings, size: number, progress: Progress): Promise<DisentanglementResult[]> {
  const params = randomSamples(s.seed, s.samples);
  const { mu } = await encodeFaces(engine, models, params, size, s.chunk, (k) => progress('disentanglement samples', k, params.length));
  const factors = METRIC_FACTORS.map((f) => Float64Array.from(params, (p) => f.get(p)));
  const nTrain = Math.round((2 * params.length) / 3);
  return models.map((m, k) => {
    const L = m.model.config.latents;
    const latents = Array.from({ length: L }, (_, j) => column(mu[k]!, L, j));
    const part = (cols: Float64Array[], a: number, b: number) => cols.map((c) => c.subarray(a, b));
    progress(`MIG, DCI, SAP (${m.label})`, 0, 1);
    const out: DisentanglementResult = {
      samples: params.length,
      train: nTrain,
      test: params.length - nTrain,
      factors: METRIC_FACTORS.map((f) => f.name),
      mig: mig(latents, factors),
      dci: dci(
        { latents: part(latents, 0, nTrain), factors: part(factors, 0, nTrain) },
        { latents: part(latents, nTrain, params.length), factors: part(factors, nTrain, params.length) },
      ),
      sap: sap(latents, factors),
    };
    progress(`MIG, DCI, SAP (${m.label})`, 1, 1);
    return out;
  });
}

// ------------------------------------------------------------------ 7. ABC inference (section 4.1, fig. 6a)

export async function inference(engine: Engine, models: EvalModel[], s: EvalSettings, size: number, progress: Progress): Promise<{ results: InferenceResult[]; observations: GrayImage }> {
  const C = s.chains;
  const M = models.length;
  const observed = observationDesign(s.seed, C);
  // Rows: the pixel chains, then each model's encoder chains; chain c of every variant observes
  // face c and shares its random stream (same start, same proposal draws): a paired comparison.
  const groups = 1 + M;
  const chains = Array.from({ length: groups }, () => Array.from({ length: C }, (_, c) => new AbcChain(designRng(s.seed, 'chains').fork(c), s.abc)));
  const all = chains.flat();
  const obsParams = Array.from({ length: groups }, () => observed).flat();
  const obs = render(engine, obsParams, size);
  const obsMu = models.map((m) => noGrad(() => tidy(() => m.model.encode(obs).mu)));
  const obsPixels = await obs.data();
  // One render of every chain's hypothesis; per-row distances on the GPU; back come each chain's
  // distance under its own summary and every chain's MSE (for the plot), nothing else.
  const step = async (params: FaceParams[]): Promise<{ dist: number[]; mse: number[] }> => {
    const images = render(engine, params, size);
    const out = noGrad(() =>
      tidy(() => {
        const diff = sub(images, obs);
        const mse = meanOp(square(diff), [1, 2, 3]);
        const l1 = meanOp(mapUnary(diff, 'abs(x)', 'eval.abs'), [1, 2, 3]);
        const codes = models.map((m, k) => sum(mapUnary(sub(m.model.encode(images).mu, obsMu[k]!), 'abs(x)', 'eval.abs'), [1]));
        // A flat array: tidy keeps the tensors it finds at the top level of what is returned.
        return [mse, l1, ...codes];
      }),
    );
    const [mseT, l1T, ...codeT] = out as [Tensor, Tensor, ...Tensor[]];
    try {
      const [mse, l1, ...codes] = await Promise.all([mseT.data(), engine.read(l1T.buffer, l1T.offset, C * 4), ...codeT.map((t, k) => engine.read(t.buffer, t.offset + (k + 1) * C * 4, C * 4))]);
      const dist = [...new Float32Array(l1), ...codes.flatMap((b) => [...new Float32Array(b)])];
      return { dist, mse: [...mse] };
    } finally {
      images.dispose();
      out.forEach((t) => t.dispose());
    }
  };
  try {
    const first = await step(all.map((c) => c.state));
    all.forEach((c, i) => c.start(first.dist[i]!, first.mse[i]!));
    for (let g = 0; g < groups; g++) {
      const eps = s.abc.epsilonFactor * median(chains[g]!.map((c) => c.distance));
      for (const c of chains[g]!) c.epsilon = eps > 0 ? eps : 1e-6;
    }
    for (let it = 1; it <= s.iterations; it++) {
      const { dist, mse } = await step(all.map((c) => c.propose()));
      all.forEach((c, i) => c.decide(dist[i]!, mse[i]!));
      if (it % 10 === 0 || it === s.iterations) progress('inference (ABC-MCMC)', it, s.iterations);
    }
  } finally {
    obs.dispose();
    obsMu.forEach((t) => t.dispose());
  }
  const summary = (group: AbcChain[]): ChainSummary => {
    const angleError = Object.fromEntries(
      SCENE_FACTORS.map((f) => [f, mean(group.map((c, i) => Math.abs(c.state[f] - observed[i]![f])))]),
    ) as Record<SceneFactor, number>;
    return {
      mse: group.map((c) => c.trace),
      acceptance: group.map((c) => c.accepted / Math.max(1, c.proposed)),
      epsilon: group[0]!.epsilon,
      initialMse: mean(group.map((c) => c.trace[0]!)),
      finalMse: mean(group.map((c) => c.mse)),
      angleError,
    };
  };
  const pixels = summary(chains[0]!);
  const px = size * size;
  return {
    results: models.map((_, k) => ({
      chains: C,
      iterations: s.iterations,
      epsilonFactor: s.abc.epsilonFactor,
      angleStep: s.abc.angleStep,
      encoder: summary(chains[k + 1]!),
      pixels,
    })),
    observations: contactSheet(obsPixels.subarray(0, C * px), C, size, C),
  };
}

// ------------------------------------------------------------------ all of it

/** Models evaluated together share one image size and have z1..z3 and an identity code. */
export function checkComparable(models: EvalModel[]): void {
  if (!models.length) throw new Error('evaluate: no models');
  const size = models[0]!.model.config.imageSize;
  for (const m of models) {
    if (m.model.config.imageSize !== size) {
      throw new CheckpointError(`${m.checkpoint}: its images are ${m.model.config.imageSize}px but ${models[0]!.checkpoint}'s are ${size}px; compare checkpoints of one image size`);
    }
    if (m.model.config.latents < 4) throw new CheckpointError(`${m.checkpoint}: needs at least 4 latents (z1..z3 and identity), has ${m.model.config.latents}`);
  }
}

export async function evaluate(engine: Engine, models: EvalModel[], s: EvalSettings, progress: Progress = () => {}): Promise<EvalOutput> {
  checkComparable(models);
  const size = models[0]!.model.config.imageSize;
  // Keep the largest activation of a chunk (a full-resolution feature map stack) under 512 MiB,
  // whatever the preset: the paper's 150 px, 96-map layers allow about 60 images per call.
  const widest = Math.max(...models.flatMap((m) => [...m.model.config.encoderMaps, ...m.model.config.decoderMaps]));
  s = { ...s, chunk: Math.max(1, Math.min(s.chunk, Math.floor(2 ** 29 / (widest * size * size * 4)))) };
  const t0 = performance.now();
  const recon = await reconstruction(engine, models, s, size, progress);
  const trav: Awaited<ReturnType<typeof traversal>>[] = [];
  for (let k = 0; k < models.length; k++) trav.push(await traversal(models[k]!.model, s, recon[k]!, progress, models[k]!.label));
  const sw = await sweeps(engine, models, s, size, progress);
  const rec = await recognition(engine, models, s, size, progress);
  const dis = await disentanglement(engine, models, s, size, progress);
  const inf = await inference(engine, models, s, size, progress);
  const seconds = (performance.now() - t0) / 1000;
  return {
    results: models.map((m, k) => ({
      label: m.label,
      checkpoint: m.checkpoint,
      preset: m.preset,
      step: m.step,
      latents: m.model.config.latents,
      imageSize: size,
      training: m.training,
      reconstruction: recon[k]!.result,
      traversal: trav[k]!.result,
      tracking: sw.tracking[k]!,
      invariance: sw.invariance[k]!,
      recognition: rec[k]!,
      disentanglement: dis[k]!,
      inference: inf.results[k]!,
      seconds,
    })),
    images: models.map((_, k) => ({ recon: recon[k]!.grid, ...trav[k]!.grids })),
    shared: { 'inference-observations': inf.observations },
  };
}
