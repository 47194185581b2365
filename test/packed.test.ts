// Tensors in a packed buffer (how RMSProp holds parameters, gradients and moments) start at a
// byte offset: every kernel must bind them there. Each op here runs on packed operands and on
// unpacked copies of the same values; the results must be bit for bit the same.
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { backward, noGrad, parameter, Tensor } from '../src/node.js';
import * as ops from '../src/ops.js';
import { upsampleConv2d } from '../src/kernels/upconv.js';
import { RMSProp } from '../src/train/optim.js';
import * as ref from './ref/cpu.js';

/** Copies of `arrays` as tensors packed behind a filler (so none sits at offset 0) and unpacked. */
function both(arrays: ref.Arr[]): { packed: Tensor[]; plain: Tensor[]; flat: Tensor } {
  const filler = Tensor.fromData(new Float32Array(37).fill(NaN), [37]);
  const packed = arrays.map((a) => Tensor.fromData(a.data, a.shape));
  const { flat } = Tensor.pack([filler, ...packed]);
  filler.dispose();
  return { packed, plain: arrays.map((a) => Tensor.fromData(a.data, a.shape)), flat };
}

describe('tensors at an offset in a packed buffer', () => {
  const ctx = useEngine();

  it('pack keeps values, aligns offsets, and reuses a buffer already packed the same way', async () => {
    const a = ref.random([3, 5], 1);
    const b = ref.random([7], 2);
    const ta = Tensor.fromData(a.data, a.shape);
    const tb = Tensor.fromData(b.data, b.shape);
    const alias = ta.view([15]);
    const { flat, offsets } = Tensor.pack([ta, tb]);
    const align = ctx.engine.limits.minStorageBufferOffsetAlignment;
    expect(offsets).toEqual([0, align / 4]);
    expect(ta.offset % align).toBe(0);
    expect(tb.offset).toBe(ta.offset + align);
    expect(Array.from(await ta.data())).toEqual(Array.from(Float32Array.from(a.data)));
    expect(Array.from(await tb.data())).toEqual(Array.from(Float32Array.from(b.data)));
    expect(alias.buffer, 'a view moves with the tensor it views').toBe(ta.buffer);
    expect(Array.from(await alias.data())).toEqual(Array.from(Float32Array.from(a.data)));
    const again = Tensor.pack([ta, tb]);
    expect(again.flat.buffer).toBe(flat.buffer);
    expect(() => Tensor.pack([flat])).toThrow(/slots cut from it/);
    const slot = flat.slot(offsets[1]!, [7]);
    expect(Array.from(await slot.data())).toEqual(Array.from(Float32Array.from(b.data)));
    expect(() => flat.slot(1, [2])).toThrow(/Tensor.slot: elements \[1, 3\).*boundary/);
    for (const t of [ta, tb, alias, flat, again.flat, slot]) t.dispose();
  });

  it('every op reads and writes them at their offset', async () => {
    const x = ref.random([2, 3, 9, 9], 3);
    const w = ref.random([4, 3, 3, 3], 4, -0.3, 0.3);
    const bias = ref.random([4], 5);
    const m = ref.random([5, 6], 6);
    const lw = ref.random([4, 6], 7);
    const lb = ref.random([4], 8);
    const p = ref.random([5, 6], 9, 0.05, 0.95);
    const row = ref.random([6], 10);
    const { packed, plain, flat } = both([x, w, bias, m, lw, lb, p, row]);
    const run = ([x, w, b, m, lw, lb, p, row]: Tensor[]) =>
      noGrad(() => [
        ops.mapUnary(m!, 'x * 3.0', 'scale'),
        ops.add(m!, row!),
        ops.add(m!, p!),
        ops.sum(m!, 0),
        ops.matmul(m!, lw!, { transB: true }),
        ops.linear(m!, lw!, lb!, { activation: 'relu' }),
        ops.conv2d(x!, w!, b!, { padding: 1 }),
        ops.conv2dGradInput(ops.conv2d(x!, w!, null, { padding: 1 }), w!, x!.shape, { padding: 1 }),
        ops.conv2dGradWeight(x!, x!, [3, 3, 1, 1]),
        ops.conv2dGradBias(x!),
        ops.maxPool2d(x!, { kernel: 2, stride: 2 }),
        ops.upsampleNearest(x!),
        upsampleConv2d(x!, w!, b!, { padding: 1 }),
        ops.bceLoss(p!, p!),
        ops.klLoss(m!, p!),
        ops.reparameterise(m!, p!, { eps: p! }),
        ops.selectiveClamp(m!, 1, 3, 'mean'),
        ops.gradientFilter(m!, 1, 3),
      ]);
    const a = run(packed);
    const b = run(plain);
    for (let k = 0; k < a.length; k++) {
      expect(Array.from(await a[k]!.data()), `op ${k}`).toEqual(Array.from(await b[k]!.data()));
    }
    for (const t of [...a, ...b, ...packed, ...plain, flat]) t.dispose();
  });

  it('a second optimizer over the same parameters (a stand-in for a dry run) shares their buffer and gives the slots back', async () => {
    const params = [parameter(Tensor.fromData([1, 2, 3], [3])), parameter(Tensor.fromData([4, 5], [2]))];
    const opt = new RMSProp(params);
    const buffer = params[0]!.buffer;
    await ctx.engine.precompile(() => {
      const standIn = new RMSProp(params);
      expect(params[0]!.buffer, 'not moved').toBe(buffer);
      standIn.dispose();
    });
    params.forEach((p, k) => expect(p.gradSlot, `slot ${k} given back`).toBe(opt.gradSlots[k]));
    expect(Array.from(await params[1]!.data())).toEqual([4, 5]);
    const fresh = [parameter(Tensor.fromData([1], [1]))];
    await expect(ctx.engine.precompile(() => new RMSProp(fresh))).rejects.toThrow(/Tensor.pack: packing in a dry run/);
  });

  it('backward writes parameter gradients into the optimizer slots, which RMSProp steps in one dispatch', async () => {
    const x = ref.random([2, 3, 6, 6], 10);
    const w = ref.random([4, 3, 3, 3], 11, -0.3, 0.3);
    const bias = ref.random([4], 12);
    const lw = ref.random([5, 36], 13, -0.1, 0.1);
    const make = () => [w, bias, lw].map((a) => parameter(Tensor.fromData(a.data, a.shape)));
    const loss = (params: Tensor[], xs: Tensor) => {
      const h = ops.maxPool2d(ops.conv2d(xs, params[0]!, params[1]!, { padding: 1 }), { kernel: 2, stride: 2 });
      return ops.sum(ops.linear(h.view([2, 36]), params[2]!, null));
    };
    // Reference: the same graph without an optimizer, gradients in tensors of their own.
    const xs = Tensor.fromData(x.data, x.shape);
    const refParams = make();
    backward(loss(refParams, xs));
    const opt = new RMSProp(make());
    const params = opt.params as Tensor[];
    backward(loss(params, xs));
    await ctx.engine.sync();
    params.forEach((q, k) => {
      expect(q.grad!.buffer, `gradient ${k} is in its slot`).toBe(opt.gradSlots[k]!.buffer);
      expect(q.grad!.offset).toBe(opt.gradSlots[k]!.offset);
    });
    for (let k = 0; k < params.length; k++) {
      expect(Array.from(await params[k]!.grad!.data()), `gradient ${k}`).toEqual(Array.from(await refParams[k]!.grad!.data()));
    }
    const before = { ...ctx.engine.stats };
    opt.step();
    ctx.engine.flush();
    expect(ctx.engine.stats.dispatches - before.dispatches).toBe(1);
    expect(ctx.engine.stats.copies - before.copies, 'no gradient copied').toBe(0);
  });
});
