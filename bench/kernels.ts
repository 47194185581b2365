// Every DC-IGN layer at the paper's shapes (the `paper` preset, 150x150x1 input): forward and
// both gradients, ours vs tfjs-backend-webgpu on the same adapter. Both sides get the same data
// (tfjs in its NHWC / [kh,kw,C,O] layouts); the first run of each row also compares the two
// results, so a mis-posed tfjs call or a wrong kernel shows up as a check failure, not a timing.
//
// The decoder layers (dec1..dec4) are each a nearest x2 upsampling and a conv: tfjs runs the two
// ops (resizeNearestNeighbor, conv2d and their gradients); ours runs the layer as training does,
// upsampleConv2d (the conv folded onto the un-upsampled input, then depth-to-space; foldedLayer
// in bench/kernel-cases.ts says what each row holds). Rates are of the nominal FLOPs (the conv on the upsampled map)
// on both sides; the table also gives ours per executed FLOP.
//
// Timing: each op is recorded and then waited for on the GPU, without reading results back (ours:
// engine.sync(); tfjs: backend.submitQueue() then queue.onSubmittedWorkDone()), so neither side
// pays a readback the other does not. Median over the timed runs after one warm-up run.
import type { Tensor, Engine } from '../src/node.js';
import { loadTfjs, submitTfjs, tfBackend, withGpuErrors, type TF } from './tfjs.js';
import { errText, table, timeIt, type Timing } from './timing.js';
import {
  convData, LAYER_NAMES, linearData, maxRelDiff, paperLayers, poolData, type TfOp, type Unit,
} from './kernel-cases.js';

export { LAYER_NAMES };

export interface KernelsOptions {
  /** Images per batch. Default: 20 (the paper's) on hardware, 4 on a software adapter. */
  batch?: number;
  /** Only these layers (names as in LAYER_NAMES). */
  layers?: string[];
  /** Time tfjs-backend-webgpu too. Default true. */
  tfjs?: boolean;
  /** Compare ours with tfjs on the first run of each row. Default true (needs tfjs). */
  check?: boolean;
  /** Progress lines while measuring (one per row). */
  log?: (line: string) => void;
}

export interface KernelRow {
  layer: string;
  /** fwd, dx, dw (weight and bias gradient together), or bwd for pooling. */
  op: string;
  shape: string;
  batch: number;
  unit: Unit;
  /** FLOPs (GFLOP/s rows; decoder rows: the conv on the upsampled map) or nominal bytes moved: input + output elements x 4 (GB/s rows). */
  work: number;
  /** FLOPs our kernels execute: `work`, except the decoder rows' folded conv, 2*N*(4*O)*(Ho/2)*(Wo/2)*C*kF*kF. */
  executedWork: number;
  oursMs: number | null;
  oursRate: number | null;
  /** executedWork / ours ms (GFLOP/s rows). */
  oursExecutedRate: number | null;
  /** Timed runs; 0 when the time is the single warm-up run's (a run over 20 s, compilation included). */
  oursIters: number;
  oursError?: string;
  tfjsMs: number | null;
  tfjsRate: number | null;
  tfjsIters: number;
  tfjsError?: string;
  /** tfjs ms / ours ms: above 1, ours is faster. */
  ratio: number | null;
  /** Largest |ours - tfjs| over the largest |tfjs|, over every output of the row. */
  maxRelDiff: number | null;
  /** When ours and tfjs disagree and a CPU reference is cheap: each side's difference from it. */
  oursRefDiff?: number;
  tfjsRefDiff?: number;
  referenceNote?: string;
}

export type KernelsResult = {
  batch: number;
  batchNote: string;
  rows: KernelRow[];
  text: string;
};

/** A relative difference above this marks the row's check as failed. */
const CHECK_TOLERANCE = 1e-3;

// ---- timing ------------------------------------------------------------------------------

