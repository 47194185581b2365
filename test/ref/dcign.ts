// A float64 reference of one whole DC-IGN training step (forward, backward, RMSProp), composed
// from the per-op references, for the end-to-end step test. Tests only.
import { map, matmul, sum, zip, type Arr } from './cpu.js';
import * as conv from './conv.js';
import { maxPool2d, maxPool2dBackward } from './maxpool2d.js';
import { upsampleNearest, upsampleNearestBackward } from './upsample.js';
import { latentsBackwardRef, latentsRef } from './latents.js';
import { bceLoss, bceLossGrad } from './losses.js';
import { rmspropStep } from './optim.js';
import type { DcignConfig } from '../../src/model/presets.js';

export type Params = Map<string, Arr>;

const relu = (a: Arr) => map(a, (v) => Math.max(v, 0));
const reluBack = (g: Arr, pre: Arr) => zip(g, pre, (gv, p) => (p > 0 ? gv : 0));
const reshape = (a: Arr, shape: number[]): Arr => ({ data: a.data, shape });

function linear(x: Arr, w: Arr, b: Arr): Arr {
  return zip(matmul(x, w, false, true), b, (u, v) => u + v);
}

export interface StepRef {
  bce: number;
  kl: number;
  grads: Params;
  updated: Params;
}

export function dcignStepRef(
  cfg: DcignConfig,
  p: Params,
  x: Arr,
  eps: Arr,
  range: [number, number] | null,
  invariance: number | undefined,
  lr = 5e-4,
  clamp: 'first' | 'mean' = 'first',
  invarianceMode: 'absolute' | 'relative' = 'absolute',
): StepRef {
  const P = (k: string) => p.get(k)!;
  const ep = { padding: cfg.encoderPadding };
  const dp = { padding: cfg.decoderPadding };
  const N = x.shape[0]!;
  // Encoder.
  const c1 = conv.conv2d(x, P('encoder.conv1.weight'), P('encoder.conv1.bias'), ep);
  const p1 = maxPool2d(c1);
  const a1 = relu(p1.out);
  const c2 = conv.conv2d(a1, P('encoder.conv2.weight'), P('encoder.conv2.bias'), ep);
  const p2 = maxPool2d(c2);
  const a2 = relu(p2.out);
  const c3 = conv.conv2d(a2, P('encoder.conv3.weight'), P('encoder.conv3.bias'), ep);
  const p3 = maxPool2d(c3);
  const a3 = relu(p3.out);
  const flat = reshape(a3, [N, a3.data.length / N]);
  const mu0 = linear(flat, P('encoder.mu.weight'), P('encoder.mu.bias'));
  const lv0 = linear(flat, P('encoder.logvar.weight'), P('encoder.logvar.bias'));
  const latentOptions = { range, clamp, invariance, invarianceMode };
  const { z, kl } = latentsRef(mu0, lv0, eps, latentOptions);
  // Decoder.
  const [bc, bs] = cfg.decoderBase;
  const f0 = linear(z, P('decoder.fc.weight'), P('decoder.fc.bias'));
  const h0 = reshape(relu(f0), [N, bc, bs, bs]);
  const u1 = upsampleNearest(h0);
  const d1 = conv.conv2d(u1, P('decoder.conv1.weight'), P('decoder.conv1.bias'), dp);
  const u2 = upsampleNearest(relu(d1));
  const d2 = conv.conv2d(u2, P('decoder.conv2.weight'), P('decoder.conv2.bias'), dp);
  const u3 = upsampleNearest(relu(d2));
  const d3 = conv.conv2d(u3, P('decoder.conv3.weight'), P('decoder.conv3.bias'), dp);
  const u4 = upsampleNearest(relu(d3));
  const d4 = conv.conv2d(u4, P('decoder.conv4.weight'), P('decoder.conv4.bias'), dp);
  const recon = map(d4, (v) => 1 / (1 + Math.exp(-v)));
  const bce = bceLoss(recon, x);

  // Backward, layer by layer in reverse.
  const grads: Params = new Map();
  const convBack = (name: string, input: Arr, dy: Arr, o: conv.ConvRefOptions) => {
    grads.set(`${name}.weight`, conv.conv2dGradWeight(input, dy, P(`${name}.weight`).shape, o));
    grads.set(`${name}.bias`, conv.conv2dGradBias(dy));
    return conv.conv2dGradInput(dy, P(`${name}.weight`), input.shape, o);
  };
  const linearBack = (name: string, input: Arr, dy: Arr) => {
    grads.set(`${name}.weight`, matmul(dy, input, true, false));
    grads.set(`${name}.bias`, sum(dy, [0]));
    return matmul(dy, P(`${name}.weight`));
  };
  const dRecon = bceLossGrad(recon, x);
  const dd4 = zip(dRecon, recon, (g, s) => g * s * (1 - s));
  let g = convBack('decoder.conv4', u4, dd4, dp);
  g = reluBack(upsampleNearestBackward(g), d3);
  g = convBack('decoder.conv3', u3, g, dp);
  g = reluBack(upsampleNearestBackward(g), d2);
  g = convBack('decoder.conv2', u2, g, dp);
  g = reluBack(upsampleNearestBackward(g), d1);
  g = convBack('decoder.conv1', u1, g, dp);
  g = upsampleNearestBackward(g);
  const df0 = reluBack(reshape(g, f0.shape), f0);
  const dz = linearBack('decoder.fc', z, df0);
  const [dmu, dlv] = latentsBackwardRef(mu0, lv0, eps, latentOptions, dz, 1);
  const dflat = zip(linearBack('encoder.mu', flat, dmu), linearBack('encoder.logvar', flat, dlv), (a, b) => a + b);
  g = reluBack(reshape(dflat, p3.out.shape), p3.out);
  g = convBack('encoder.conv3', a2, maxPool2dBackward(g, p3.idx, c3.shape), ep);
  g = reluBack(g, p2.out);
  g = convBack('encoder.conv2', a1, maxPool2dBackward(g, p2.idx, c2.shape), ep);
  g = reluBack(g, p1.out);
  convBack('encoder.conv1', x, maxPool2dBackward(g, p1.idx, c1.shape), ep);

  const updated: Params = new Map();
  for (const [name, w] of p) {
    const s = { x: Float64Array.from(w.data), m: new Float64Array(w.data.length), v: new Float64Array(w.data.length), t: 0 };
    rmspropStep(s, grads.get(name)!.data, lr);
    updated.set(name, { data: s.x, shape: [...w.shape] });
  }
  return { bce, kl, grads, updated };
}
