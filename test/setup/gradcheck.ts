// Forward and gradient checks of a GPU op against its float64 reference: the forward elementwise,
// gradients against an analytic reference where one is given and always against central finite
// differences of the reference forward (loss = sum(out * R) for a random R).
import { expect } from 'vitest';
import { backward, parameter, Tensor, tidy } from '../../src/node.js';
import { arr, dot, finiteDiff, random, sampleIndices, type Arr } from '../ref/cpu.js';
import { expectClose } from './expect.js';

export interface GradCheck {
  gpu: (inputs: Tensor[]) => Tensor;
  cpu: (inputs: Arr[]) => Arr;
  inputs: Arr[];
  /** Analytic float64 gradients of sum(out * R) for each input. */
  analytic?: (inputs: Arr[], R: Arr) => Arr[];
  /** Inputs that get no gradient check (e.g. indices). */
  skip?: number[];
  tol: { atol: number; rtol: number };
  /** Finite-difference tolerance (defaults to tol). */
  fdTol?: { atol: number; rtol: number };
  fdSamples?: number;
  seed?: number;
}

export async function gradCheck(c: GradCheck): Promise<void> {
  const want = c.cpu(c.inputs);
  const R = random(want.shape, (c.seed ?? 7) + 1000, -1, 1);
  const tensors = c.inputs.map((a, i) => {
    const t = Tensor.fromData(a.data, a.shape);
    return c.skip?.includes(i) ? t : parameter(t, `input${i}`);
  });
  const out = tidy(() => {
    const o = c.gpu(tensors);
    backward(o, Tensor.fromData(R.data, R.shape));
    return o;
  });
  expect(out.shape).toEqual(want.shape);
  expectClose(await out.data(), want.data, c.tol.atol, c.tol.rtol, 'forward');
  const analytic = c.analytic?.(c.inputs, R);
  for (let i = 0; i < c.inputs.length; i++) {
    if (c.skip?.includes(i)) continue;
    const t = tensors[i]!;
    expect(t.grad, `input ${i} has a gradient`).not.toBeNull();
    const g = await t.grad!.data();
    if (analytic) expectClose(g, analytic[i]!.data, c.tol.atol, c.tol.rtol, `gradient of input ${i} vs analytic reference`);
    const idx = sampleIndices(g.length, c.fdSamples ?? 24);
    const x = arr(c.inputs[i]!.data, c.inputs[i]!.shape);
    const fd = finiteDiff((xi) => dot(c.cpu(c.inputs.map((a, j) => (j === i ? xi : a))), R), x, idx);
    const fdTol = c.fdTol ?? c.tol;
    expectClose(idx.map((k) => g[k]!), idx.map((k) => fd.get(k)!), fdTol.atol, fdTol.rtol, `gradient of input ${i} vs finite differences`);
  }
  for (const t of tensors) {
    t.grad?.dispose();
    t.dispose();
  }
  out.dispose();
}
