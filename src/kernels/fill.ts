// Constant and random tensors, generated on the GPU.
import rng from '../../shaders/rng.wgsl';
import fill from '../../shaders/fill.wgsl';
import { grid1d, Uniforms, type Engine } from '../gpu/engine.js';
import { getEngine, Tensor } from '../tensor.js';
import { chunks, rangeBinding } from './util.js';

const MODES = { const: 0, uniform: 1, normal: 2 } as const;

/** Splits a JS seed (any integer up to 2^53) into the generator's two 32-bit key words. */
export function seedWords(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative safe integer, got ${seed}`);
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

function run(shape: readonly number[], mode: keyof typeof MODES, p0: number, p1: number, seed: number, engine: Engine): Tensor {
  const out = Tensor.empty(shape, 'f32', engine);
  const kernel = engine.kernel({ name: 'fill', wgsl: rng + fill, overrides: { MODE: MODES[mode] } });
  const [s0, s1] = seedWords(seed);
  for (const [start, count] of chunks(engine, out.size)) {
    engine.dispatch(kernel, {
      uniforms: new Uniforms(32).u32(count, start, s0, s1).f32(p0, p1).build(),
      bindings: [rangeBinding(out, start, count)],
      workgroups: grid1d(count, 256),
    });
  }
  return out;
}

export const full = (shape: readonly number[], value: number, engine = getEngine()) => run(shape, 'const', value, 0, 0, engine);
export const zeros = (shape: readonly number[], engine = getEngine()) => full(shape, 0, engine);
export const ones = (shape: readonly number[], engine = getEngine()) => full(shape, 1, engine);
/** Uniform in [lo, hi), a pure function of (seed, element index). */
export const randUniform = (shape: readonly number[], lo: number, hi: number, seed: number, engine = getEngine()) =>
  run(shape, 'uniform', lo, hi, seed, engine);
/** Normal(mean, sd), a pure function of (seed, element index). */
export const randNormal = (shape: readonly number[], seed: number, mean = 0, sd = 1, engine = getEngine()) =>
  run(shape, 'normal', mean, sd, seed, engine);
