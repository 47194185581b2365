// `npm run bench -- kernels`: every DC-IGN layer at the paper's shapes, forward and both gradients,
// ours vs tfjs-backend-webgpu and jax-js on the same data (kernel-cases.ts). The first run of each
// row also compares the results (tfjs with ours, jax-js with ours), so that a mis-posed peer call
// or a wrong kernel shows as a check failure, not as a timing. bench/RESULTS.md says how the rows are timed and what the rates count.
import type { Tensor, Engine } from '../src/node.js';
import { loadTfjs, submitTfjs, tfBackend, withGpuErrors, type TF } from './tfjs.js';
import { optionalJax, settleJax, type Jax } from './jax.js';
import type { JaxOp } from './jax-layers.js';
import { errText, table, timeIt, type Timing } from './timing.js';
import { LAYER_NAMES, layerCases, Operands, paperLayers, type TfOp, type Unit } from './kernel-cases.js';
import { maxRelDiff } from './peer-data.js';
import type { BenchOptions } from './options.js';

export interface KernelRow {
  layer: string;
  /** fwd, dx, dw (weight and bias gradient together), or bwd for pooling. */
  op: string;
  /** The convolution variant(s) our side ran ('-': no convolution), as engine.autotune.used says. */
  conv: string;
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
  jaxMs: number | null;
  jaxRate: number | null;
  jaxIters: number;
  jaxError?: string;
  /** jax-js ms / ours ms: above 1, ours is faster. */
  jaxRatio: number | null;
  /** Largest |jax - ours| over the largest |jax|, over every output of the row (as maxRelDiff for tfjs). */
  jaxMaxRelDiff: number | null;
  /** When jax-js and ours disagree and a CPU reference is cheap: jax-js's difference from it. */
  jaxRefDiff?: number;
}

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

/** iterations 0: the time is the warm-up run's (first run, compilation included). */
type Measured = Timing & { data: Float32Array[] | null };

/**
 * One warm-up run (compiles; its outputs, read back after the timing point, feed the check), then
 * timed runs of start + finish with every output disposed (after finish: jax-js's outputs are
 * lazy, and one disposed before it waits would drop its work).
 */
async function measure<T extends { dispose(): void }>(
  start: () => T[],
  finish: (outs: T[]) => Promise<void>,
  read: (outs: T[]) => Promise<Float32Array[]>,
  wantData: boolean,
  afterWarmUp?: () => Promise<void>,
): Promise<Measured> {
  const t0 = performance.now();
  const outs = start();
  await finish(outs);
  const warm = performance.now() - t0;
  await afterWarmUp?.();
  const data = wantData ? await read(outs) : null;
  for (const o of outs) o.dispose();
  if (warm > SINGLE_RUN_MS) return { ms: warm, iterations: 0, data };
  const run = async () => {
    const outs = start();
    await finish(outs);
    for (const o of outs) o.dispose();
  };
  return { ...(await timeIt(run, { warmup: 0, ...timingFor(warm) })), data };
}

// With --conv-variant auto the warm-up runs untuned shapes with the fallback; the autotune then
// times the candidates, and the timed runs use its pick.
const measureOurs = (engine: Engine, run: () => Tensor[], wantData: boolean, log: (line: string) => void) =>
  measure(run, () => engine.sync(), (outs) => Promise.all(outs.map(async (o) => (o.dtype === 'f32' ? ((await o.read()) as Float32Array) : new Float32Array(0)))), wantData,
    () => engine.autotune.settle((l) => log(`    ${l}`)));

function measureTfjs(tf: TF, op: TfOp, wantData: boolean): Promise<Measured> {
  const backend = tfBackend(tf);
  const fence = async () => {
    submitTfjs(backend);
    await backend.device.queue.onSubmittedWorkDone();
  };
  return withGpuErrors(backend.device, () =>
    measure(op.run, fence, (outs) => Promise.all(outs.map(async (o, i) => op.toOurs[i]!((await o.data()) as Float32Array))), wantData),
  );
}

/** jax-js reads an output by consuming it: the warm-up's outputs are read through new references. */
const measureJax = (jax: Jax, op: JaxOp, wantData: boolean) =>
  measure(op.run, (outs) => settleJax(jax, outs), (outs) => Promise.all(outs.map(async (o) => (await o.ref.data()) as Float32Array)), wantData);

// ---- the bench ---------------------------------------------------------------------------

