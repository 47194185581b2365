// GPU work recorded once and recorded again on demand without the JavaScript that made it
// (Engine.record, Engine.run): an encode is a dozen ops' shape checks, allocations and kernel and
// bind-group lookups, but what reaches the GPU is the same handful of dispatches over the same
// buffers every time. In Chromium on SwiftShader, replaying saved 0.5-1.2 ms of the small
// encoder's 6-7 ms (bench/RESULTS.md).

export type RecordedCommand =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; workgroups: [number, number, number] }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; bytes: number };

/**
 * What Engine.record saw: its commands, the pooled buffers that were released while it recorded
 * (its intermediates, still read and written by the commands, so kept out of the pool until
 * dispose()) and the uniform buffers it wrote once for itself.
 */
export class Recording {
  private disposed = false;

  constructor(
    readonly commands: readonly RecordedCommand[],
    private readonly held: GPUBuffer[],
    private readonly uniforms: GPUBuffer[],
    private readonly giveBack: (buffers: GPUBuffer[]) => void,
  ) {}

  get dispatches(): number {
    return this.commands.filter((c) => c.kind === 'dispatch').length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Returns its intermediates' buffers to the pool and frees its uniforms. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.giveBack(this.held.splice(0));
    for (const u of this.uniforms.splice(0)) u.destroy();
  }
}
