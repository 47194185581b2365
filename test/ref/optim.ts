// float64 references of the optimizer steps (tests only): rmsprop.lua's update order.
export interface RmsState {
  x: Float64Array;
  m: Float64Array;
  v: Float64Array;
  t: number;
}

export function rmspropStep(s: RmsState, g: ArrayLike<number>, lr = 5e-4, b1 = 0.1, b2 = 0.01, eps = 1e-8): void {
  s.t++;
  const gamma = Math.sqrt(1 - Math.pow(1 - b2, s.t)) / (1 - Math.pow(1 - b1, s.t));
  for (let i = 0; i < s.x.length; i++) {
    const gi = g[i]!;
    s.m[i] = s.m[i]! * (1 - b1) + gi * b1;
    s.v[i] = s.v[i]! * (1 - b2) + gi * gi * b2;
    s.x[i] = s.x[i]! - lr * ((s.m[i]! / Math.sqrt(s.v[i]! + eps)) * gamma);
  }
}

export function sgdStep(x: Float64Array, g: ArrayLike<number>, lr: number): void {
  for (let i = 0; i < x.length; i++) x[i] = x[i]! - lr * g[i]!;
}
