import { expect } from 'vitest';
import { closeness } from '../ref/cpu.js';

/** Asserts |got - want| <= atol + rtol |want| elementwise, reporting the worst element. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what = 'values'): void {
  const { worst, at } = closeness(got, want, atol, rtol);
  if (worst > 1) {
    expect.fail(`${what}: element ${at} is ${got[at]} but the reference is ${want[at]} (atol ${atol}, rtol ${rtol}; ${worst.toFixed(2)}x the tolerance)`);
  }
}