/** Fewer timed runs for heavy rows, judged by the warm-up run (which includes compilation). */
function timingFor(warmMs: number): { minIters: number; maxIters: number; minMs: number } {
  if (warmMs > 8000) return { minIters: 1, maxIters: 1, minMs: 0 };
  if (warmMs > 2500) return { minIters: 2, maxIters: 2, minMs: 0 };
  if (warmMs > 300) return { minIters: 3, maxIters: 3, minMs: 0 };
  return { minIters: 3, maxIters: 30, minMs: 400 };
}

/** A warm-up this long is itself the measurement: compilation is then a negligible part of it. */
const SINGLE_RUN_MS = 20000;

interface Measured {
  t: Timing;
  data: Float32Array[] | null;
  /** The time is the warm-up run's (first run, compilation included). */
  warmupOnly: boolean;
}

/**
 * One warm-up run (compiles; its outputs, read back after the timing point, feed the check), then
 * timed runs of start + finish with every output disposed.
 */
async function measure<T>(
  start: () => T[],
  finish: () => Promise<void>,
  read: (outs: T[]) => Promise<Float32Array[]>,
  dispose: (t: T) => void,
  wantData: boolean,
): Promise<Measured> {
  const t0 = performance.now();
  const outs = start();
  await finish();
  const warm = performance.now() - t0;
  const data = wantData ? await read(outs) : null;
  for (const o of outs) dispose(o);
  if (warm > SINGLE_RUN_MS) return { t: { ms: warm, iterations: 1 }, data, warmupOnly: true };
  const t = await timeIt(
    async () => {
      for (const o of start()) dispose(o);
      await finish();
    },
    { warmup: 0, ...timingFor(warm) },
  );
  return { t, data, warmupOnly: false };
}

function measureOurs(engine: Engine, run: () => Tensor[], wantData: boolean): Promise<Measured> {
  return measure(
    run,
    () => engine.sync(),
    (outs) => Promise.all(outs.map(async (o) => (o.dtype === 'f32' ? ((await o.read()) as Float32Array) : new Float32Array(0)))),
    (o) => o.dispose(),
    wantData,
  );
}

function measureTfjs(tf: TF, op: TfOp, wantData: boolean): Promise<Measured> {
  const backend = tfBackend(tf);
  const fence = async () => {
    submitTfjs(backend);
    await backend.device.queue.onSubmittedWorkDone();
  };
  return withGpuErrors(backend.device, () =>
    measure(
      op.run,
      fence,
      (outs) => Promise.all(outs.map(async (o, i) => op.toOurs[i]!((await o.data()) as Float32Array))),
      (o) => o.dispose(),
      wantData,
    ),
  );
}

// ---- the bench ---------------------------------------------------------------------------