export async function benchKernels(engine: Engine, opts: BenchOptions = {}) {
  // The paper's batch is 20; a software adapter defaults to 4.
  const batch = opts.batch ?? (engine.software ? 4 : 20);
  const batchNote =
    opts.batch !== undefined
      ? `batch ${batch} (--batch)`
      : engine.software
        ? `batch ${batch} (default on a software adapter; the paper's batch is 20: --batch 20)`
        : `batch ${batch} (the paper's batch; default on a hardware adapter)`;
  const log = opts.log ?? (() => {});
  const unknown = opts.layers?.filter((n) => !LAYER_NAMES.includes(n)) ?? [];
  if (unknown.length) throw new Error(`unknown layer(s) ${unknown.join(', ')}; choose from ${LAYER_NAMES.join(', ')}`);
  const layers = paperLayers().filter((l) => !opts.layers || opts.layers.includes(l.name));
  const tf = opts.tfjs === false ? null : await loadTfjs();
  const { jax, why: jaxWhy, device: jaxDevice } = await optionalJax(opts.jax !== false);
  const check = (opts.check ?? true) && (tf !== null || jax !== null);
  log(`kernels: ${batchNote}; layers ${layers.map((l) => l.name).join(' ')}${tf ? '' : '; tfjs off'}${jax ? '' : `; jax-js off${jaxWhy ? ` (${jaxWhy})` : ''}`}`);

  const rows: KernelRow[] = [];
  let seed = 1;
  for (const layer of layers) {
    const io = new Operands(engine, tf, jax, (seed += 10));
    try {
      const cases = layerCases(layer, batch, io);
      await engine.sync();
      for (const c of cases) {
        const row: KernelRow = {
          layer: c.layer, op: c.op, conv: '-', shape: c.shape, batch, unit: c.unit, work: c.work, executedWork: c.executedWork ?? c.work,
          oursMs: null, oursRate: null, oursExecutedRate: null, oursIters: 0, tfjsMs: null, tfjsRate: null, tfjsIters: 0, ratio: null, maxRelDiff: null,
          jaxMs: null, jaxRate: null, jaxIters: 0, jaxRatio: null, jaxMaxRelDiff: null
        };
        // One side's time, timed runs and rate into the row, or its error; returns its warm-up outputs.
        const side = async (name: 'ours' | 'tfjs' | 'jax', m: () => Promise<Measured>) => {
          try {
            const r = await m();
            row[`${name}Ms` as const] = r.ms;
            row[`${name}Iters` as const] = r.iterations;
            row[`${name}Rate` as const] = c.work / r.ms / 1e6;
            return r.data;
          } catch (e) {
            row[`${name}Error` as const] = errText(e);
            return null;
          }
        };
        engine.autotune.used.clear();
        const ours = await side('ours', () => measureOurs(engine, c.ours, check, log));
        row.conv = [...new Set(engine.autotune.used.values())].join('+') || '-';
        if (row.oursMs !== null && c.unit === 'GFLOP/s') row.oursExecutedRate = row.executedWork / row.oursMs / 1e6;
        const theirs = tf && c.tfjs ? await side('tfjs', () => measureTfjs(tf, c.tfjs!, check)) : null;
        const jaxOut = jax && c.jax ? await side('jax', () => measureJax(jax, c.jax!, check)) : null;
        // Our pooling forward also returns the u32 argmax indices: compare values only (the peer's outputs).
        const diff = (a: Float32Array[], b: Float32Array[]) => Math.max(...b.map((ref, i) => maxRelDiff(a[i]!, ref)));
        let reference: Float32Array[] | null = null;
        for (const [peer, out] of [['tfjs', theirs], ['jax', jaxOut]] as const) {
          if (!ours || !out) continue;
          const f = PEERS[peer];
          row[f.rel] = diff(ours, out);
          if (!(row[f.rel]! <= CHECK_TOLERANCE) && c.reference) {
            reference ??= c.reference();
            row.oursRefDiff = diff(ours, reference);
            row[f.ref] = diff(out, reference);
            if (c.referenceNote) row.referenceNote = c.referenceNote();
          }
        }
        if (row.oursMs && row.tfjsMs) row.ratio = row.tfjsMs / row.oursMs;
        if (row.oursMs && row.jaxMs) row.jaxRatio = row.jaxMs / row.oursMs;
        rows.push(row);
        log(
          `  ${row.layer} ${row.op}${row.conv === '-' ? '' : ` (${row.conv})`}: ours ${row.oursMs?.toFixed(1) ?? `fails (${row.oursError})`} ms, ` +
            `tfjs ${tf ? (row.tfjsMs?.toFixed(1) ?? `fails (${row.tfjsError})`) : '-'} ms` +
            (row.maxRelDiff !== null ? `, rel diff ${row.maxRelDiff.toExponential(1)}` : '') +
            `, jax-js ${jax ? (row.jaxMs?.toFixed(1) ?? `fails (${row.jaxError})`) : '-'} ms` +
            (row.jaxMaxRelDiff !== null ? `, rel diff ${row.jaxMaxRelDiff.toExponential(1)}` : ''),
        );
      }
    } finally {
      io.dispose();
      await engine.sync();
    }
  }
  const text = kernelsTable(rows, batchNote, tf !== null, jax !== null);
  return { batch, batchNote, rows, text: [text, jaxDevice ?? jaxWhy].filter(Boolean).join('\n') };
}

