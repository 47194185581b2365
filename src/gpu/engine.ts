// The runtime every kernel goes through: one device, a buffer pool, a pipeline cache and a
// recorder that puts consecutive dispatches into one compute pass and submits only at flush().
import type { AcquiredDevice } from './device.js';
import { BufferUsage, MapMode } from './flags.js';
import { BufferPool } from './pool.js';
import { DeviceLostError } from './errors.js';
import { PipelineCache, type CompiledKernel, type KernelSpec } from './pipelines.js';
import { Autotune, type ConvChoice } from './autotune.js';
import { Recording, type RecordedCommand } from './recording.js';

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchArgs {
  /** Packed uniform block, bound at @binding(0) when given; storage bindings follow it. */
  uniforms?: ArrayBuffer;
  bindings: Binding[];
  workgroups: [number, number?, number?];
}

export interface EngineStats {
  submits: number;
  dispatches: number;
  /** Buffer copies and clears recorded between dispatches (each ends a compute pass). */
  copies: number;
  readbacks: number;
  uploads: number;
}

const ARENA_CHUNK = 64 * 1024;

/** What record() has seen so far: its commands and the uniform buffers it wrote. */
type Recorder = { commands: RecordedCommand[]; uniforms: GPUBuffer[] };
// Bind groups kept for reuse, at most this many (all are dropped when the cache fills).
const MAX_BIND_GROUPS = 4096;

export class Engine {
  readonly device: GPUDevice;
  readonly limits: GPUSupportedLimits;
  readonly features: Set<string>;
  readonly report: string;
  /** Running on a CPU implementation of WebGPU. */
  readonly software: boolean;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly stats: EngineStats = { submits: 0, dispatches: 0, copies: 0, readbacks: 0, uploads: 0 };
  /** Largest storage binding in bytes; kernels split work over tensors larger than this. */
  readonly maxBinding: number;
  /**
   * The convolution kernels (src/kernels/conv2d.ts): one variant, or 'auto' for the autotune's
   * pick. Default register on software adapters (the variant made for them; tuning would only
   * cost time), auto on hardware ones.
   */
  convVariant: ConvChoice;
  /**
   * Whether convolution kernels may give a lane two output rows (the row pairs of large
   * convolutions, conv2dPool's fused pooling). Default: yes, except on SwiftShader (Chromium's CPU
   * WebGPU): there they make the small encoder's first call slower (488 against about 330 ms) and
   * a warm one no faster (24.8 against 25.0 ms; Chromium 156, 2026-12-07, with loads shared by 4
   * lanes; before that sharing its compiler took 18 s over them).
   */
  twoRowConv: boolean;
  /**
   * Whether small convolutions (tests, one image) take the register blocks that run fastest rather
   * than the 4 x 4 ones that compile fastest. Default: on SwiftShader only, whose compiler is quick
   * (the small encoder's first call 369 against 347 ms) and where the encode of one image ran
   * 24.3 -> 22.2 ms with them (Chromium 156, 2026-12-07); lavapipe's LLVM takes 2-5 s over an
   * 8 x 8 block against 0.3 s for 4 x 4.
   */
  quickCompile: boolean;
  /**
   * Whether conv2dPool, when it records no gradient, takes the forward-only kernel of
   * shaders/conv2d-pooled.wgsl (no argmax; a subgroup's lanes splitting the channels of valid
   * layers, else a lane per block of positions). Default: on SwiftShader only, where the small
   * encoder's three layers and their pooling passes went from about 14 to 3.6-4.2 ms (Chromium
   * 156, 2026-12-07) for a first call about 2 s longer (the unrolled bodies' compilation).
   * lavapipe takes seconds to compile each body.
   */
  pooledConv: boolean;
  /**
   * Whether products of at most 4 rows (a linear layer on one to four images) take the kernel of a
   * lane per four columns (shaders/matmul.wgsl, FEW_ROWS) rather than the register blocks.
   * Default: on SwiftShader only, which keeps the blocks' arrays in memory (the small encoder's
   * head of one image 1.7 -> 0.3 ms; Chromium 156, 2026-12-07). lavapipe keeps them in registers
   * and runs the blocks as fast or faster (1 x 3600 x 32: 0.23-0.28 against 0.26-0.32 ms; 4 x
   * 10800 x 200: 1.1-1.4 against 1.6-1.8 ms).
   */
  fewRowMatmul: boolean;
  /**
   * How many lanes of a subgroup share the register convolution kernels' loads through
   * subgroupBroadcast, each loading one value in that many (0: none, every lane loads every
   * value). By adapter: 8 where subgroups have at least 8 lanes (lavapipe, GPUs), 4 where they
   * have 4 (SwiftShader), 0 without subgroups. Fewer than a subgroup's lanes is always valid.
   */
  sharedLanes: 0 | 4 | 8;
  /** Variant picks by timing, per adapter; await autotune.settle() to time what ran untuned. */
  readonly autotune: Autotune;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  // Uniform blocks of the batch being recorded, copied to the GPU just before submit.
  private arena: { buffer: GPUBuffer; cpu: Uint8Array<ArrayBuffer>; used: number }[] = [];
  private arenaIndex = 0;
  private uniformAlign: number;
  private staging = new Map<number, GPUBuffer[]>();
  // Bind groups by kernel and bound ranges. A training step or an encode records the same
  // dispatches on the same pooled buffers (and uniform slots) every time, and creating a bind
  // group was two thirds of a dispatch's recording time (the small step at batch 20 in Node on
  // lavapipe: 0.81 of 1.24 ms a step). A buffer's id is never reused, so a group that binds a
  // destroyed buffer is never found again.
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  private destroyed = false;
  /** Set when the device is lost other than by destroy(); every later submit or readback throws. */
  lostInfo: { reason: string; message: string } | null = null;
  private acquired: AcquiredDevice | null;
  /** Set during precompile(): the compilations it started (one promise per pipeline). */
  private dryRun: Set<Promise<void>> | null = null;
  /** Set during record(). */
  private recorder: Recorder | null = null;

