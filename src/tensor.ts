// Tensors: a shape over a pooled GPU buffer. Storage is reference-counted so reshapes share it.
import type { Engine } from './gpu/engine.js';
import { record, type GradNode } from './autograd/record.js';

export type DType = 'f32' | 'u32';

let defaultEngine: Engine | null = null;

export function setEngine(engine: Engine | null): void {
  defaultEngine = engine;
}

export function getEngine(): Engine {
  if (!defaultEngine || defaultEngine.isDestroyed) {
    throw new Error('No engine: call `await initEngine()` (Node: src/node.ts, browser: src/browser.ts) first');
  }
  return defaultEngine;
}

/**
 * Bytes on the GPU that tensors share: a pooled buffer of their own, or a slot at `offset` in a
 * parent's (a packed parameter buffer), which the slot keeps alive. pack() moves a storage into
 * a slot, so every tensor over it follows.
 */
class Storage {
  refs = 1;
  /** Slots cut from this storage; they hold its buffer, so it cannot move. */
  slots = 0;
  constructor(
    readonly engine: Engine,
    public buffer: GPUBuffer,
    readonly bytes: number,
    public offset = 0,
    public parent: Storage | null = null,
  ) {}
  release(): void {
    if (--this.refs) return;
    if (this.parent) this.parent.release();
    else this.engine.pool.release(this.buffer);
  }
}

// Tensors created inside tidy() are disposed when it returns, unless returned or kept.
const scopes: Set<Tensor>[] = [];

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  readonly engine: Engine;
  /** Set on parameters (leaves) and on every result computed from one while grad is enabled. */
  requiresGrad = false;
  grad: Tensor | null = null;
  /**
   * Where an optimizer reads this parameter's gradient from (its part of a packed buffer): the
   * tape offers it to the backward rule that makes the gradient, to write there directly.
   */
  gradSlot: Tensor | null = null;
  /** The op that produced this tensor, for backward; null for leaves. */
  node: GradNode<Tensor> | null = null;
  name?: string;
  private storage: Storage | null;

  private constructor(engine: Engine, storage: Storage, shape: readonly number[], dtype: DType) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor: invalid shape ${shapeStr(shape)}`);
    }
    this.engine = engine;
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.size = shapeSize(shape);
    this.dtype = dtype;
    scopes[scopes.length - 1]?.add(this);
  }

  /** An uninitialised tensor whose contents a kernel will write. */
  static empty(shape: readonly number[], dtype: DType = 'f32', engine: Engine = getEngine()): Tensor {
    const bytes = Math.max(4, shapeSize(shape) * 4);
    return new Tensor(engine, new Storage(engine, engine.pool.acquire(bytes), bytes), shape, dtype);
  }

  static fromData(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32', engine: Engine = getEngine()): Tensor {
    if (data.length !== shapeSize(shape)) {
      throw new Error(`Tensor.fromData: ${data.length} values do not fill shape ${shapeStr(shape)}`);
    }
    const t = Tensor.empty(shape, dtype, engine);
    const typed = dtype === 'f32' ? Float32Array.from(data) : Uint32Array.from(data);
    if (typed.length) engine.upload(t.buffer, t.offset, typed);
    return t;
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`Tensor${this.name ? ` "${this.name}"` : ''} ${shapeStr(this.shape)} used after dispose()`);
    return this.storage.buffer;
  }

  /**
   * Byte offset of the first element in `buffer`: 0, except for tensors in a packed buffer
   * (pack(), slot()), whose offsets are multiples of the storage binding alignment. Kernels bind
   * through wholeBinding / rangeBinding, which add it.
   */
  get offset(): number {
    this.buffer; // throws if disposed
    return this.storage!.offset;
  }

  /**
   * A tensor of `shape` over elements [start, start + size) of this one's storage, with no
   * gradient graph: how an optimizer addresses one parameter's part of a packed buffer.
   */
  slot(start: number, shape: readonly number[]): Tensor {
    const size = shapeSize(shape);
    const offset = this.offset + start * 4;
    const align = this.engine.limits.minStorageBufferOffsetAlignment;
    if (!Number.isInteger(start) || start < 0 || start + size > this.size || offset % align) {
      throw new Error(`Tensor.slot: elements [${start}, ${start + size}) of ${shapeStr(this.shape)} are out of range or not at a ${align}-byte boundary`);
    }
    const s = new Storage(this.engine, this.buffer, Math.max(4, size * 4), offset, this.storage!);
    this.storage!.refs++;
    this.storage!.slots++;
    return new Tensor(this.engine, s, shape, this.dtype);
  }

  /**
   * Moves the storage of every tensor given into one new buffer, each at an offset aligned for a
   * storage binding (contents copied on the GPU), and returns a 1-D tensor over that buffer with
   * `offsets`, the element index of each tensor in it. Tensors that view one storage move together.
   * One buffer lets a kernel such as the optimizer treat many tensors in one dispatch.
   */
  static pack(tensors: readonly Tensor[], engine: Engine = getEngine()): { flat: Tensor; offsets: number[] } {
    for (const t of tensors) t.buffer; // throws, naming it, for a disposed tensor
    const storages = [...new Set(tensors.map((t) => t.storage!))];
    for (const s of storages) {
      if (s.engine !== engine) throw new Error('Tensor.pack: tensors of another engine');
      if (s.slots) throw new Error('Tensor.pack: a tensor has slots cut from it, which cannot move with it');
    }
    const layout = packLayout(engine, storages.map((s) => s.bytes / 4));
    const offsets = tensors.map((t) => layout.offsets[storages.indexOf(t.storage!)]!);
    // Already packed this way (a second optimizer over the same parameters): share that buffer,
    // so that neither optimizer steps a copy the other no longer reads.
    const old = storages[0]?.parent;
    if (old && storages.every((s, k) => s.parent === old && s.offset === old.offset + layout.offsets[k]! * 4) && old.bytes === layout.total * 4) {
      old.refs++;
      return { flat: new Tensor(engine, old, [layout.total], 'f32'), offsets };
    }
    // Moving storage copies it: a dry run, which copies nothing, would leave it empty.
    if (engine.isDryRun) throw new Error('Tensor.pack: packing in a dry run (precompile) would lose the values; pack before it');
    const flat = Tensor.empty([layout.total], 'f32', engine);
    const home = flat.storage!;
    engine.clear(home.buffer, home.offset, layout.total * 4);
    storages.forEach((s, k) => {
      const at = home.offset + layout.offsets[k]! * 4;
      engine.copy(s.buffer, s.offset, home.buffer, at, s.bytes);
      if (s.parent) s.parent.release();
      else engine.pool.release(s.buffer);
      s.buffer = home.buffer;
      s.offset = at;
      s.parent = home;
      home.refs++;
      home.slots++;
    });
    return { flat, offsets };
  }

  /** Whether both are the same elements of the same buffer. */
  aliases(other: Tensor): boolean {
    return this.buffer === other.buffer && this.offset === other.offset && this.size === other.size;
  }

  /** Whether no other tensor shares this one's memory (no view, slot or packing). */
  get isSoleOwner(): boolean {
    const s = this.storage;
    return !!s && s.refs === 1 && s.slots === 0 && !s.parent;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A tensor with another shape over the same storage (no copy); gradients flow through it. */
  view(shape: readonly number[]): Tensor {
    const resolved = resolveShape(shape, this.size, 'reshape', this.shape);
    this.buffer; // throws if disposed
    this.storage!.refs++;
    const out = new Tensor(this.engine, this.storage!, resolved, this.dtype);
    return record(out, 'view', [this], (g) => [g.view(this.shape)]);
  }

  dispose(): void {
    if (!this.storage) return;
    this.storage.release();
    this.storage = null;
    for (const s of scopes) s.delete(this);
  }

  async read(): Promise<Float32Array | Uint32Array> {
    const bytes = await this.engine.read(this.buffer, this.offset, this.size * 4);
    return this.dtype === 'f32' ? new Float32Array(bytes) : new Uint32Array(bytes);
  }

  async data(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new Error(`Tensor.data: dtype is ${this.dtype}; use read()`);
    return (await this.read()) as Float32Array;
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}${this.requiresGrad ? ', grad' : ''})`;
  }
}