/** Where a row keeps each peer's comparison with ours, and the peer's name in the table. */
const PEERS = {
  tfjs: { rel: 'maxRelDiff', ref: 'tfjsRefDiff', name: 'tfjs' },
  jax: { rel: 'jaxMaxRelDiff', ref: 'jaxRefDiff', name: 'jax-js' },
} as const;

/** A row's check cell for one peer, and the note under the table when the peer and ours disagree. */
function checkOf(r: KernelRow, peer: keyof typeof PEERS): { cell: string; note?: string } {
  const { rel, ref, name } = PEERS[peer];
  const d = r[rel];
  if (d === null) return { cell: '-' };
  if (d <= CHECK_TOLERANCE) return { cell: `ok ${d.toExponential(0)}` };
  const disagree = `${r.layer} ${r.op}: ours and ${name} disagree (${d.toExponential(1)})`;
  const theirs = r[ref];
  if (r.oursRefDiff === undefined || theirs === undefined) {
    return { cell: `DIFF ${d.toExponential(0)}`, note: `${disagree}; no cheap reference to say which is wrong` };
  }
  const oursOk = r.oursRefDiff <= CHECK_TOLERANCE;
  const theirsOk = theirs <= CHECK_TOLERANCE;
  return {
    cell: oursOk === theirsOk ? 'DIFF: both off' : `DIFF: ${oursOk ? name : 'ours'} wrong`,
    note:
      `${disagree}; against a float64 CPU reference ours ${r.oursRefDiff.toExponential(1)}, ${name} ${theirs.toExponential(1)}` +
      (r.referenceNote ? ` (${r.referenceNote})` : ''),
  };
}

/** "sum over the N rows ours and PEER ran: ...", or null when there are none. */
function peerTotals(rows: KernelRow[], name: string, ms: (r: KernelRow) => number | null): string | null {
  const ran = rows.filter((r) => r.oursMs !== null && ms(r) !== null);
  if (!ran.length) return null;
  const ours = ran.reduce((a, r) => a + r.oursMs!, 0);
  const theirs = ran.reduce((a, r) => a + ms(r)!, 0);
  return `sum over the ${ran.length} rows ours and ${name} ran: ours ${ours.toFixed(0)} ms, ${name} ${theirs.toFixed(0)} ms (${name}/ours ${(theirs / ours).toFixed(2)})`;
}

function kernelsTable(rows: KernelRow[], batchNote: string, withTfjs: boolean, withJax: boolean): string {
  const runs = (ms: number | null, iters: number) => (ms === null ? '-' : iters === 0 ? 'w' : String(iters));
  const body = table(
    ['layer', 'op', 'conv', 'shape (NCHW)', 'unit', 'ours ms', 'ours rate', 'ours exec', 'tfjs ms', 'tfjs rate', 'tfjs/ours', 'jax ms', 'jax/ours', 'runs', 'check', 'jax check'],
    rows.map((r) => [
      r.layer,
      r.op,
      r.conv,
      r.shape,
      r.unit,
      r.oursMs ?? 'fails',
      r.oursRate ?? '-',
      r.oursExecutedRate ?? '-',
      withTfjs ? (r.tfjsMs ?? 'fails') : '-',
      r.tfjsRate ?? '-',
      r.ratio ?? '-',
      withJax ? (r.jaxMs ?? 'fails') : '-',
      r.jaxRatio ?? '-',
      `${runs(r.oursMs, r.oursIters)}/${withTfjs ? runs(r.tfjsMs, r.tfjsIters) : '-'}/${withJax ? runs(r.jaxMs, r.jaxIters) : '-'}`,
      checkOf(r, 'tfjs').cell,
      checkOf(r, 'jax').cell,
    ]),
  );
  const notes = rows.flatMap((r) => [
    checkOf(r, 'tfjs').note,
    checkOf(r, 'jax').note,
    r.oursError && `${r.layer} ${r.op} ours fails: ${r.oursError}`,
    r.tfjsError && `${r.layer} ${r.op} tfjs fails: ${r.tfjsError}`,
    r.jaxError && `${r.layer} ${r.op} jax-js fails: ${r.jaxError}`,
  ]);
  const totals =
    peerTotals(rows, 'tfjs', (r) => r.tfjsMs) ?? `sum of ours: ${rows.reduce((a, r) => a + (r.oursMs ?? 0), 0).toFixed(0)} ms`;
  const jaxTotals = peerTotals(rows, 'jax-js', (r) => r.jaxMs);
  return [
    `DC-IGN paper layers, ${batchNote}: median ms to GPU completion; rates, runs and checks as bench/RESULTS.md (Kernels) says; conv: the convolution variant ours ran.`,
    '',
    body,
    '',
    totals,
    ...(jaxTotals ? [jaxTotals] : []),
    ...notes.filter((n) => n),
  ].join('\n');
}