  constructor(acquired: AcquiredDevice) {
    this.acquired = acquired;
    this.device = acquired.device;
    this.limits = acquired.device.limits;
    this.features = acquired.features;
    this.report = acquired.report;
    this.software = acquired.software;
    this.maxBinding = Math.min(this.limits.maxStorageBufferBindingSize, acquired.maxBinding ?? Infinity);
    this.pipelines = new PipelineCache(this.device);
    this.pool = new BufferPool(this.device, this.limits.maxBufferSize, (check) => this.pipelines.pendingChecks.push(check));
    this.uniformAlign = this.limits.minUniformBufferOffsetAlignment;
    this.convVariant = acquired.convVariant ?? (acquired.software ? 'register' : 'auto');
    this.twoRowConv = acquired.twoRowConv;
    this.quickCompile = acquired.quickCompile;
    this.fewRowMatmul = acquired.fewRowMatmul;
    this.pooledConv = acquired.pooledConv;
    const minLanes = this.features.has('subgroups') ? (this.device.adapterInfo?.subgroupMinSize ?? 0) : 0;
    this.sharedLanes = minLanes >= 8 ? 8 : minLanes >= 4 ? 4 : 0;
    this.autotune = new Autotune(acquired.report, this, acquired.tuneStore ?? null);
    this.device.lost.then((info) => {
      if (!this.destroyed) this.lostInfo = { reason: info.reason, message: info.message };
    });
  }

  kernel(spec: KernelSpec): CompiledKernel {
    if (this.dryRun && !this.pipelines.has(spec)) {
      this.dryRun.add(this.pipelines.compile(spec));
      // Not compiled yet: only a dry run hands this out, and a dry run dispatches nothing.
      return { key: '', name: spec.name, pipeline: null!, layout: null! };
    }
    return this.pipelines.get(spec);
  }

