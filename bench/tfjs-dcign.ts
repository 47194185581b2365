// DC-IGN's training step in tfjs-backend-webgpu, the peer of src/train/step.ts in `npm run bench
// -- step`: the same layers, clamp, losses and RMSProp variant as tf ops, gradients by
// tf.variableGrads. It starts from our weights (in tfjs's layouts, see tfLayout) and sees the same
// images and noise, so its losses must match ours step by step.
import type { Scalar, Tensor, Tensor4D, Variable } from '@tensorflow/tfjs';
import { shapesOf, type DcignConfig } from '../src/model/presets.js';
import type { TF } from './tfjs.js';
import { NCHW_TO_NHWC, OCKK_TO_KKCO, permute4 } from './peer-data.js';

export interface PeerStepSetup {
  config: DcignConfig;
  batch: number;
  /** [N, S, S] (one channel: NCHW and NHWC agree). */
  images: Float32Array;
  /** [N, latents]: z = mu + sigma * eps. */
  eps: Float32Array;
  /** Pass-through latents [start, end) of the batch type; the others are clamped. */
  pass: [number, number];
  /** Our parameters by name (`encoder.conv1.weight`, ...) in our layouts: conv [O,C,k,k], linear [out,in] (tfjs gets [in,out]). */
  weights: Map<string, { data: Float32Array; shape: readonly number[] }>;
  rms: { lr: number; b1: number; b2: number; eps: number };
}

/**
 * Our parameter in tfjs's layout: conv filters [k,k,C,O]; linear weights [in, out], as tfjs's own
 * dense layers store them (see `linear`), the side flattened from an NCHW map reordered as NHWC.
 */
function tfLayout(c: DcignConfig, name: string, d: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
  if (shape.length === 4) return { data: permute4(d, shape, OCKK_TO_KKCO), shape: OCKK_TO_KKCO.map((p) => shape[p]!) };
  const [bc, bs] = c.decoderBase;
  if (shape.length === 1) return { data: name === 'decoder.fc.bias' ? permute4(d, [1, bc, bs, bs], NCHW_TO_NHWC) : d, shape: [...shape] };
  const [out, inF] = shape as [number, number];
  const side = shapesOf(c).encoder[3]!;
  // Each weight as a 4-D view, permuted to [in..., out...].
  const [view, perm] = name.startsWith('encoder.')
    ? [[out, c.encoderMaps[2], side, side], OCKK_TO_KKCO]
    : name === 'decoder.fc.weight'
      ? [[bc, bs, bs, inF], [3, 1, 2, 0]]
      : [[out, inF, 1, 1], [1, 0, 2, 3]];
  return { data: permute4(d, view, perm), shape: [inF, out] };
}

let instances = 0;

export class TfDcign {
  /** Each parameter (x) with RMSProp's m and v. */
  private readonly vars = new Map<string, { x: Variable; m: Variable; v: Variable }>();
  private readonly images: Tensor4D;
  private readonly eps: Tensor;
  private readonly mask: Tensor;
  private readonly invMask: Tensor;
  private t = 0;
  private readonly clampHead: (h: Tensor) => Tensor;
  private readonly linear: (x: Tensor, w: Tensor, b: Tensor) => Tensor;

