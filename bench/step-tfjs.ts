// The tfjs side of `npm run bench -- step`: bench/tfjs-dcign.ts's step run, timed and measured like
// ours (wall clock with a sync per step, GPU span, the buffer manager's peak), its losses kept for
// the comparison with ours.
import { loadTfjs, submitTfjs, tfBackend, withGpuErrors, type TF } from './tfjs.js';
import { TfDcign, type PeerStepSetup } from './tfjs-dcign.js';
import { network } from '../src/model/network.js';
import { emptyRow, perImage, readLosses, timeSteps, type Losses, type StepFlopCounts, type StepRow } from './step-row.js';
import { fmtMB } from './step-text.js';
import { errText } from './timing.js';

/**
 * One warm-up and `steps` timed steps of tfjs from setup; explicit: the steps were asked for
 * (--tfjs-steps), so a step whose activations exceed the binding limit is run, not reported failing.
 * loaded: tfjs loaded (else the row says why not).
 */
export async function runTfjs(
  setup: PeerStepSetup,
  steps: number,
  flops: StepFlopCounts,
  explicit: boolean,
  log: (l: string) => void,
): Promise<{ row: StepRow; losses: Losses[]; loaded: boolean }> {
  const c = setup.config;
  const N = setup.batch;
  const row = emptyRow('tfjs', c.preset, N, steps, flops);
  let tf: TF;
  try {
    tf = await loadTfjs();
  } catch (e) {
    row.error = `tfjs did not load: ${errText(e)}`;
    return { row, losses: [], loaded: false };
  }
  const backend = tfBackend(tf);
  const device = backend.device;
  const submit = () => submitTfjs(backend);
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
    return { row, losses: [], loaded: true };
  }
  // tfjs's buffer manager counts bytes in use; its peak is followed by wrapping acquireBuffer.
  const bm = backend.bufferManager;
  const acquire = bm.acquireBuffer;
  let peak = bm.numBytesUsed;
  bm.acquireBuffer = (...a: unknown[]) => {
    const b = acquire.apply(bm, a);
    peak = Math.max(peak, bm.numBytesUsed);
    return b;
  };
  let model: TfDcign | null = null;
  let losses: Losses[] = [];
  try {
    model = new TfDcign(tf, setup);
    const t0 = performance.now();
    const warm = await withGpuErrors(device, async () => {
      const l = model!.step();
      submit();
      await device.queue.onSubmittedWorkDone();
      return readLosses(l);
    });
    log(`  tfjs warm-up (compiles pipelines): ${((performance.now() - t0) / 1000).toFixed(1)} s, ${perImage(warm, N)}`);
    peak = bm.numBytesUsed;
    const settle = async () => submit();
    const guard = (run: () => Promise<void>) => withGpuErrors(device, run);
    losses = [warm, ...(await timeSteps(row, { device, settle, step: () => model!.step(), submit, guard }, log))];
    row.peakBytes = peak;
    row.allocatedBytes = bm.numBytesAllocated;
  } catch (e) {
    row.error = errText(e);
    log(`  tfjs fails: ${row.error}`);
    losses = []; // a failed step's numbers mean nothing
  } finally {
    bm.acquireBuffer = acquire;
    model?.dispose();
  }
  return { row, losses, loaded: true };
}
