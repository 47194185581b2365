// Failures on purpose, for the tests of what a run leaves behind when things go wrong (Node).
// DCIGN_FAULT=KIND@STEP makes `npm run train` meet KIND right after step STEP:
//   device-lost  the GPU device is destroyed from under the trainer, as a driver reset would
//   oom          the pool's buffers are freed and the next one the GPU is asked for fails
//   enospc       the next write of model.safetensors stops halfway with ENOSPC (disk full)
// Not for users: nothing in --help mentions it.
import type { Engine } from '../gpu/engine.js';
import { writeFaults } from './files.js';
import { MODEL_FILE } from './state.js';

const KINDS = ['device-lost', 'oom', 'enospc'] as const;
export type FaultKind = (typeof KINDS)[number];

export interface Fault {
  kind: FaultKind;
  step: number;
}

export function parseFault(spec: string | undefined): Fault | null {
  if (!spec) return null;
  const m = /^([a-z-]+)@(\d+)$/.exec(spec);
  if (!m || !(KINDS as readonly string[]).includes(m[1]!)) {
    throw new Error(`DCIGN_FAULT must be KIND@STEP with KIND one of ${KINDS.join(', ')}, got "${spec}"`);
  }
  return { kind: m[1] as FaultKind, step: Number(m[2]) };
}

/** A per-step hook that injects `fault` once, after its step. */
export function faultHook(fault: Fault | null, engine: Engine): (step: number) => void {
  if (!fault) return () => {};
  return (step) => {
    if (step !== fault.step) return;
    if (fault.kind === 'device-lost') engine.device.destroy();
    if (fault.kind === 'enospc') writeFaults.enospcAt = MODEL_FILE;
    if (fault.kind === 'oom') failNextAllocation(engine);
  };
}

/**
 * Frees the pool's idle buffers, so the next step must allocate again, and makes the first of
 * those allocations ask Dawn for more than the device allows: Dawn's own error, through the
 * pool's error scopes, as a real out-of-memory would go.
 */
function failNextAllocation(engine: Engine): void {
  engine.pool.trim();
  const device = engine.device;
  const real = device.createBuffer;
  device.createBuffer = function (this: GPUDevice, descriptor: GPUBufferDescriptor): GPUBuffer {
    device.createBuffer = real;
    return real.call(this, { ...descriptor, size: device.limits.maxBufferSize + 4 });
  };
}
