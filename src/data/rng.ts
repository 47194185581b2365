// Deterministic random numbers for scene sampling: a counter-based generator (the 4-D PCG hash
// of shaders/rng.wgsl, in 32-bit integer arithmetic), so a draw depends only on (seed, stream,
// counter) and never on how many numbers other code happened to draw before it.

function pcg4d(a: number, b: number, c: number, d: number): [number, number, number, number] {
  let x = (Math.imul(a, 1664525) + 1013904223) >>> 0;
  let y = (Math.imul(b, 1664525) + 1013904223) >>> 0;
  let z = (Math.imul(c, 1664525) + 1013904223) >>> 0;
  let w = (Math.imul(d, 1664525) + 1013904223) >>> 0;
  x = (x + Math.imul(y, w)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  w = (w + Math.imul(y, z)) >>> 0;
  x ^= x >>> 16;
  y ^= y >>> 16;
  z ^= z >>> 16;
  w ^= w >>> 16;
  x = (x + Math.imul(y, w)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  w = (w + Math.imul(y, z)) >>> 0;
  return [x, y, z, w];
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative safe integer, got ${seed}`);
}

/** A stream of uniform and normal numbers keyed by (seed, stream); `fork` derives independent streams. */
export class Rng {
  private counter = 0;

  private constructor(private readonly k0: number, private readonly k1: number, private readonly k2: number) {}

  static fromSeed(seed: number, stream = 0): Rng {
    checkSeed(seed);
    return new Rng(seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0, stream >>> 0);
  }

  private next(): [number, number, number, number] {
    return pcg4d(this.counter++, this.k0, this.k1, this.k2);
  }

  /** Uniform in [0, 1), 32 bits. */
  uniform(): number {
    return this.next()[0] / 2 ** 32;
  }

  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Standard normal by Box-Muller (one of the pair, so every draw is one counter step). */
  normal(): number {
    const [a, b] = this.next();
    const u = (a + 1) / (2 ** 32 + 1); // in (0, 1): log() is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * b) / 2 ** 32);
  }

  normals(n: number): number[] {
    return Array.from({ length: n }, () => this.normal());
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** An independent stream for sub-task `key`: the key words are hashed with it. */
  fork(key: number): Rng {
    const [h0, h1, h2] = pcg4d(this.k0, this.k1, this.k2, key >>> 0);
    return new Rng(h0, h1, h2);
  }
}
