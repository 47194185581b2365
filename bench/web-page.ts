// The page of `npm run bench -- web` (bundled by bench/web.ts): the DC-IGN encoder on our engine
// and the same network with the same weights on tfjs-backend-webgpu, in one browser tab, one
// image at a time. Each timed call covers the upload of the image, the encoder and the readback
// of mu and logvar, as the demo page does it.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { initEngine, noGrad, ops, Tensor, tidy } from '../src/browser.js';
import { Dcign } from '../src/model/dcign.js';
import { RecordedEncoder } from '../src/model/recorded-encoder.js';
import { getPreset, shapesOf, type DcignConfig } from '../src/model/presets.js';
import { Rng } from '../src/data/rng.js';
import { median } from '../src/eval/abc.js';
import { maxRelDiff, NCHW_TO_NHWC, OCKK_TO_KKCO, permute4 } from './peer-data.js';
import { decodeModel } from '../src/model/checkpoint.js';
import { ortSides } from './web-ort.js';
import type { ConvChoice } from '../src/gpu/autotune.js';
import type { Engine } from '../src/gpu/engine.js';
import { GpuMarks } from '../src/gpu/marks.js';
import { kernelWords, profileDispatches } from './dispatch-profile.js';

export interface WebBenchOptions {
  preset: string;
  /** The engine's convolution variant; default its adapter's. */
  convVariant?: ConvChoice;
  /** Time each side for at least this long (after the warm-up), alternating calls. */
  minMs: number;
  minIters: number;
  maxIters: number;
  /** Give up (tooSlow) when a warm call of either side takes longer than this. */
  maxWarmMs: number;
  /** onnxruntime-web too: its dist folder, the exported encoder, and the weights it was made from
   * (then ours and tfjs run those weights, not random ones). */
  ort?: { distUrl: string; onnxUrl: string; weightsUrl: string };
  /** Time one encode dispatch by dispatch too (GPU timestamps; medians of PROFILE_REPS encodes). */
  profile?: boolean;
  /** Run tfjs-backend-webgpu beside ours (default true). */
  tfjs?: boolean;
}

export interface OrtRow {
  name: string;
  firstMs: number;
  ms: number;
  /** Largest |ORT mu - our mu|. */
  maxAbsMuDiff: number;
}

export interface WebBenchResult {
  preset: string;
  imageSize: number;
  adapter: string;
  /** null where tfjs was left out (tfjs: false), here and below. */
  tfjsVersion: string | null;
  /** The first call of each: shader compilation included. */
  oursFirstMs: number;
  tfjsFirstMs: number | null;
  oursMs: number;
  /** The page engine's convolutions: its variant (Engine.convVariant), or the pooled forward-only kernel (Engine.pooledConv). */
  convVariant: string;
  /** What one of our encodes records: GPU dispatches and queue submits (the readback's included). */
  oursDispatches: number;
  /**
   * With profile: each dispatch of an encode in order, its kernel, its median GPU ms submitted
   * alone between timestamps (null without timestamp-query) and its cost by repetition.
   */
  oursProfile?: ProfileRow[];
  oursSubmits: number;
  /** The same round trip with next to no work (upload one image, one tiny dispatch, read 4 bytes back): what any call pays. */
  floorMs: number;
  tfjsMs: number | null;
  iterations: number;
  /** Largest |ours - tfjs| of mu and logvar over the largest |tfjs|. */
  maxRelDiff: number | null;
  /** A warm call took longer than maxWarmMs: not timed further. */
  tooSlow: boolean;
  warmMs: [ours: number, tfjs: number | null];
  ortVersion?: string;
  ort?: OrtRow[];
  /** An execution provider that did not start, by row name: its error. */
  ortErrors?: Record<string, string>;
}

declare global {
  interface Window {
    runWebBench(o: WebBenchOptions): Promise<WebBenchResult>;
  }
}