export async function benchKernels(engine: Engine, opts: KernelsOptions = {}): Promise<KernelsResult> {
  const software = engine.software;
  const batch = opts.batch ?? (software ? 4 : 20);
  const batchNote =
    opts.batch !== undefined
      ? `batch ${batch} (--batch)`
      : software
        ? `batch ${batch} (default on a software adapter; the paper's batch is 20: --batch 20)`
        : `batch ${batch} (the paper's batch; default on a hardware adapter)`;
  const log = opts.log ?? (() => {});
  const all = paperLayers();
  if (opts.layers) {
    const unknown = opts.layers.filter((n) => !LAYER_NAMES.includes(n));
    if (unknown.length) throw new Error(`unknown layer(s) ${unknown.join(', ')}; choose from ${LAYER_NAMES.join(', ')}`);
  }
  const layers = opts.layers ? all.filter((l) => opts.layers!.includes(l.name)) : all;
  const tf = opts.tfjs === false ? null : await loadTfjs();
  const check = (opts.check ?? true) && tf !== null;
  log(`kernels: ${batchNote}; layers ${layers.map((l) => l.name).join(' ')}${tf ? '' : '; tfjs off'}`);

  const rows: KernelRow[] = [];
  let seed = 1;
  for (const layer of layers) {
    seed += 10;
    const data =
      layer.kind === 'conv'
        ? convData(layer, batch, engine, tf, seed)
        : layer.kind === 'pool'
          ? poolData(layer, batch, engine, tf, seed)
          : linearData(layer, batch, engine, tf, seed);
    await engine.sync();
    try {
      for (const c of data.cases) {
        const row: KernelRow = {
          layer: c.layer, op: c.op, shape: c.shape, batch, unit: c.unit, work: c.work, executedWork: c.executedWork ?? c.work,
          oursMs: null, oursRate: null, oursExecutedRate: null, oursIters: 0, tfjsMs: null, tfjsRate: null, tfjsIters: 0, ratio: null, maxRelDiff: null,
        };
        let ours: Float32Array[] | null = null;
        try {
          const r = await measureOurs(engine, c.ours, check);
          row.oursMs = r.t.ms;
          row.oursIters = r.warmupOnly ? 0 : r.t.iterations;
          row.oursRate = c.work / r.t.ms / 1e6;
          if (c.unit === 'GFLOP/s') row.oursExecutedRate = row.executedWork / r.t.ms / 1e6;
          ours = r.data;
        } catch (e) {
          row.oursError = errText(e);
        }
        if (tf && c.tfjs) {
          try {
            const r = await measureTfjs(tf, c.tfjs, check);
            row.tfjsMs = r.t.ms;
            row.tfjsIters = r.warmupOnly ? 0 : r.t.iterations;
            row.tfjsRate = c.work / r.t.ms / 1e6;
            if (ours && r.data) {
              // Our pooling forward also returns the u32 argmax indices: compare values only.
              row.maxRelDiff = Math.max(...r.data.map((ref, i) => maxRelDiff(ours![i]!, ref)));
              if (!(row.maxRelDiff <= CHECK_TOLERANCE) && c.reference) {
                const ref = c.reference();
                row.oursRefDiff = Math.max(...ref.map((v, i) => maxRelDiff(ours![i]!, v)));
                row.tfjsRefDiff = Math.max(...ref.map((v, i) => maxRelDiff(r.data![i]!, v)));
                if (c.referenceNote) row.referenceNote = c.referenceNote();
              }
            }
          } catch (e) {
            row.tfjsError = errText(e);
          }
        }
        if (row.oursMs && row.tfjsMs) row.ratio = row.tfjsMs / row.oursMs;
        rows.push(row);
        log(
          `  ${row.layer} ${row.op}: ours ${row.oursMs?.toFixed(1) ?? `fails (${row.oursError})`} ms, ` +
            `tfjs ${tf ? (row.tfjsMs?.toFixed(1) ?? `fails (${row.tfjsError})`) : '-'} ms` +
            (row.maxRelDiff !== null ? `, rel diff ${row.maxRelDiff.toExponential(1)}` : ''),
        );
      }
    } finally {
      data.dispose();
      await engine.sync();
    }
  }
  return { batch, batchNote, rows, text: kernelsTable(rows, batchNote, tf !== null) };
}

const runs = (ms: number | null, iters: number) => (ms === null ? '-' : iters === 0 ? 'w' : String(iters));

function checkText(r: KernelRow): string {
  if (r.maxRelDiff === null) return '-';
  if (r.maxRelDiff <= CHECK_TOLERANCE) return `ok ${r.maxRelDiff.toExponential(0)}`;
  if (r.oursRefDiff !== undefined) {
    const oursOk = r.oursRefDiff <= CHECK_TOLERANCE;
    const tfjsOk = r.tfjsRefDiff! <= CHECK_TOLERANCE;
    if (oursOk && !tfjsOk) return 'DIFF: tfjs wrong';
    if (!oursOk && tfjsOk) return 'DIFF: ours wrong';
    return 'DIFF: both off';
  }
  return `DIFF ${r.maxRelDiff.toExponential(0)}`;
}

