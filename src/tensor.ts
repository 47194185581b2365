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

class Storage {
  refs = 1;
  constructor(readonly engine: Engine, readonly buffer: GPUBuffer, readonly bytes: number) {}
  release(): void {
    if (--this.refs === 0) this.engine.pool.release(this.buffer);
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
    if (typed.length) engine.upload(t.buffer, 0, typed);
    return t;
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`Tensor${this.name ? ` "${this.name}"` : ''} ${shapeStr(this.shape)} used after dispose()`);
    return this.storage.buffer;
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
    const bytes = await this.engine.read(this.buffer, 0, this.size * 4);
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
