// A row of `npm run bench -- step`'s result: one framework's measured step, and what fills it in.
import { GpuMarks } from '../src/gpu/marks.js';
import { median } from '../src/eval/abc.js';

export interface StepRow {
  framework: 'ours' | 'tfjs' | 'jax' | 'pytorch';
  preset: string;
  batch: number;
  warmup: number;
  steps: number;
  /** Median wall-clock ms per step (sync per step), null when it failed. */
  msPerStep: number | null;
  stepMs: number[];
  /** Median GPU-timestamp span per step, null without timestamp-query. */
  gpuMsPerStep: number | null;
  /** Nominal FLOPs per step (the paper's network run directly, see FLOPS_NOTE) and GFLOP/s from them: comparable across frameworks. */
  flopsPerStep: number;
  gflops: number | null;
  /**
   * FLOPs this framework's kernels execute per step and GFLOP/s from them: ours runs the decoder
   * convolutions folded (upsampleConv2d); tfjs runs the network directly, so its are the nominal.
   */
  executedFlopsPerStep: number;
  executedGflops: number | null;
  /** Ours: buffer pool peakInUseBytes over a timed step; tfjs: its buffer manager's peak numBytesUsed. */
  peakBytes: number | null;
  /** Ours: pool allocatedBytes after the timed steps; tfjs: numBytesAllocatedInGPU. */
  allocatedBytes: number | null;
  /** Ours: GPU dispatches, buffer copies and clears, and queue submits one training step records (tfjs: null). */
  dispatchesPerStep: number | null;
  copiesPerStep: number | null;
  submitsPerStep: number | null;
  /** Losses per image of the last step run. */
  bcePerImage: number | null;
  klPerImage: number | null;
  error?: string;
}

export type StepFlopCounts = { nominal: number; executed: number };

/** A row with nothing measured yet. */
export function emptyRow(framework: StepRow['framework'], preset: string, batch: number, steps: number, flops: StepFlopCounts): StepRow {
  return {
    framework, preset, batch, warmup: 1, steps, msPerStep: null, stepMs: [], gpuMsPerStep: null,
    flopsPerStep: flops.nominal, gflops: null, executedFlopsPerStep: flops.executed, executedGflops: null,
    peakBytes: null, allocatedBytes: null, dispatchesPerStep: null, copiesPerStep: null, submitsPerStep: null, bcePerImage: null, klPerImage: null,
  };
}

export type Losses = { bce: number; kl: number };

/** The losses per image, as the progress lines give them. */
export const perImage = (l: Losses, N: number) => `bce/image ${(l.bce / N).toFixed(1)}, kl/image ${(l.kl / N).toFixed(3)}`;

type LossTensor = { data(): Promise<ArrayLike<number>>; dispose(): void };
/** A step's two loss scalars, still on the device. */
type LossTensors = { bce: LossTensor; kl: LossTensor };

/** Reads a step's two loss scalars and disposes them; a non-finite loss fails the step. */
export async function readLosses(l: LossTensors): Promise<Losses> {
  const [bce, kl] = await Promise.all([l.bce.data(), l.kl.data()]);
  l.bce.dispose();
  l.kl.dispose();
  const r = { bce: bce[0]!, kl: kl[0]! };
  if (!Number.isFinite(r.bce) || !Number.isFinite(r.kl)) throw new Error(`non-finite loss: bce ${r.bce}, kl ${r.kl}`);
  return r;
}

/** How a framework runs one timed step, for timeSteps. */
export interface StepRunner {
  device: GPUDevice;
  /** Before the clock starts: the work recorded so far submitted (ours: and done). */
  settle: () => Promise<void>;
  /** Records one step and returns its losses. */
  step: (i: number) => LossTensors;
  /** Submits what the step recorded (jax-js: dispatches its lazy work, and waits for it). */
  submit: () => void | Promise<void>;
  /** Said after the step's time (ours: the pool's peak). */
  note?: () => string;
  /** Wraps each step (tfjs: GPU error scopes). */
  guard?: (run: () => Promise<void>) => Promise<void>;
}

/**
 * row.steps timed steps into row: wall clock with a sync per step (no readback inside), and the
 * GPU span between timestamps written before and after the step where the device has them. The
 * median step time and both rates are set from them; returns each step's losses.
 */
export async function timeSteps(row: StepRow, r: StepRunner, log: (l: string) => void): Promise<Losses[]> {
  const marks = GpuMarks.available(r.device) ? new GpuMarks(r.device, 2) : null;
  const gpuMs: number[] = [];
  const losses: Losses[] = [];
  try {
    for (let i = 1; i <= row.steps; i++) {
      const one = async () => {
        await r.settle();
        const t0 = performance.now();
        marks?.mark();
        const l = r.step(i);
        await r.submit();
        marks?.mark();
        await r.device.queue.onSubmittedWorkDone();
        const ms = performance.now() - t0;
        const note = r.note?.() ?? '';
        if (marks) gpuMs.push((await marks.collect())[1]!);
        losses.push(await readLosses(l));
        row.stepMs.push(ms);
        const span = marks ? ` (GPU span ${gpuMs[gpuMs.length - 1]!.toFixed(0)} ms)` : '';
        log(`  ${row.framework} step ${i}/${row.steps}: ${ms.toFixed(0)} ms${span}, ${note}${perImage(losses[i - 1]!, row.batch)}`);
      };
      await (r.guard ? r.guard(one) : one());
    }
  } finally {
    marks?.destroy();
  }
  row.msPerStep = median(row.stepMs);
  row.gflops = row.flopsPerStep / row.msPerStep / 1e6;
  row.executedGflops = row.executedFlopsPerStep / row.msPerStep / 1e6;
  row.gpuMsPerStep = gpuMs.length ? median(gpuMs) : null;
  const last = losses[losses.length - 1]!;
  row.bcePerImage = last.bce / row.batch;
  row.klPerImage = last.kl / row.batch;
  return losses;
}

/** Largest relative difference of the per-step losses, ours vs a peer, over the steps both ran. */
export type LossCheck = { steps: number; maxRelDiff: number };

/** Ours' per-step losses against a peer's from the same start; null when the peer ran no step. */
export function compareLosses(ours: Losses[], theirs: Losses[]): LossCheck | null {
  const both = Math.min(ours.length, theirs.length);
  if (!both) return null;
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
  const diffs = ours.slice(0, both).flatMap((o, i) => [rel(o.bce, theirs[i]!.bce), rel(o.kl, theirs[i]!.kl)]);
  return { steps: both, maxRelDiff: Math.max(...diffs) };
}
/** The 1-minute load average before and after a side ran. */
export type Load = [start: number, end: number];
