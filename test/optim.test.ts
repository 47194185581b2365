import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { expectClose } from './setup/expect.js';
import { parameter, Tensor } from '../src/node.js';
import { RMSProp, SGD } from '../src/train/optim.js';
import * as ref from './ref/cpu.js';
import { rmspropStep, sgdStep, type RmsState } from './ref/optim.js';

// One step is a handful of float32 operations per element. v sums positive terms: a few ulps,
// 1e-5 relative. m sums terms of either sign that can cancel: a few ulps of its terms, which are
// at most |g| = 3 here, so 5e-7 absolute. x: an ulp of its magnitude (~1) plus the update's
// error (lr * gamma * m/sqrt(v), m/sqrt(v) off by ~1e-6): 2e-7 absolute. Errors do not compound
// over the steps tested.
const X_TOL = { atol: 2e-7, rtol: 1e-6 };
const M_TOL = { atol: 5e-7, rtol: 1e-5 };
const V_TOL = { atol: 1e-12, rtol: 1e-5 };

function setGrad(p: Tensor, g: ref.Arr): void {
  p.grad?.dispose();
  p.grad = Tensor.fromData(g.data, g.shape);
}

async function expectState(opt: RMSProp, want: RmsState[], what: string): Promise<void> {
  for (let k = 0; k < want.length; k++) {
    expectClose(await opt.params[k]!.data(), want[k]!.x, X_TOL.atol, X_TOL.rtol, `${what}: x[${k}]`);
    expectClose(await opt.m[k]!.data(), want[k]!.m, M_TOL.atol, M_TOL.rtol, `${what}: m[${k}]`);
    expectClose(await opt.v[k]!.data(), want[k]!.v, V_TOL.atol, V_TOL.rtol, `${what}: v[${k}]`);
    expect(opt.t).toBe(want[k]!.t);
  }
}

const shapes = [[7, 13], [33], [2, 3, 5, 5]];

function setup(seed: number, shapeList = shapes) {
  const xs = shapeList.map((s, k) => ref.random(s, seed + k));
  const params = xs.map((x) => parameter(Tensor.fromData(x.data, x.shape)));
  const cpu: RmsState[] = xs.map((x) => ({ x: Float64Array.from(x.data), m: new Float64Array(x.data.length), v: new Float64Array(x.data.length), t: 0 }));
  return { params, cpu };
}