  /**
   * Runs fn as a dry run: every kernel it asks for that is not compiled yet is compiled with
   * createComputePipelineAsync, all in parallel, and nothing is dispatched or copied (reads
   * throw). Resolves when they are all ready, so that fn's real run compiles nothing; throws the
   * first compilation error, naming the kernel and the WGSL line. fn allocates as it would
   * (tensors it leaves behind are its caller's to free) and must not depend on GPU results.
   * Returns how many pipelines it compiled.
   */
  async precompile(fn: () => void): Promise<number> {
    if (this.dryRun) throw new Error('Engine.precompile: already in a dry run');
    if (this.recorder) throw new Error('Engine.precompile: not inside record()');
    const started = new Set<Promise<void>>();
    this.dryRun = started;
    try {
      fn();
    } finally {
      this.dryRun = null;
    }
    await Promise.all(started);
    await this.checkErrors();
    return started.size;
  }

  /** Whether a precompile() dry run is recording (nothing runs on the GPU). */
  get isDryRun(): boolean {
    return this.dryRun !== null;
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (this.destroyed) throw new Error('Engine: used after destroy()');
    if (!this.encoder) {
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder({ label: 'step' });
    }
    return this.encoder;
  }

  private uniformSlot(data: ArrayBuffer): { buffer: GPUBuffer; offset: number; size: number } {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    if (this.recorder) {
      // The arena is rewritten at every flush; a recording's uniforms must outlive that.
      const buffer = this.device.createBuffer({ size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'recorded uniforms' });
      const bytes = new Uint8Array(size);
      bytes.set(new Uint8Array(data));
      this.device.queue.writeBuffer(buffer, 0, bytes);
      this.recorder.uniforms.push(buffer);
      return { buffer, offset: 0, size };
    }
    let chunk = this.arena[this.arenaIndex];
    if (chunk && chunk.used + size > ARENA_CHUNK) chunk = this.arena[++this.arenaIndex];
    if (!chunk) {
      chunk = {
        buffer: this.device.createBuffer({ size: ARENA_CHUNK, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'uniforms' }),
        cpu: new Uint8Array(ARENA_CHUNK),
        used: 0,
      };
      this.arena[this.arenaIndex] = chunk;
    }
    const offset = chunk.used;
    chunk.cpu.set(new Uint8Array(data), offset);
    chunk.cpu.fill(0, offset + data.byteLength, offset + size);
    chunk.used = Math.ceil((offset + size) / this.uniformAlign) * this.uniformAlign;
    return { buffer: chunk.buffer, offset, size };
  }