/**
 * Element offsets of tensors of these sizes placed one after another, each starting on the
 * device's storage binding alignment, and the total elements that layout spans.
 */
export function packLayout(engine: Engine, sizes: readonly number[]): { offsets: number[]; total: number } {
  const step = engine.limits.minStorageBufferOffsetAlignment / 4;
  let total = 0;
  const offsets = sizes.map((n) => {
    const at = total;
    total += Math.ceil(Math.max(n, 1) / step) * step;
    return at;
  });
  return { offsets, total };
}

export function resolveShape(shape: readonly number[], size: number, op: string, from: readonly number[]): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = shapeSize(out.filter((_, i) => i !== free));
    out[free] = rest ? size / rest : 0;
  }
  if (shapeSize(out) !== size || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${op}: cannot reshape ${shapeStr(from)} to ${shapeStr(shape)}`);
  }
  return out;
}

type Tensors = Tensor | Tensor[] | Record<string, Tensor> | void | undefined | number | null;

function collect(result: unknown, into: Set<Tensor>): void {
  if (result instanceof Tensor) into.add(result);
  else if (Array.isArray(result)) result.forEach((r) => collect(r, into));
  else if (result && typeof result === 'object' && !(result instanceof Promise)) {
    for (const v of Object.values(result)) if (v instanceof Tensor) into.add(v);
  }
}

/** Runs fn and disposes every tensor it created except those it returns and those kept. */
export function tidy<T extends Tensors | unknown>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) throw new Error('tidy: fn must be synchronous');
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) scopes[scopes.length - 1]?.add(t);
    else t.dispose();
  }
  return result;
}

/** Takes a tensor out of every enclosing tidy() scope, so only dispose() frees it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}
