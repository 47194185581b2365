import { shapeSize, shapeStr, Tensor } from '../tensor.js';
import type { Binding, Engine } from '../gpu/engine.js';

/** An error that names the op, the argument and the shapes involved. */
export function opError(op: string, message: string, ...tensors: [string, Tensor | readonly number[]][]): Error {
  const shapes = tensors.map(([name, t]) => `${name} ${shapeStr(Array.isArray(t) ? (t as number[]) : (t as Tensor).shape)}`);
  return new Error(`${op}: ${message}${shapes.length ? ` (${shapes.join(', ')})` : ''}`);
}

export function checkF32(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw opError(op, `${name} must be f32, got ${t.dtype}`, [name, t]);
  if (t.engine !== undefined) t.buffer; // throws a clear error when disposed
}

/**
 * The f32 tensor a kernel writes its result of `shape` into: `into` when given (a gradient slot
 * the tape offers; it must hold as many elements), else a new one.
 */
export function output(op: string, shape: readonly number[], engine: Engine, into?: Tensor | null): Tensor {
  if (!into) return Tensor.empty(shape, 'f32', engine);
  if (into.size !== shapeSize(shape) || into.dtype !== 'f32' || into.engine !== engine) {
    throw opError(op, 'into does not match the result', ['into', into], ['result', shape]);
  }
  return into;
}

/** A binding over all of t; kernels that cannot split t call checkWhole first. */
export function wholeBinding(t: Tensor): Binding {
  return { buffer: t.buffer, offset: t.offset, size: Math.max(t.size, 1) * 4 };
}

/** A binding over elements [start, start + count) of t, start a multiple of 64 (as chunks() gives). */
export function rangeBinding(t: Tensor, start: number, count: number): Binding {
  return { buffer: t.buffer, offset: t.offset + start * 4, size: Math.max(count, 1) * 4 };
}

/** Throws, naming op and argument, when t is larger than one storage binding. */
export function checkWhole(op: string, name: string, t: Tensor): void {
  const max = t.engine.maxBinding;
  if (t.size * 4 > max) throw opError(op, `${name} has ${t.size * 4} bytes, above the ${max}-byte storage binding limit`, [name, t]);
}

/**
 * Splits [0, total) elements into runs that each fit one storage binding, starting on
 * 256-byte boundaries as binding offsets require. Most tensors are one run.
 */
export function chunks(engine: Engine, total: number, bytesPerElement = 4): [start: number, count: number][] {
  const per = Math.floor(engine.maxBinding / bytesPerElement / 256) * 256;
  const out: [number, number][] = [];
  for (let s = 0; s < total; s += per) out.push([s, Math.min(per, total - s)]);
  if (!out.length) out.push([0, 0]);
  return out;
}

/**
 * A binding over elements [start, start + count) of t that begins on the device's storage
 * offset alignment; `base` is the index of element `start` within the binding. Lets kernels
 * cut a tensor into whole planes or rows whose byte offsets are not aligned.
 */
export function bindRange(engine: Engine, t: Tensor, start: number, count: number): { binding: Binding; base: number } {
  const align = engine.limits.minStorageBufferOffsetAlignment;
  const at = t.offset + start * 4;
  const offset = Math.floor(at / align) * align;
  const size = Math.max(at + count * 4 - offset, 4);
  return { binding: { buffer: t.buffer, offset, size }, base: (at - offset) / 4 };
}

/**
 * Splits `planes` consecutive planes into runs whose every tensor (planeSizes: elements per
 * plane of each tensor bound) fits one storage binding, alignment slack included.
 */
export function planeChunks(op: string, engine: Engine, planes: number, ...planeSizes: number[]): [first: number, count: number][] {
  const slack = engine.limits.minStorageBufferOffsetAlignment;
  const largest = Math.max(...planeSizes, 1);
  const per = Math.floor((engine.maxBinding - slack) / (largest * 4));
  if (per < 1) throw new Error(`${op}: one plane of ${largest * 4} bytes exceeds the ${engine.maxBinding}-byte storage binding limit`);
  const out: [number, number][] = [];
  for (let p = 0; p < planes; p += per) out.push([p, Math.min(per, planes - p)]);
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
