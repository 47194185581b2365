// GPU failures that must stop work with a message, never leave wrong numbers behind: the device
// lost (driver reset, unplugged GPU, or destroyed from under us) and a buffer the GPU would not
// allocate. Browser-safe.

export class DeviceLostError extends Error {
  constructor(readonly reason: string, detail: string) {
    super(`the GPU device was lost (${reason}${detail ? `: ${detail}` : ''})`);
    this.name = 'DeviceLostError';
  }
}

export class GpuAllocationError extends Error {
  constructor(bytes: number, label: string, op: string | null, detail: string) {
    super(`the GPU could not allocate ${formatBytes(bytes)} for a ${label}${op ? ` in ${op}` : ''} (${detail.split('\n')[0]})`);
    this.name = 'GpuAllocationError';
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 2 ** 30) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 2 ** 30).toFixed(2)} GiB`;
}

// Frames of the allocation machinery itself; the first frame past them is the op that asked.
const PLUMBING = /^(?:new )?_*(?:Tensor|BufferPool|Storage|acquire|empty|fromData|zeros|opName|Object|Array|Map)\b/;

/** The function that asked for a buffer, from the stack (V8's and Firefox's formats), or null. */
export function opName(stack: string | undefined): string | null {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const m = /^\s*at (?:async )?([^\s(]+) \(/.exec(line) ?? /^([^@\s]+)@/.exec(line);
    const name = m?.[1];
    if (name && !PLUMBING.test(name)) return name;
  }
  return null;
}
