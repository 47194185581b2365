// The jax-js side of `npm run bench -- step`: bench/jax-dcign.ts's jit'd step, timed like ours and
// tfjs's (wall clock per step, GPU span), its losses kept for the comparison with ours. jax-js's
// work is lazy: a step is submitted by waiting for everything it writes.
import { loadJax, type Jax } from './jax.js';
import { JaxDcign } from './jax-dcign.js';
import type { PeerStepSetup } from './tfjs-dcign.js';
import { withGpuErrors } from './tfjs.js';
import { emptyRow, perImage, readLosses, timeSteps, type Losses, type StepFlopCounts, type StepRow } from './step-row.js';
import { errText } from './timing.js';
import { fmtMB } from './step-text.js';

/** A jax-js scalar as readLosses takes it: reading consumes a jax-js array, so it reads a new reference. */
const lossTensor = (a: import('./jax.js').JaxArray) => ({ data: () => a.ref.data(), dispose: () => a.dispose() });

/**
 * The bytes of jax-js's device buffers that are alive (created and not destroyed: its reuse pool
 * included), and their peak, followed by wrapping the device's createBuffer: jax-js reports no
 * memory of its own. Growth from step to step would be a leak of references.
 */
function trackBuffers(device: GPUDevice) {
  const create = device.createBuffer;
  const t = { live: 0, peak: 0, restore: () => void (device.createBuffer = create) };
  device.createBuffer = (d: GPUBufferDescriptor) => {
    const b = create.call(device, d);
    const destroy = b.destroy.bind(b);
    let alive = true;
    t.live += d.size;
    t.peak = Math.max(t.peak, t.live);
    b.destroy = () => {
      if (alive) t.live -= d.size;
      alive = false;
      destroy();
    };
    return b;
  };
  return t;
}

/** One warm-up and `steps` timed steps of jax-js from setup; loaded: jax-js loaded (else the row says why not). */
export async function runJax(setup: PeerStepSetup, steps: number, flops: StepFlopCounts, log: (l: string) => void): Promise<{ row: StepRow; losses: Losses[]; loaded: boolean }> {
  const row = emptyRow('jax', setup.config.preset, setup.batch, steps, flops);
  let jax: Jax;
  try {
    jax = await loadJax();
  } catch (e) {
    row.error = `jax-js did not load: ${errText(e)}`;
    return { row, losses: [], loaded: false };
  }
  const device = jax.getWebGPUDevice();
  let model: JaxDcign | null = null;
  let written: import('./jax.js').JaxArray[] = [];
  let losses: Losses[] = [];
  const step = () => {
    const r = model!.step();
    written = r.written;
    return { bce: lossTensor(r.bce), kl: lossTensor(r.kl) };
  };
  const submit = () => jax.blockUntilReady(written).then(() => {});
  const buffers = trackBuffers(device);
  const liveMB = () => `jax-js device buffers ${fmtMB(buffers.live)}, `;
  try {
    model = new JaxDcign(jax, setup);
    const t0 = performance.now();
    const warm = await withGpuErrors(device, async () => {
      const l = step();
      await submit();
      return readLosses(l);
    });
    log(`  jax-js warm-up (traces and compiles the step): ${((performance.now() - t0) / 1000).toFixed(1)} s, ${perImage(warm, setup.batch)}`);
    const guard = (run: () => Promise<void>) => withGpuErrors(device, run);
    const settle = async () => void (buffers.peak = buffers.live);
    losses = [warm, ...(await timeSteps(row, { device, settle, step, submit, guard, note: liveMB }, log))];
    row.peakBytes = buffers.peak;
    row.allocatedBytes = buffers.live;
  } catch (e) {
    row.error = errText(e);
    log(`  jax-js fails: ${row.error}`);
    losses = []; // a failed step's numbers mean nothing
  } finally {
    buffers.restore();
    model?.dispose();
  }
  return { row, losses, loaded: true };
}