  dispatch(kernel: CompiledKernel, args: DispatchArgs): void {
    if (this.dryRun) return;
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (args.uniforms) entries.push({ binding: binding++, resource: this.uniformSlot(args.uniforms) });
    for (const b of args.bindings) {
      const resource = 'buffer' in b ? { buffer: b.buffer, offset: b.offset ?? 0, size: b.size } : { buffer: b };
      entries.push({ binding: binding++, resource });
    }
    const bindGroup = this.bindGroup(kernel, entries);
    const [x, y = 1, z = 1] = args.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(`${kernel.name}: dispatch ${x}x${y}x${z} exceeds maxComputeWorkgroupsPerDimension ${maxWg}`);
    }
    this.command({ kind: 'dispatch', pipeline: kernel.pipeline, bindGroup, workgroups: [x, y, z] });
  }

  /** Records one command into the open batch, or into the recording under way. */
  private command(c: RecordedCommand): void {
    if (this.recorder) return void this.recorder.commands.push(c);
    const encoder = this.ensureEncoder();
    if (c.kind === 'dispatch') {
      if (!this.pass) this.pass = encoder.beginComputePass({ label: 'kernels' });
      this.pass.setPipeline(c.pipeline);
      this.pass.setBindGroup(0, c.bindGroup);
      const [x, y, z] = c.workgroups;
      if (x > 0 && y > 0 && z > 0) this.pass.dispatchWorkgroups(x, y, z);
      this.stats.dispatches++;
      return;
    }
    this.endPass();
    if (c.kind === 'copy') encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.bytes);
    else encoder.clearBuffer(c.buffer, c.offset, c.bytes);
    this.stats.copies++;
  }

  /**
   * Runs fn as a recording: the dispatches, copies and clears it asks for are kept, not run, and
   * run(recording) records them again as they were, over the same buffers, without running fn.
   * fn must be synchronous and may not upload or read. The recording holds the pooled buffers
   * fn released (its intermediates) until it is disposed; the buffers of everything else it used
   * (inputs, outputs, parameters) stay the caller's to keep alive, unmoved: write new inputs into
   * the same tensors and read the same outputs after each run.
   */
  record<T>(fn: () => T): { result: T; recording: Recording } {
    if (this.dryRun) throw new Error('Engine.record: not inside precompile()');
    if (this.recorder) throw new Error('Engine.record: already recording');
    this.throwIfLost();
    const recorder: Recorder = { commands: [], uniforms: [] };
    this.recorder = recorder;
    this.pool.hold();
    const giveBack = (held: GPUBuffer[]) => held.forEach((b) => this.pool.release(b));
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) {
        result.catch(() => undefined);
        throw new Error('Engine.record: fn must be synchronous (it returned a promise)');
      }
    } catch (e) {
      giveBack(this.pool.unhold());
      recorder.uniforms.forEach((u) => u.destroy());
      throw e;
    } finally {
      this.recorder = null;
    }
    return { result, recording: new Recording(recorder.commands, this.pool.unhold(), recorder.uniforms, giveBack) };
  }

  /** Records a recording's commands into the open batch, as dispatch() would have. */
  run(recording: Recording): void {
    if (recording.isDisposed) throw new Error('Engine.run: the recording was disposed');
    if (this.recorder) throw new Error('Engine.run: not inside record()');
    if (this.dryRun) return;
    for (const c of recording.commands) this.command(c);
  }

  private bindGroup(kernel: CompiledKernel, entries: GPUBindGroupEntry[]): GPUBindGroup {
    let key = kernel.key;
    for (const e of entries) {
      const r = e.resource as GPUBufferBinding;
      let id = this.bufferIds.get(r.buffer);
      if (id === undefined) this.bufferIds.set(r.buffer, (id = this.nextBufferId++));
      key += `|${id}:${r.offset ?? 0}:${r.size ?? ''}`;
    }
    let group = this.bindGroups.get(key);
    if (!group) {
      if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
      group = this.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.name });
      this.bindGroups.set(key, group);
    }
    return group;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (this.dryRun) return;
    this.command({ kind: 'copy', src, srcOffset, dst, dstOffset, bytes });
  }

  /** Zeroes bytes [offset, offset + bytes) in order with the recorded work (no dispatch). */
  clear(buffer: GPUBuffer, offset: number, bytes: number): void {
    if (this.dryRun) return;
    this.command({ kind: 'clear', buffer, offset, bytes });
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    this.throwIfLost();
    if (!this.encoder) return;
    this.endPass();
    for (let i = 0; i <= this.arenaIndex && i < this.arena.length; i++) {
      const chunk = this.arena[i]!;
      if (chunk.used) this.device.queue.writeBuffer(chunk.buffer, 0, chunk.cpu, 0, chunk.used);
      chunk.used = 0;
    }
    this.arenaIndex = 0;
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.stats.submits++;
    const scope = this.device.popErrorScope().then((e) => (e ? new Error(`GPU validation error: ${e.message}`) : null));
    this.pipelines.pendingChecks.push(scope);
  }

  /** Flushes, waits for the GPU, and throws the first compilation or validation error seen. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  async checkErrors(): Promise<void> {
    const checks = this.pipelines.pendingChecks.splice(0);
    const errors = (await Promise.all(checks)).filter((e): e is Error => e !== null);
    if (errors.length) throw errors[0];
  }

  /** Writes data into a buffer in order with the recorded work (flushes first if anything is pending). */
  upload(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    if (this.recorder) throw new Error('Engine.upload: a recording cannot upload (write its inputs before each run)');
    this.flush();
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
    this.stats.uploads++;
  }

  /** Copies bytes out of a GPU buffer: one submit, one map. */
  async read(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    return (await this.readAll([{ buffer, offset, bytes }]))[0]!;
  }

  /**
   * Copies several byte ranges out of GPU buffers with one submit and one map (reading a model's
   * outputs separately cost a submit and a map each).
   */
  async readAll(ranges: readonly { buffer: GPUBuffer; offset: number; bytes: number }[]): Promise<ArrayBuffer[]> {
    if (this.dryRun) throw new Error('Engine.read: a dry run (precompile) computes nothing to read');
    if (this.recorder) throw new Error('Engine.read: a recording computes nothing to read (read after run())');
    // Each range at a 256-byte boundary of one staging buffer.
    const at: number[] = [];
    let end = 0;
    for (const r of ranges) {
      at.push(end);
      end += Math.ceil(r.bytes / 256) * 256;
    }
    const size = Math.max(256, end);
    const free = this.staging.get(size);
    const staging =
      free?.pop() ?? this.device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'readback' });
    ranges.forEach((r, i) => this.copy(r.buffer, r.offset, staging, at[i]!, Math.ceil(r.bytes / 4) * 4));
    this.flush();
    this.stats.readbacks++;
    try {
      await staging.mapAsync(MapMode.READ, 0, size);
    } catch (e) {
      // A lost device fails every map (Dawn: an AbortError with no message); its lost promise
      // settles about then, so give it a moment to say why.
      await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 1000))]);
      this.throwIfLost();
      await this.checkErrors();
      throw e;
    }
    const mapped = staging.getMappedRange(0, size);
    const out = ranges.map((r, i) => mapped.slice(at[i]!, at[i]! + r.bytes));
    staging.unmap();
    if (!this.staging.has(size)) this.staging.set(size, []);
    this.staging.get(size)!.push(staging);
    await this.checkErrors();
    return out;
  }

  private throwIfLost(): void {
    if (this.lostInfo) throw new DeviceLostError(this.lostInfo.reason, this.lostInfo.message);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.encoder = null;
    this.pass = null;
    this.destroyed = true;
    this.device.destroy();
    this.acquired = null;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

/** Builds a uniform block field by field (u32, i32, f32), 4 bytes each, in declaration order. */
export class Uniforms {
  private view: DataView;
  private bytes = 0;
  constructor(capacity = 256) {
    this.view = new DataView(new ArrayBuffer(capacity));
  }
  u32(...values: number[]): this {
    for (const v of values) this.view.setUint32((this.bytes += 4) - 4, v, true);
    return this;
  }
  i32(...values: number[]): this {
    for (const v of values) this.view.setInt32((this.bytes += 4) - 4, v, true);
    return this;
  }
  f32(...values: number[]): this {
    for (const v of values) this.view.setFloat32((this.bytes += 4) - 4, v, true);
    return this;
  }
  /** Pads to a 16-byte boundary, as a following vec4 or array<vec4> member requires. */
  align16(): this {
    while (this.bytes % 16) this.u32(0);
    return this;
  }
  build(): ArrayBuffer {
    return (this.view.buffer as ArrayBuffer).slice(0, Math.max(16, Math.ceil(this.bytes / 16) * 16));
  }
}

/** Workgroups for n invocations of size wg, folded into y when x would pass the dispatch limit. */
export function grid1d(n: number, wg: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