  constructor(private readonly tf: TF, private readonly s: PeerStepSetup) {
    const c = s.config;
    const N = s.batch;
    const S = c.imageSize;
    const L = c.latents;
    const id = ++instances;
    for (const [name, { data, shape }] of s.weights) {
      const tl = tfLayout(c, name, data, shape);
      const t = tf.tensor(tl.data, tl.shape);
      const zeros = (what: string) => tf.variable(tf.zerosLike(t), false, `dcign${id}.${what}.${name}`);
      this.vars.set(name, { x: tf.variable(t, true, `dcign${id}.${name}`), m: zeros('m'), v: zeros('v') });
      t.dispose();
    }
    this.images = tf.tensor4d(s.images, [N, S, S, 1]);
    this.eps = tf.tensor2d(s.eps, [N, L]);
    const mask = new Float32Array(L);
    mask.fill(1, s.pass[0], s.pass[1]);
    this.mask = tf.tensor2d(mask, [1, L]);
    this.invMask = tf.tensor2d(mask.map((x) => 1 - x), [1, L]);
    // Section 3.2: latents outside the pass-through range take sample 0's values; their gradient
    // is zeroed (the original's SelectiveOutputClamp + SelectiveGradientFilter, as ours).
    this.clampHead = tf.customGrad((...args) => {
      const h = args[0] as Tensor;
      const first = tf.slice(h, [0, 0], [1, L]);
      const value = tf.add(tf.mul(h, this.mask), tf.mul(first, this.invMask));
      return { value, gradFunc: (dy: Tensor | Tensor[]) => tf.mul(dy as Tensor, this.mask) };
    }) as (h: Tensor) => Tensor;
    // y = x W + b with W [in, out]. tfjs-backend-webgpu 4.22's matMul with transposeB gives wrong
    // results on lavapipe for some shapes ([2,5400] x [200,5400]^T: 5% relative error, [2,2048] x
    // [200,2048]^T: 10%; the same products after an explicit transpose are exact), and matMul's own
    // gradient uses transposeA/transposeB: so this gradient transposes explicitly.
    this.linear = tf.customGrad((...args) => {
      const [x, w, b, save] = args as [Tensor, Tensor, Tensor, (ts: Tensor[]) => void];
      save([x, w]);
      return {
        value: tf.add(tf.matMul(x, w), b),
        gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
          const g = dy as Tensor;
          const [sx, sw] = saved as [Tensor, Tensor];
          return [tf.matMul(g, tf.transpose(sw)), tf.matMul(tf.transpose(sx), g), tf.sum(g, 0)];
        },
      };
    }) as (x: Tensor, w: Tensor, b: Tensor) => Tensor;
  }

  private p(name: string): Tensor {
    return this.vars.get(name)!.x;
  }

  /** The forward pass: [bce, kl] as scalars. */
  losses(): [Scalar, Scalar] {
    const tf = this.tf;
    const c = this.s.config;
    const N = this.s.batch;
    const encPad = c.encoderPadding;
    const decPad = c.decoderPadding;
    let h: Tensor4D = this.images;
    for (let i = 1; i <= 3; i++) {
      const y = tf.fused.conv2d({ x: h, filter: this.p(`encoder.conv${i}.weight`) as Tensor4D, bias: this.p(`encoder.conv${i}.bias`), strides: 1, pad: encPad });
      h = tf.relu(tf.maxPool(y, 2, 2, 'valid'));
    }
    const flat = tf.reshape(h, [N, -1]);
    const head = (name: string) => this.clampHead(this.linear(flat, this.p(`encoder.${name}.weight`), this.p(`encoder.${name}.bias`)));
    const mu = head('mu');
    const logvar = head('logvar');
    const z = tf.add(mu, tf.mul(tf.exp(tf.mul(tf.clipByValue(logvar, -20, 20), 0.5)), this.eps));
    const [bc, bs] = c.decoderBase;
    let d = tf.reshape(tf.relu(this.linear(z, this.p('decoder.fc.weight'), this.p('decoder.fc.bias'))), [N, bs, bs, bc]) as Tensor4D;
    for (let i = 1; i <= 4; i++) {
      const up = tf.image.resizeNearestNeighbor(d, [d.shape[1] * 2, d.shape[2] * 2], false, false);
      d = tf.fused.conv2d({
        x: up,
        filter: this.p(`decoder.conv${i}.weight`) as Tensor4D,
        bias: this.p(`decoder.conv${i}.bias`),
        strides: 1,
        pad: decPad,
        activation: i < 4 ? 'relu' : 'linear',
      });
    }
    const p = tf.clipByValue(tf.sigmoid(d), 1e-7, 1 - 1e-7);
    const t = this.images;
    const bce = tf.neg(tf.sum(tf.add(tf.mul(t, tf.log(p)), tf.mul(tf.sub(1, t), tf.log(tf.sub(1, p))))));
    const kl = tf.mul(tf.sum(tf.sub(tf.sub(tf.add(tf.square(mu), tf.exp(logvar)), 1), logvar)), 0.5);
    return [bce as Scalar, kl as Scalar];
  }

  /** One training step, recorded (not waited for): returns the step's losses, kept (dispose them). */
  step(): { bce: Scalar; kl: Scalar } {
    const tf = this.tf;
    let kept: { bce: Scalar; kl: Scalar } | null = null;
    const vars = [...this.vars.values()];
    const { value, grads } = tf.variableGrads(() => {
      const [bce, kl] = this.losses();
      kept = { bce: tf.keep(bce), kl: tf.keep(kl) };
      return tf.add(bce, kl) as Scalar;
    }, vars.map((p) => p.x));
    const { lr, b1, b2, eps } = this.s.rms;
    this.t++;
    const lrGamma = (lr * Math.sqrt(1 - Math.pow(1 - b2, this.t))) / (1 - Math.pow(1 - b1, this.t));
    tf.tidy(() => {
      for (const { x, m, v } of vars) {
        const g = grads[x.name] ?? tf.zerosLike(x);
        m.assign(tf.add(tf.mul(m, 1 - b1), tf.mul(g, b1)));
        v.assign(tf.add(tf.mul(v, 1 - b2), tf.mul(tf.square(g), b2)));
        x.assign(tf.sub(x, tf.mul(tf.div(m, tf.sqrt(tf.add(v, eps))), lrGamma)));
      }
    });
    tf.dispose(grads);
    value.dispose();
    return kept!;
  }

  dispose(): void {
    for (const { x, m, v } of this.vars.values()) this.tf.dispose([x, m, v]);
    this.tf.dispose([this.images, this.eps, this.mask, this.invMask]);
  }
}