window.runWebBench = async (o: WebBenchOptions): Promise<WebBenchResult> => {
  // A forced variant is what the run measures: the encoder's convolutions then leave the pooled
  // forward-only kernel (Engine.pooledConv) for that variant's.
  const engine = await initEngine({ convVariant: o.convVariant, ...(o.convVariant !== undefined && { pooledConv: false }) });
  const config = getPreset(o.preset);
  const S = config.imageSize;
  const model = o.ort
    ? decodeModel(new Uint8Array(await (await fetch(o.ort.weightsUrl)).arrayBuffer()), o.ort.weightsUrl, engine, o.preset).model
    : new Dcign(config, 11, engine);
  const p = new Map<string, Float32Array>();
  for (const [name, t] of model.parameters()) p.set(name, await t.data());

  const tfjs = o.tfjs === false ? null : await tfjsSide(config, p);

  // A fixed image in [0, 1).
  const rng = Rng.fromSeed(12345);
  const image = new Float32Array(S * S).map(() => rng.uniform());

  // As the page encodes: the encoder recorded at the first call (src/model/recorded-encoder.ts).
  let recorded = null as RecordedEncoder | null;
  const ours = async () => {
    recorded ??= new RecordedEncoder(model, 1);
    const r = await recorded.encode(image);
    return [r.mu, r.logvar];
  };
  // The same encode through the ops, for the profile (it times each dispatch as an op records it).
  const oursOps = async () => {
    const r = noGrad(() => tidy(() => model.encode(Tensor.fromData(image, [1, 1, S, S], 'f32', engine))));
    const out = await Promise.all([r.mu.data(), r.logvar.data()]);
    [r.mu, r.logvar].forEach((t) => t.dispose());
    return out;
  };
  const theirs = tfjs ? () => tfjs.encode(image) : null;
  const timed = async <T>(f: () => Promise<T>): Promise<[number, T]> => {
    const t0 = performance.now();
    const r = await f();
    return [performance.now() - t0, r];
  };

  const ort = o.ort ? await ortSides(o.ort.distUrl, o.ort.onnxUrl, S, image) : undefined;

  const [oursFirstMs, a] = await timed(ours);
  // What a call pays besides the encoder: the upload, one dispatch and the readback.
  const floor = async () => {
    const x = Tensor.fromData(image, [1, 1, S, S], 'f32', engine);
    const y = ops.mulScalar(x.view([S * S]), 1);
    const first = y.slot(0, [1]);
    const out = await first.data();
    [x, y, first].forEach((t) => t.dispose());
    return out;
  };
  await floor();
  const floorTimes: number[] = [];
  for (let i = 0; i < 5; i++) floorTimes.push((await timed(floor))[0]);
  const counted = { ...engine.stats };
  await ours();
  const oursDispatches = engine.stats.dispatches - counted.dispatches;
  const oursSubmits = engine.stats.submits - counted.submits;
  const oursProfile = o.profile ? await profileEncode(engine, oursOps) : undefined;
  const [tfjsFirstMs, b] = theirs ? await timed(theirs) : [null, null];
  const ortFirst: [number, Float32Array[]][] = [];
  for (const side of ort?.sides ?? []) ortFirst.push(await timed(side.run));
  const muLogvar = (r: Float32Array[]) => Float32Array.from([...r[0]!, ...r[1]!]);
  const warmMs: [number, number | null] = [(await timed(ours))[0], theirs ? (await timed(theirs))[0] : null];
  for (const side of ort?.sides ?? []) await side.run();
  const tooSlow = Math.max(warmMs[0], warmMs[1] ?? 0) > o.maxWarmMs;
  // Alternate the sides so that a busy moment of the machine lands on all of them.
  const t: { ours: number[]; tfjs: number[]; ort: number[][] } = { ours: [], tfjs: [], ort: (ort?.sides ?? []).map(() => []) };
  const start = performance.now();
  while (!tooSlow && t.ours.length < o.minIters || (performance.now() - start < 2 * o.minMs && t.ours.length < o.maxIters)) {
    t.ours.push((await timed(ours))[0]);
    if (theirs) t.tfjs.push((await timed(theirs))[0]);
    for (const [i, side] of (ort?.sides ?? []).entries()) t.ort[i]!.push((await timed(side.run))[0]);
  }
  const maxAbs = (x: Float32Array, y: Float32Array) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
  const ortRows = ort?.sides.map((side, i) => ({
    name: side.name,
    firstMs: ortFirst[i]![0],
    ms: median(t.ort[i]!),
    maxAbsMuDiff: maxAbs(ortFirst[i]![1][0]!, a[0]!),
  }));
  for (const side of ort?.sides ?? []) await side.release();
  recorded?.dispose();
  model.dispose();
  tfjs?.release();
  engine.destroy();
  return {
    preset: config.preset,
    imageSize: S,
    adapter: engine.report,
    tfjsVersion: tfjs ? tf.version_core : null,
    oursFirstMs,
    tfjsFirstMs,
    oursMs: tooSlow ? warmMs[0] : median(t.ours),
    convVariant: engine.pooledConv ? 'pooled forward-only kernel' : engine.convVariant,
    oursDispatches,
    ...(oursProfile !== undefined && { oursProfile }),
    oursSubmits,
    floorMs: median(floorTimes),
    tfjsMs: !tfjs ? null : tooSlow ? warmMs[1] : median(t.tfjs),
    iterations: t.ours.length,
    maxRelDiff: b ? maxRelDiff(muLogvar(a), muLogvar(b)) : null,
    tooSlow,
    warmMs,
    ...(ort && { ortVersion: ort.version, ort: ortRows, ortErrors: ort.errors }),
  };
};

