// GPU timestamps on a device's queue: `npm run bench -- step`'s GPU span and its --profile, and
// the convolution autotune's timings (src/gpu/autotune.ts).
import { BufferUsage, MapMode } from './flags.js';

/**
 * Timestamps from empty compute passes submitted on a device's queue: the queue runs in order, so
 * the difference between two marks spans everything submitted between them.
 */
export class GpuMarks {
  private readonly set: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly read: GPUBuffer;
  private used = 0;
  constructor(private readonly device: GPUDevice, readonly capacity: number) {
    this.set = device.createQuerySet({ type: 'timestamp', count: capacity });
    this.resolve = device.createBuffer({ size: capacity * 8, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
    this.read = device.createBuffer({ size: capacity * 8, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  }
  static available(device: GPUDevice): boolean {
    return device.features.has('timestamp-query');
  }
  /** Submits a mark; returns its index, or -1 when the set is full. */
  mark(): number {
    if (this.used >= this.capacity) return -1;
    const enc = this.device.createCommandEncoder({ label: 'mark' });
    enc.beginComputePass({ timestampWrites: { querySet: this.set, beginningOfPassWriteIndex: this.used } }).end();
    this.device.queue.submit([enc.finish()]);
    return this.used++;
  }
  /** Waits for the marks so far and returns them in ms (relative to the first); resets the set. */
  async collect(): Promise<number[]> {
    const n = this.used;
    this.used = 0;
    if (!n) return [];
    const enc = this.device.createCommandEncoder({ label: 'marks' });
    enc.resolveQuerySet(this.set, 0, n, this.resolve, 0);
    enc.copyBufferToBuffer(this.resolve, 0, this.read, 0, n * 8);
    this.device.queue.submit([enc.finish()]);
    await this.read.mapAsync(MapMode.READ, 0, n * 8);
    const ts = new BigUint64Array(this.read.getMappedRange(0, n * 8).slice(0));
    this.read.unmap();
    return [...ts].map((t) => Number(t - ts[0]!) / 1e6);
  }
  destroy(): void {
    this.set.destroy();
    this.resolve.destroy();
    this.read.destroy();
  }
}
