import { describe, expect, it, vi } from 'vitest';
import { useEngine } from './setup/engine.js';
import { backward, noGrad, ops, parameter, Tensor, tidy, zeroGrad } from '../src/node.js';
import { recordMany, topoSort } from '../src/autograd/tape.js';

const ctx = useEngine();

const close = (got: ArrayLike<number>, want: number[]) => {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
};

describe('autograd', () => {
  it('accumulates the gradient of a node used twice', async () => {
    const x = parameter(Tensor.fromData([1, -2, 3], [3]));
    const y = ops.sum(ops.mul(x, x)); // d/dx sum(x*x) = 2x, x appears as both operands
    backward(y);
    close(await x.grad!.data(), [2, -4, 6]);
  });

  it('sums both paths of a diamond', async () => {
    const x = parameter(Tensor.fromData([0.5, 1.5], [2]));
    const a = ops.exp(x);
    const b = ops.mulScalar(a, 3);
    const c = ops.square(a);
    const y = ops.sum(ops.add(b, c)); // y = 3e^x + e^{2x}; dy/dx = 3e^x + 2e^{2x}
    expect(topoSort(y).indexOf(a)).toBeLessThan(topoSort(y).indexOf(b));
    backward(y);
    close(await x.grad!.data(), [0.5, 1.5].map((v) => 3 * Math.exp(v) + 2 * Math.exp(2 * v)));
  });

  it('several roots act as their sum, without an add or a seed fill', async () => {
    const x = parameter(Tensor.fromData([0.5, -1, 2], [3]));
    const y1 = ops.sum(ops.mul(x, x));
    const y2 = ops.sum(ops.exp(x));
    backward([y1, y2, y1]); // d/dx (2 y1 + y2) = 4x + e^x
    close(await x.grad!.data(), [0.5, -1, 2].map((v) => 4 * v + Math.exp(v)));
    zeroGrad([x]);
    const spy = vi.spyOn(ctx.engine, 'dispatch');
    try {
      backward([ops.sum(x), ops.sum(x)]);
      const names = spy.mock.calls.map(([k]) => k.name);
      expect(names.filter((n) => n === 'fill'), 'the scalar seed is made once').toEqual([]);
    } finally {
      spy.mockRestore();
    }
    close(await x.grad!.data(), [2, 2, 2]);
    expect(() => backward([y1, y2], Tensor.fromData([1], [1]))).toThrow(/a seed needs one root, got 2/);
    expect(() => backward([])).toThrow(/no root given/);
  });

  it('adds a gradient into the one gathered so far when no other tensor shares it', async () => {
    const x = parameter(Tensor.fromData([1, 2, 3, -1, 0.5, 2], [2, 3]));
    const w1 = Tensor.fromData([1, 0, 2, -1, 1, 0.5, 0, 3, 1], [3, 3]);
    const w2 = Tensor.fromData([2, 1, 0, 0, -1, 1, 1, 1, 1], [3, 3]);
    const colSums = (w: number[]) => [0, 1, 2].map((j) => w[j]! + w[3 + j]! + w[6 + j]!);
    // Two heads on x: the second head's input gradient is added into the first's, no add pass.
    const spy = vi.spyOn(ctx.engine, 'dispatch');
    try {
      backward([ops.sum(ops.linear(x, w1, null)), ops.sum(ops.linear(x, w2, null))]);
      expect(spy.mock.calls.map(([k]) => k.key).filter((key) => key.includes('a + b'))).toEqual([]);
    } finally {
      spy.mockRestore();
    }
    const both = colSums([1, 0, 2, -1, 1, 0.5, 0, 3, 1]).map((v, j) => v + colSums([2, 1, 0, 0, -1, 1, 1, 1, 1])[j]!);
    close(await x.grad!.data(), [...both, ...both]);
    zeroGrad([x]);
    // x's gradient from add is the very tensor add hands its other input, a's: it must not be
    // added into (a's rule reads it as its incoming gradient).
    const a = ops.linear(x, w1, null);
    backward(ops.sum(ops.add(x, a)));
    const one = colSums([1, 0, 2, -1, 1, 0.5, 0, 3, 1]).map((v) => v + 1);
    close(await x.grad!.data(), [...one, ...one]);
  });

  it('runs a node of several outputs once, after every use of each output', async () => {
    const x = parameter(Tensor.fromData([1, -2, 0.5], [3]));
    let calls = 0;
    // [2x, 3x] as one node; its rule gets both gradients at once (null where none arrived).
    const pair = () =>
      recordMany(noGrad(() => [ops.mulScalar(x, 2), ops.mulScalar(x, 3)]), 'pair', [x], ([ga, gb]) => {
        calls++;
        const parts = [ga && ops.mulScalar(ga, 2), gb && ops.mulScalar(gb, 3)].filter((p): p is Tensor => p !== null);
        return [parts.length === 2 ? ops.add(parts[0]!, parts[1]!) : parts[0]!];
      });
    // b is used directly and through a, a deeper chain: the rule must wait for both.
    const [a, b] = pair();
    backward(ops.sum(ops.add(ops.mul(a!, b!), ops.mulScalar(b!, 5)))); // 6x^2 + 15x: 12x + 15
    expect(calls).toBe(1);
    close(await x.grad!.data(), [27, -9, 21]);
    zeroGrad([x]);
    const [c] = pair(); // the second output unused: its gradient is null
    backward(ops.sum(c!));
    expect(calls).toBe(2);
    close(await x.grad!.data(), [2, 2, 2]);
  });

  it('accumulates across two backward calls until zeroGrad', async () => {
    const w = parameter(Tensor.fromData([1, 2], [2]));
    const loss = () => ops.sum(ops.mulScalar(w, 5));
    backward(loss());
    backward(loss());
    close(await w.grad!.data(), [10, 10]);
    zeroGrad([w]);
    expect(w.grad).toBeNull();
    backward(loss());
    close(await w.grad!.data(), [5, 5]);
  });

  it('records nothing under noGrad', () => {
    const w = parameter(Tensor.fromData([1, 2], [2]));
    const y = noGrad(() => ops.exp(w));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(() => backward(ops.sum(y))).toThrow(/does not require grad/);
  });

  it('gives a clear error for a tensor used after dispose()', () => {
    const x = parameter(Tensor.fromData([1, 2], [2]), 'x');
    const y = ops.exp(x);
    y.dispose();
    expect(() => ops.sum(y)).toThrow('Tensor [2] used after dispose()');
    const z = ops.sum(ops.exp(x));
    x.dispose();
    expect(() => backward(z)).toThrow('Tensor "x" [2] used after dispose()');
  });

  it('tidy disposes intermediates but keeps results and parameter gradients', () => {
    const w = parameter(Tensor.fromData([1, 2, 3], [3]));
    let inner: Tensor | null = null;
    const out = tidy(() => {
      inner = ops.exp(w);
      const l = ops.sum(inner);
      backward(l);
      return l;
    });
    expect(inner!.isDisposed).toBe(true);
    expect(out.isDisposed).toBe(false);
    expect(w.grad!.isDisposed).toBe(false);
  });

  it('flows gradients through a reshaping view', async () => {
    const x = parameter(Tensor.fromData([1, 2, 3, 4, 5, 6], [2, 3]));
    const v = ops.square(x).view([3, 2]);
    backward(ops.sum(ops.mul(v, Tensor.fromData([1, 2], [2]))));
    // v[i,j] = x_flat[2i+j]^2 weighted by (1, 2) on j: d/dx_k = 2 x_k w_(k mod 2)
    close(await x.grad!.data(), [2, 8, 6, 16, 10, 24]);
  });
});
