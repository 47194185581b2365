// DC-IGN's training step in jax-js, a peer of src/train/step.ts in `npm run bench -- step`: the
// same layers, clamp, losses and RMSProp variant as jax-js ops, gradients by valueAndGrad, the
// whole step (forward, backward and update) one jit'd function. jax-js keeps our layouts, so it
// starts from our weights as they are, and sees the same images and noise as ours: its losses must
// match ours step by step.
import type { DcignConfig } from '../src/model/presets.js';
import type { PeerStepSetup } from './tfjs-dcign.js';
import { jaxArray, type Jax, type JaxArray } from './jax.js';
import { maxPool2, upsample2 } from './jax-layers.js';

type A = JaxArray;
type Params = Record<string, A>;
/** What the jit'd step takes besides the parameters and moments: consumed, so passed as new references. */
type Inputs = { images: A; eps: A; mask: A; invMask: A };

/** [bce, kl] of the batch: the forward pass, taking ownership of p and x like every jax-js function. */
function losses(jax: Jax, c: DcignConfig, N: number, p: Params, x: Inputs): [A, A] {
  const { numpy: np, nn, lax } = jax;
  const pad = (padding: string) => (padding === 'same' ? 'SAME' : 'VALID');
  const conv = (h: A, layer: string, padding: string) => {
    const b = p[`${layer}.bias`]!;
    return lax.conv(h, p[`${layer}.weight`]!, [1, 1], pad(padding)).add(b.reshape([1, b.shape[0]!, 1, 1]));
  };
  // y = x W^T + b with W [out, in], as our Linear.
  const linear = (h: A, layer: string) => np.matmul(h, p[`${layer}.weight`]!.transpose()).add(p[`${layer}.bias`]!);
  // Section 3.2: latents outside the pass-through range take sample 0's values, and their gradient
  // is zeroed (the original's SelectiveOutputClamp + SelectiveGradientFilter, as ours): sample 0's
  // values enter through stopGradient, so the only gradient left is the masked pass-through one.
  const clamp = (h: A) => h.ref.mul(x.mask.ref).add(lax.stopGradient(h.slice([0, 1], [])).mul(x.invMask.ref));

  let h = x.images.ref;
  for (let i = 1; i <= 3; i++) h = nn.relu(maxPool2(jax, conv(h, `encoder.conv${i}`, c.encoderPadding)));
  const flat = h.reshape([N, -1]);
  const mu = clamp(linear(flat.ref, 'encoder.mu'));
  const logvar = clamp(linear(flat, 'encoder.logvar'));
  x.mask.dispose();
  x.invMask.dispose();
  const z = mu.ref.add(np.exp(np.clip(logvar.ref, -20, 20).mul(0.5)).mul(x.eps));
  const [bc, bs] = c.decoderBase;
  let d = nn.relu(linear(z, 'decoder.fc')).reshape([N, bc, bs, bs]);
  for (let i = 1; i <= 4; i++) {
    d = conv(upsample2(jax, d), `decoder.conv${i}`, c.decoderPadding);
    if (i < 4) d = nn.relu(d);
  }
  const q = np.clip(nn.sigmoid(d), 1e-7, 1 - 1e-7);
  const t = x.images;
  const bce = np.sum(t.ref.mul(np.log(q.ref)).add(np.subtract(1, t).mul(np.log(np.subtract(1, q))))).mul(-1);
  const kl = np.sum(np.square(mu).add(np.exp(logvar.ref)).sub(1).sub(logvar)).mul(0.5);
  return [bce, kl];
}

export class JaxDcign {
  private params: Params = {};
  private m: Params = {};
  private v: Params = {};
  private readonly inputs: Inputs;
  private t = 0;
  private readonly stepFn;

  constructor(private readonly jax: Jax, private readonly s: PeerStepSetup) {
    const c = s.config;
    const N = s.batch;
    const S = c.imageSize;
    const L = c.latents;
    for (const [name, { data, shape }] of s.weights) {
      this.params[name] = jaxArray(jax, data, shape);
      this.m[name] = jax.numpy.zeros([...shape]);
      this.v[name] = jax.numpy.zeros([...shape]);
    }
    const mask = new Float32Array(L).fill(1, s.pass[0], s.pass[1]);
    this.inputs = {
      images: jaxArray(jax, s.images, [N, 1, S, S]),
      eps: jaxArray(jax, s.eps, [N, L]),
      mask: jaxArray(jax, mask, [1, L]),
      invMask: jaxArray(jax, mask.map((m) => 1 - m), [1, L]),
    };
    const { b1, b2, eps } = s.rms;
    const total = (p: Params, x: Inputs): [A, [A, A]] => {
      const [bce, kl] = losses(jax, c, N, p, x);
      return [bce.ref.add(kl.ref), [bce, kl]];
    };
    const valueAndGrad = jax.valueAndGrad(total, { hasAux: true });
    // One step: the losses and gradients at p, then the RMSProp update of every parameter (lrGamma,
    // a scalar array, changes every step: passed in, not compiled in).
    this.stepFn = jax.jit((p: Params, m: Params, v: Params, x: Inputs, lrGamma: A) => {
      const names = Object.keys(p);
      const [[value, [bce, kl]], g] = valueAndGrad(jax.tree.ref(p), x);
      value.dispose();
      const np = jax.numpy;
      const out = { p: {} as Params, m: {} as Params, v: {} as Params };
      for (const name of names) {
        const gi = g[name]!;
        out.m[name] = m[name]!.mul(1 - b1).add(gi.ref.mul(b1));
        out.v[name] = v[name]!.mul(1 - b2).add(np.square(gi).mul(b2));
        out.p[name] = p[name]!.sub(out.m[name].ref.div(np.sqrt(out.v[name].ref.add(eps))).mul(lrGamma.ref));
      }
      lrGamma.dispose();
      return { bce, kl, ...out };
    });
  }

  /** One training step, recorded (not waited for): returns the step's losses (dispose them) and everything it writes. */
  step(): { bce: A; kl: A; written: A[] } {
    const { lr, b1, b2 } = this.s.rms;
    this.t++;
    const lrGamma = (lr * Math.sqrt(1 - Math.pow(1 - b2, this.t))) / (1 - Math.pow(1 - b1, this.t));
    const x = this.inputs;
    const inputs = { images: x.images.ref, eps: x.eps.ref, mask: x.mask.ref, invMask: x.invMask.ref };
    const r = this.stepFn(this.params, this.m, this.v, inputs, this.jax.numpy.array(lrGamma));
    [this.params, this.m, this.v] = [r.p, r.m, r.v];
    return { bce: r.bce, kl: r.kl, written: [r.bce, r.kl, ...Object.values(r.p), ...Object.values(r.m), ...Object.values(r.v)] };
  }

  dispose(): void {
    for (const a of [...Object.values(this.params), ...Object.values(this.m), ...Object.values(this.v), ...Object.values(this.inputs)]) a.dispose();
    this.stepFn.dispose();
  }
}
