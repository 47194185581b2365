// A row of `npm run bench -- step`'s result: one framework's measured step, and what fills it in.
import { median } from './timing.js';

export interface StepRow {
  framework: 'ours' | 'tfjs';
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
    peakBytes: null, allocatedBytes: null, bcePerImage: null, klPerImage: null,
  };
}

/** Sets the median step time and both rates from the row's step times. */
export function setTimes(row: StepRow, gpuMs: number[]): void {
  row.msPerStep = median(row.stepMs);
  row.gflops = row.flopsPerStep / row.msPerStep / 1e6;
  row.executedGflops = row.executedFlopsPerStep / row.msPerStep / 1e6;
  row.gpuMsPerStep = gpuMs.length ? median(gpuMs) : null;
}

/** Largest relative difference of the per-step losses, ours vs tfjs, over the steps both ran. */
export type LossCheck = { steps: number; maxRelDiff: number };
