import { BufferUsage } from './flags.js';
import { GpuAllocationError, opName } from './errors.js';

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/**
 * Rounds a request up to a quarter-octave bucket (256 B minimum), so a freed buffer serves
 * any later request of its bucket while wasting at most 25%.
 */
export function bucketSize(bytes: number): number {
  if (bytes <= 256) return 256;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const quarter = octave / 4;
  return Math.ceil(bytes / quarter) * quarter;
}

export interface PoolStats {
  /** Bytes of every GPU buffer the pool has created and not destroyed. */
  allocatedBytes: number;
  /** Bytes currently handed out. */
  inUseBytes: number;
  /** Highest inUseBytes seen since the last resetPeak(). */
  peakInUseBytes: number;
  buffers: number;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private held: GPUBuffer[] | null = null;
  readonly stats: PoolStats = { allocatedBytes: 0, inUseBytes: 0, peakInUseBytes: 0, buffers: 0 };

  /**
   * `report` receives, for each buffer created, a promise of its allocation error (out of memory
   * or validation) or null; the engine throws the first at its next sync point.
   */
  constructor(private device: GPUDevice, private maxBufferSize: number, private report?: (check: Promise<Error | null>) => void) {}

  acquire(bytes: number, label = 'tensor'): GPUBuffer {
    const size = bucketSize(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`BufferPool: a buffer of ${bytes} bytes exceeds the device's maxBufferSize ${this.maxBufferSize}`);
    }
    let buffer = this.free.get(size)?.pop();
    if (!buffer) {
      // Dawn hands back an unusable buffer instead of throwing; without these scopes the failure
      // would show only as a vague validation error of some later submit. New buffers are made
      // in the first steps only (then the pool reuses them), so the stack read here costs little.
      const op = this.report ? opName(new Error().stack) : null;
      if (this.report) {
        this.device.pushErrorScope('out-of-memory');
        this.device.pushErrorScope('validation');
      }
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      if (this.report) {
        const validation = this.device.popErrorScope();
        const memory = this.device.popErrorScope();
        this.report(
          Promise.all([memory, validation]).then(([m, v]) => {
            const e = m ?? v;
            return e ? new GpuAllocationError(size, label, op, e.message) : null;
          }),
        );
      }
      this.stats.allocatedBytes += size;
      this.stats.buffers++;
    }
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    // Still in use: a recording reads or writes it whenever it runs.
    if (this.held) return void this.held.push(buffer);
    this.stats.inUseBytes -= buffer.size;
    let list = this.free.get(buffer.size);
    if (!list) this.free.set(buffer.size, (list = []));
    list.push(buffer);
  }

  /** Until unhold(), a released buffer is set aside instead of being handed out again. */
  hold(): void {
    if (this.held) throw new Error('BufferPool.hold: already holding');
    this.held = [];
  }

  /** Ends hold(): the buffers released since, to be released again once nothing uses them. */
  unhold(): GPUBuffer[] {
    const held = this.held ?? [];
    this.held = null;
    return held;
  }

  resetPeak(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
  }

  /** Destroys the free buffers (those in use stay). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.allocatedBytes -= b.size;
        this.stats.buffers--;
        b.destroy();
      }
    }
    this.free.clear();
  }
}
