import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { Tensor, ops } from '../src/node.js';

const ctx = useEngine();

describe('smoke', () => {
  it('adds and multiplies', async () => {
    const a = Tensor.fromData([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = Tensor.fromData([10, 20, 30], [3]);
    const c = ops.add(a, b);
    expect([...(await c.data())]).toEqual([11, 22, 33, 14, 25, 36]);
    const m = ops.matmul(a, Tensor.fromData([1, 0, 0, 1, 1, 1], [3, 2]));
    expect([...(await m.data())]).toEqual([4, 5, 10, 11]);
    const s = ops.sum(a, 1);
    expect([...(await s.data())]).toEqual([6, 15]);
    expect(ctx.engine.report).toMatch(/binding/);
  });
});