describe('RMSProp (rmsprop.lua)', () => {
  const ctx = useEngine();

  it('two steps match the formula on random tensors (defaults lr 5e-4, b1 0.1, b2 0.01)', async () => {
    const { params, cpu } = setup(1);
    const opt = new RMSProp(params);
    for (let step = 1; step <= 2; step++) {
      params.forEach((p, k) => {
        const g = ref.random([...p.shape], 100 * step + k, -3, 3);
        setGrad(p, g);
        rmspropStep(cpu[k]!, g.data);
      });
      opt.step();
      await expectState(opt, cpu, `step ${step}`);
    }
    // With the defaults the first step's bias correction is exactly 1; the second's is
    // sqrt(1 - 0.99^2) / (1 - 0.9^2) = 0.74246, so step 2 fails without it.
    expect(opt.stepSize(1)).toBeCloseTo(5e-4, 15);
    expect(opt.stepSize(2)).toBeCloseTo(5e-4 * 0.7424597884, 13);
  });

  it('several steps in a row, with other hyper-parameters and a parameter that gets no gradient', async () => {
    const { params, cpu } = setup(2);
    const opt = new RMSProp(params, { lr: 1e-2, momentumDecay: 0.3, updateDecay: 0.05 });
    for (let step = 1; step <= 6; step++) {
      params.forEach((p, k) => {
        if (k === 2 && step >= 4) {
          // No gradient reached it: stepped with zeros, its momentum still moving it.
          p.grad?.dispose();
          p.grad = null;
          rmspropStep(cpu[k]!, new Float64Array(p.size), 1e-2, 0.3, 0.05);
          return;
        }
        const g = ref.random([...p.shape], 10 * step + k, -2, 2);
        setGrad(p, g);
        rmspropStep(cpu[k]!, g.data, 1e-2, 0.3, 0.05);
      });
      opt.step();
      await expectState(opt, cpu, `step ${step}`);
    }
  });

  it('steps without reading back from the GPU', async () => {
    const { params } = setup(3);
    const opt = new RMSProp(params);
    params.forEach((p, k) => setGrad(p, ref.random([...p.shape], k + 7)));
    await ctx.engine.sync();
    const before = { ...ctx.engine.stats };
    for (let i = 0; i < 3; i++) opt.step();
    ctx.engine.flush();
    expect(ctx.engine.stats.readbacks).toBe(before.readbacks);
    expect(ctx.engine.stats.uploads).toBe(before.uploads);
    // One dispatch a step for all parameters; gradients set by hand (not written into the
    // optimizer's slots by backward) are copied there first.
    expect(ctx.engine.stats.dispatches - before.dispatches).toBe(3);
    expect(ctx.engine.stats.copies - before.copies).toBe(3 * params.length);
    expect(ctx.engine.stats.submits - before.submits).toBe(1);
  });

  it('restores a checkpoint of t, m and v: the continued run is identical', async () => {
    const { params } = setup(4);
    const opt = new RMSProp(params);
    const grads = (step: number) => params.forEach((p, k) => setGrad(p, ref.random([...p.shape], 50 * step + k)));
    for (let s = 1; s <= 3; s++) {
      grads(s);
      opt.step();
    }
    const saved = {
      t: opt.state().t,
      x: await Promise.all(params.map((p) => p.data())),
      m: await Promise.all(opt.state().m.map((t) => t.data())),
      v: await Promise.all(opt.state().v.map((t) => t.data())),
    };
    for (let s = 4; s <= 5; s++) {
      grads(s);
      opt.step();
    }
    const first = await Promise.all(params.map((p) => p.data()));
    // A fresh optimizer on fresh parameters, loaded from the checkpoint.
    const params2 = params.map((p, k) => parameter(Tensor.fromData(saved.x[k]!, p.shape)));
    const opt2 = new RMSProp(params2);
    opt2.loadState(saved);
    expect(opt2.t).toBe(3);
    for (let s = 4; s <= 5; s++) {
      params2.forEach((p, k) => setGrad(p, ref.random([...p.shape], 50 * s + k)));
      opt2.step();
    }
    for (let k = 0; k < params.length; k++) expect(await params2[k]!.data()).toEqual(first[k]);
    // Tensors load too (copied on the GPU).
    const opt3 = new RMSProp(params2);
    opt3.loadState(opt2.state());
    expect(await opt3.m[0]!.data()).toEqual(await opt2.m[0]!.data());
    expect(() => opt3.loadState({ t: 1, m: [], v: [] })).toThrow(/0 m and 0 v for 3 parameters/);
  });

  it('rejects bad settings and mismatched gradients', () => {
    const p = parameter(Tensor.fromData([1, 2, 3], [3]));
    expect(() => new RMSProp([p], { momentumDecay: 0 })).toThrow(/must lie in \(0, 1\]/);
    expect(() => new RMSProp([p, p])).toThrow(/listed twice/);
    p.grad = Tensor.fromData([1, 2], [2]);
    expect(() => new RMSProp([p]).step()).toThrow(/gradient of parameter 0 does not match/);
  });
});

describe('SGD', () => {
  useEngine();

  it('x <- x - lr g, parameters without a gradient left alone', async () => {
    const { params, cpu } = setup(5);
    const opt = new SGD(params, { lr: 0.1 });
    for (let step = 0; step < 2; step++) {
      params.forEach((p, k) => {
        if (k === 1) return;
        const g = ref.random([...p.shape], 20 + step * 3 + k);
        setGrad(p, g);
        sgdStep(cpu[k]!.x, g.data, 0.1);
      });
      opt.step();
    }
    for (let k = 0; k < params.length; k++) expectClose(await params[k]!.data(), cpu[k]!.x, X_TOL.atol, X_TOL.rtol, `x[${k}]`);
  });
});

describe('optimizers with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  it('update parameters larger than one binding chunk by chunk', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    const { params, cpu } = setup(6, [[3, 200_001], [5]]); // 2.4 MB: 3 chunks
    const opt = new RMSProp(params);
    for (let step = 1; step <= 2; step++) {
      params.forEach((p, k) => {
        const g = ref.random([...p.shape], 60 + step * 2 + k);
        setGrad(p, g);
        rmspropStep(cpu[k]!, g.data);
      });
      opt.step();
    }
    await expectState(opt, cpu, 'chunked');
    const sgd = new SGD([params[0]!], { lr: 0.5 });
    sgd.step();
    sgdStep(cpu[0]!.x, (params[0]!.grad ? await params[0]!.grad.data() : []), 0.5);
    expectClose(await params[0]!.data(), cpu[0]!.x, X_TOL.atol, X_TOL.rtol, 'SGD chunked');
  });
});