/** The same encoder on tfjs-backend-webgpu, from our parameters p: encode (mu and logvar) and release. */
async function tfjsSide(config: DcignConfig, p: Map<string, Float32Array>) {
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend did not initialise');
  await tf.ready();
  const k = config.encoderKernel;
  const maps = [1, ...config.encoderMaps];
  const convs = [1, 2, 3].map((i) => ({
    w: tf.tensor4d(permute4(p.get(`encoder.conv${i}.weight`)!, [maps[i]!, maps[i - 1]!, k, k], OCKK_TO_KKCO), [k, k, maps[i - 1]!, maps[i]!]),
    b: tf.tensor1d(p.get(`encoder.conv${i}.bias`)!),
  }));
  const { encoder: sizes, flat } = shapesOf(config);
  const last = sizes[sizes.length - 1]!;
  // Our encoder flattens NCHW maps, tfjs NHWC: the heads' columns are reordered.
  const head = (name: string) => ({
    w: tf.tensor2d(permute4(p.get(`encoder.${name}.weight`)!, [config.latents, config.encoderMaps[2], last, last], NCHW_TO_NHWC), [config.latents, flat]),
    b: tf.tensor1d(p.get(`encoder.${name}.bias`)!),
  });
  const mu = head('mu');
  const logvar = head('logvar');
  // relu(maxpool(conv)) = maxpool(relu(conv)): tfjs gets its fused conv + bias + relu.
  const tfEncode = (x: tf.Tensor4D) =>
    tf.tidy(() => {
      let h = x;
      for (const c of convs) {
        h = tf.maxPool(tf.fused.conv2d({ x: h, filter: c.w, bias: c.b, strides: 1, pad: config.encoderPadding, activation: 'relu' }), 2, 2, 'valid');
      }
      const f = tf.reshape(h, [1, flat]);
      return [mu, logvar].map((l) => tf.fused.matMul({ a: f, b: l.w, transposeB: true, bias: l.b }));
    });
  return {
    encode: async (image: Float32Array) => {
      const S = config.imageSize;
      const x = tf.tensor4d(image, [1, S, S, 1]);
      const r = tfEncode(x);
      const out = (await Promise.all(r.map((t) => t.data()))) as Float32Array[];
      tf.dispose([x, ...r]);
      return out;
    },
    release: () => tf.dispose([...convs.flatMap((c) => [c.w, c.b]), mu.w, mu.b, logvar.w, logvar.b]),
  };
}

export interface ProfileRow {
  what: string;
  /** Median GPU ms of the dispatch submitted alone between two timestamps; null without timestamp-query. */
  ms: number | null;
  /** The encode's median ms with the dispatch recorded REPEAT more times, less the plain encode's, over REPEAT. */
  repeatMs: number;
}

const PROFILE_REPS = 5;
// Repetition: an encode's time moves in steps of about 1 ms on SwiftShader (Chromium's GPU process
// looks for finished work on a timer), so a dispatch is repeated enough to span several steps.
const REPEAT = 10;
const REPEAT_ENCODES = 7;

/**
 * Each dispatch of an encode, in order, timed two ways: submitted alone between GPU timestamps
 * (medians over PROFILE_REPS encodes), which on SwiftShader also counts each submit's own cost,
 * and by repetition, which counts what the dispatch adds to an encode.
 */
async function profileEncode(engine: Engine, encode: () => Promise<unknown>): Promise<ProfileRow[]> {
  const dispatch = engine.dispatch;
  // One encode's kernels, in order.
  const names: string[] = [];
  engine.dispatch = (kernel, args) => {
    names.push(kernelWords(kernel));
    dispatch.call(engine, kernel, args);
  };
  try {
    await encode();
  } finally {
    engine.dispatch = dispatch;
  }
  // The encode's median ms with dispatch `target` recorded `extra` more times (-1: none).
  const timed = async (target: number, extra: number) => {
    const times: number[] = [];
    for (let e = 0; e < REPEAT_ENCODES; e++) {
      let n = 0;
      engine.dispatch = (kernel, args) => {
        dispatch.call(engine, kernel, args);
        if (n++ === target) for (let r = 0; r < extra; r++) dispatch.call(engine, kernel, args);
      };
      try {
        const t0 = performance.now();
        await encode();
        times.push(performance.now() - t0);
      } finally {
        engine.dispatch = dispatch;
      }
    }
    return median(times);
  };
  const base = await timed(-1, 0);
  const repeatMs: number[] = [];
  for (let i = 0; i < names.length; i++) repeatMs.push(((await timed(i, REPEAT)) - base) / REPEAT);
  let stamped: number[] | null = null;
  if (GpuMarks.available(engine.device)) {
    const reps: number[][] = [];
    for (let i = 0; i < PROFILE_REPS; i++) {
      const p = await profileDispatches(engine, { label: 'encode' }, encode);
      await p.result;
      reps.push(p.timed.map((d) => d.ms));
    }
    stamped = names.map((_, k) => median(reps.map((r) => r[k]!)));
  }
  return names.map((what, i) => ({ what, ms: stamped ? stamped[i]! : null, repeatMs: repeatMs[i]! }));
}
