// float64 reference of reparameterise, its gradients, and a port of the GPU noise generator
// (shaders/rng.wgsl's pcg4d keyed as its reparamNoise keys it), for tests only.
import type { Arr } from './cpu.js';

const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

export function reparameterise(mu: Arr, logvar: Arr, eps: Arr, lo = -20, hi = 20): Arr {
  return { data: mu.data.map((m, i) => m + Math.exp(0.5 * clamp(logvar.data[i]!, lo, hi)) * eps.data[i]!), shape: [...mu.shape] };
}

/** Gradients of sum(z * g) with respect to mu and logvar. */
export function reparameteriseBackward(g: Arr, logvar: Arr, eps: Arr, lo = -20, hi = 20): [Arr, Arr] {
  const glv = logvar.data.map((v, i) => (v >= lo && v <= hi ? g.data[i]! * 0.5 * Math.exp(0.5 * v) * eps.data[i]! : 0));
  return [{ data: Float64Array.from(g.data), shape: [...g.shape] }, { data: glv, shape: [...logvar.shape] }];
}

function pcg4d(v: [number, number, number, number]): [number, number, number, number] {
  let [x, y, z, w] = v.map((a) => (Math.imul(a, 1664525) + 1013904223) >>> 0) as [number, number, number, number];
  const mix = () => {
    x = (x + Math.imul(y, w)) >>> 0;
    y = (y + Math.imul(z, x)) >>> 0;
    z = (z + Math.imul(x, y)) >>> 0;
    w = (w + Math.imul(y, z)) >>> 0;
  };
  mix();
  x = (x ^ (x >>> 16)) >>> 0;
  y = (y ^ (y >>> 16)) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  w = (w ^ (w >>> 16)) >>> 0;
  mix();
  return [x, y, z, w];
}

const u01 = (x: number) => ((x >>> 8) + 1) / 16777216;

/** The standard normal the GPU draws for element i of (seed, step), in float64. */
export function noise(i: number, seed: number, step: number): number {
  const s0 = seed >>> 0;
  const s1 = Math.floor(seed / 2 ** 32) >>> 0;
  const h = pcg4d([i >>> 0, s0, (s1 ^ 0x7f4a7c15) >>> 0, step >>> 0]);
  return Math.sqrt(-2 * Math.log(u01(h[0]))) * Math.cos(2 * Math.PI * u01(h[1]));
}
