// The tfjs side of `npm run bench -- step`: bench/tfjs-dcign.ts's step run, timed and measured like
// ours (wall clock with a sync per step, GPU span, the buffer manager's peak), its losses kept for
// the comparison with ours.
import { submitTfjs, tfBackend, withGpuErrors, type TF } from './tfjs.js';
import { TfDcign, type TfStepSetup } from './tfjs-dcign.js';
import { network } from '../src/model/network.js';
import { GpuMarks } from './gpu-marks.js';
import { emptyRow, setTimes, type StepFlopCounts, type StepRow } from './step-row.js';
import { fmtMB } from './step-text.js';
import { errText } from './timing.js';

/**
 * One warm-up and `steps` timed steps of tfjs from setup; explicit: the steps were asked for
 * (--tfjs-steps), so a step whose activations exceed the binding limit is run, not reported failing.
 */
export async function runTfjs(
  tf: TF,
  setup: TfStepSetup,
  steps: number,
  flops: StepFlopCounts,
  explicit: boolean,
  log: (l: string) => void,
): Promise<{ row: StepRow; losses: { bce: number; kl: number }[] }> {
  const c = setup.config;
  const N = setup.batch;
  const row = emptyRow('tfjs', c.preset, N, steps, flops);
  const losses: { bce: number; kl: number }[] = [];
  const backend = tfBackend(tf);
  const device = backend.device;
  const submit = () => submitTfjs(backend);
  // tfjs's buffer manager counts bytes in use; its peak is followed by wrapping acquireBuffer.
  const bm = backend.bufferManager;
  const acquire = bm.acquireBuffer;
  let peak = bm.numBytesUsed;
  bm.acquireBuffer = (...a: unknown[]) => {
    const b = acquire.apply(bm, a);
    peak = Math.max(peak, bm.numBytesUsed);
    return b;
  };
  // tfjs binds every tensor whole: an activation above the storage-binding limit fails validation
  // (measured at paper batch 20 on lavapipe after a ~20 minute step). Unless asked for explicitly
  // (--tfjs-steps), such a step is reported as failing without running it.
  const limit = device.limits.maxStorageBufferBindingSize;
  const tooBig = network(c).directActivations.filter((a) => a.perImage * N * 4 > limit);
  if (tooBig.length && !explicit) {
    row.error =
      `${tooBig.map((a) => `${a.name} [${N},${a.shape.join(',')}] (${fmtMB(a.perImage * N * 4)})`).join(', ')} above the ` +
      `${limit}-byte storage binding limit, and tfjs binds whole tensors (not run; --tfjs-steps N runs it and catches the error)`;
    log(`  tfjs fails: ${row.error}`);
    return { row, losses };
  }
  const marks = GpuMarks.available(device) ? new GpuMarks(device, 2) : null;
  const gpuMs: number[] = [];
  let model: TfDcign | null = null;
  const readLosses = async ([bce, kl]: [import('@tensorflow/tfjs').Scalar, import('@tensorflow/tfjs').Scalar]) => {
    const r = { bce: (await bce.data())[0]!, kl: (await kl.data())[0]! };
    bce.dispose();
    kl.dispose();
    if (!Number.isFinite(r.bce) || !Number.isFinite(r.kl)) throw new Error(`non-finite loss at step ${losses.length + 1}: bce ${r.bce}, kl ${r.kl}`);
    losses.push(r);
    return r;
  };
  try {
    model = new TfDcign(tf, setup);
    let t0 = performance.now();
    await withGpuErrors(device, async () => {
      const l = model!.step();
      submit();
      await device.queue.onSubmittedWorkDone();
      await readLosses(l);
    });
    const wl = losses[0]!;
    log(`  tfjs warm-up (compiles pipelines): ${((performance.now() - t0) / 1000).toFixed(1)} s, bce/image ${(wl.bce / N).toFixed(1)}, kl/image ${(wl.kl / N).toFixed(3)}`);
    peak = bm.numBytesUsed;
    for (let i = 1; i <= steps; i++) {
      let ms = 0;
      await withGpuErrors(device, async () => {
        t0 = performance.now();
        submit();
        marks?.mark();
        const l = model!.step();
        submit();
        marks?.mark();
        await device.queue.onSubmittedWorkDone();
        ms = performance.now() - t0;
        if (marks) gpuMs.push((await marks.collect())[1]!);
        const r = await readLosses(l);
        row.stepMs.push(ms);
        log(`  tfjs step ${i}/${steps}: ${ms.toFixed(0)} ms${marks ? ` (GPU span ${gpuMs[gpuMs.length - 1]!.toFixed(0)} ms)` : ''}, bce/image ${(r.bce / N).toFixed(1)}, kl/image ${(r.kl / N).toFixed(3)}`);
      });
    }
    setTimes(row, gpuMs);
    row.peakBytes = peak;
    row.allocatedBytes = bm.numBytesAllocated;
  } catch (e) {
    row.error = errText(e);
    log(`  tfjs fails: ${row.error}`);
    losses.length = 0; // a failed step's numbers mean nothing
  } finally {
    bm.acquireBuffer = acquire;
    marks?.destroy();
    model?.dispose();
  }
  const last = losses[losses.length - 1];
  if (last) {
    row.bcePerImage = last.bce / N;
    row.klPerImage = last.kl / N;
  }
  return { row, losses };
}
