// How `npm run train` reports a run stopped by a failure it can name: one line that says what
// happened and, read from disk, which checkpoint survives; and its own exit code.
import { DeviceLostError, GpuAllocationError } from '../gpu/errors.js';
import { CheckpointWriteError } from '../train/state.js';
import { NonFiniteLossError } from '../train/trainer.js';
import { checkpointStep, describeCheckpoint } from '../train/run-folder.js';

export const EXIT = { nonFinite: 3, deviceLost: 4, checkpointWrite: 5, gpuAllocation: 6 } as const;

/** The message and exit code for a known failure of a run writing to `out`; null for anything else. */
export function describeFailure(e: unknown, out: string): { message: string; code: number } | null {
  if (e instanceof NonFiniteLossError) return { message: e.message, code: EXIT.nonFinite };
  const onDisk = describeCheckpoint(out);
  const resume = checkpointStep(out) === null ? '' : `; continue with --resume ${out}`;
  if (e instanceof CheckpointWriteError) {
    return { message: `${e.message}; training stopped, and ${onDisk}, intact${resume}`, code: EXIT.checkpointWrite };
  }
  if (e instanceof DeviceLostError) return { message: `${e.message}; training stopped, and ${onDisk}${resume}`, code: EXIT.deviceLost };
  if (e instanceof GpuAllocationError) return { message: `${e.message}; training stopped, and ${onDisk}${resume}`, code: EXIT.gpuAllocation };
  return null;
}