export function kernelsTable(rows: KernelRow[], batchNote: string, withTfjs: boolean): string {
  const rate = (r: number | null) => r ?? '-';
  const body = table(
    ['layer', 'op', 'shape (NCHW)', 'unit', 'ours ms', 'ours rate', 'ours exec', 'tfjs ms', 'tfjs rate', 'tfjs/ours', 'runs', 'check'],
    rows.map((r) => [
      r.layer,
      r.op,
      r.shape,
      r.unit,
      r.oursMs ?? 'fails',
      rate(r.oursRate),
      rate(r.oursExecutedRate),
      withTfjs ? (r.tfjsMs ?? 'fails') : '-',
      rate(r.tfjsRate),
      r.ratio ?? '-',
      `${runs(r.oursMs, r.oursIters)}/${withTfjs ? runs(r.tfjsMs, r.tfjsIters) : '-'}`,
      checkText(r),
    ]),
  );
  const notes: string[] = [];
  for (const r of rows) {
    if (r.oursRefDiff !== undefined) {
      notes.push(
        `${r.layer} ${r.op}: ours and tfjs disagree (${r.maxRelDiff!.toExponential(1)}); against a float64 CPU reference ` +
          `ours ${r.oursRefDiff.toExponential(1)}, tfjs ${r.tfjsRefDiff!.toExponential(1)}` +
          (r.referenceNote ? ` (${r.referenceNote})` : ''),
      );
    } else if (r.maxRelDiff !== null && !(r.maxRelDiff <= CHECK_TOLERANCE)) {
      notes.push(`${r.layer} ${r.op}: ours and tfjs disagree (${r.maxRelDiff.toExponential(1)}); no cheap reference to say which is wrong`);
    }
    if (r.oursError) notes.push(`${r.layer} ${r.op} ours fails: ${r.oursError}`);
    if (r.tfjsError) notes.push(`${r.layer} ${r.op} tfjs fails: ${r.tfjsError}`);
  }
  const both = rows.filter((r) => r.oursMs !== null && r.tfjsMs !== null);
  const sum = (f: (r: KernelRow) => number) => both.reduce((a, r) => a + f(r), 0);
  const totals = both.length
    ? `sum over the ${both.length} rows both ran: ours ${sum((r) => r.oursMs!).toFixed(0)} ms, tfjs ${sum((r) => r.tfjsMs!).toFixed(0)} ms ` +
      `(tfjs/ours ${(sum((r) => r.tfjsMs!) / sum((r) => r.oursMs!)).toFixed(2)})`
    : `sum of ours: ${rows.reduce((a, r) => a + (r.oursMs ?? 0), 0).toFixed(0)} ms`;
  return [
    `DC-IGN paper layers, ${batchNote}. Median ms to GPU completion (no readback). ` +
      'rate: GFLOP/s (conv fwd/dx/dw each 2*N*O*Ho*Wo*C*kh*kw, for dec rows on the upsampled map as tfjs runs it; ' +
      'linear 2*N*in*out) or GB/s (nominal input + output bytes). ours exec: GFLOP/s of what our kernels execute, the same ' +
      'but for dec rows (the folded conv: 2*N*(4*O)*(Ho/2)*(Wo/2)*C*kF*kF). dw includes the bias gradient. dec rows (x2 ' +
      'nearest upsampling + conv): tfjs fwd resizeNearestNeighbor + fused.conv2d, dx Conv2DBackpropInput + ' +
      'ResizeNearestNeighborGrad, dw Conv2DBackpropFilter on the upsampled input (kept from the forward) + sum(dy); ours ' +
      'fwd upsampleConv2d (weight fold, folded conv, depth-to-space), dx depth-to-space backward + the folded conv\'s input ' +
      'gradient, dw its weight and bias gradients (from the shuffled gradient the dx row made) + the fold\'s backward. runs: timed runs ours/tfjs after one warm-up; w: the warm-up run alone ' +
      '(over 20 s, compilation included). check: max |ours - tfjs| / max |tfjs| on the warm-up outputs.',
    '',
    body,
    '',
    totals,
    ...notes,
  ].join('\n');
}
