// The DC-IGN network (Kulkarni et al. 2015, the original init_network2_150_mv): an encoder of
// three conv + 2x2 max-pool + ReLU stages and two linear heads (mu, logvar), and a decoder of a
// linear layer, ReLU, and four nearest-upsample x2 + conv stages with a sigmoid at the end.
import { foldUpsample } from '../kernels/upconv.js';
import { getEngine, shapeStr, type Tensor } from '../tensor.js';
import type { Engine } from '../gpu/engine.js';
import { Conv2d, Init, Linear, type Layer } from './layers.js';
import { shapesOf, type DcignConfig } from './presets.js';

export class Dcign {
  readonly config: DcignConfig;
  readonly engine: Engine;
  readonly encoder: { conv1: Conv2d; conv2: Conv2d; conv3: Conv2d; mu: Linear; logvar: Linear };
  readonly decoder: { fc: Linear; conv1: Conv2d; conv2: Conv2d; conv3: Conv2d; conv4: Conv2d };
  private readonly flat: number;

  constructor(config: DcignConfig, seed = 1, engine: Engine = getEngine()) {
    const { flat } = shapesOf(config);
    this.config = config;
    this.engine = engine;
    this.flat = flat;
    const init = new Init(engine, seed);
    const relu = config.init === 'relu';
    const gain = relu ? Math.sqrt(6) : 1;
    const [e1, e2, e3] = config.encoderMaps;
    const ek = config.encoderKernel;
    const ep = config.encoderPadding;
    this.encoder = {
      conv1: new Conv2d(1, e1, ek, ep, init, gain),
      conv2: new Conv2d(e1, e2, ek, ep, init, gain),
      conv3: new Conv2d(e2, e3, ek, ep, init, gain),
      mu: new Linear(flat, config.latents, init),
      logvar: new Linear(flat, config.latents, init),
    };
    const [bc, bs] = config.decoderBase;
    const [d1, d2, d3, d4] = config.decoderMaps;
    const dk = config.decoderKernel;
    const dp = config.decoderPadding;
    this.decoder = {
      fc: new Linear(config.latents, bc * bs * bs, init, relu),
      conv1: new Conv2d(bc, d1, dk, dp, init, gain),
      conv2: new Conv2d(d1, d2, dk, dp, init, gain),
      conv3: new Conv2d(d2, d3, dk, dp, init, gain),
      conv4: new Conv2d(d3, d4, dk, dp, init, gain),
    };
  }

  /** Every parameter under its PyTorch-style name, e.g. `encoder.conv1.weight`. */
  parameters(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [part, layers] of [['encoder', this.encoder], ['decoder', this.decoder]] as const) {
      for (const [name, layer] of Object.entries(layers) as [string, Layer][]) {
        for (const [p, t] of layer.params()) out.set(`${part}.${name}.${p}`, t);
      }
    }
    return out;
  }

  /** x [N,1,S,S] in [0,1] -> mu and logvar [N, latents] (before any clamping). */
  encode(x: Tensor): { mu: Tensor; logvar: Tensor } {
    const S = this.config.imageSize;
    if (x.rank !== 4 || x.shape[1] !== 1 || x.shape[2] !== S || x.shape[3] !== S) {
      throw new Error(`Dcign.encode: expected images [N,1,${S},${S}] for preset ${this.config.preset}, got ${shapeStr(x.shape)}`);
    }
    let h = x;
    for (const conv of [this.encoder.conv1, this.encoder.conv2, this.encoder.conv3]) {
      // Convolution, pool and ReLU in one kernel (the convolution's output is never written); its
      // rule reads its argmax.
      h = conv.forwardPooled(h);
    }
    const { mu, logvar } = this.encoder;
    const flat = h.view([x.shape[0]!, this.flat]);
    return { mu: mu.forward(flat), logvar: logvar.forward(flat) };
  }

  /** z [N, latents] -> images [N,1,S,S] in (0,1). */
  decode(z: Tensor): Tensor {
    if (z.rank !== 2 || z.shape[1] !== this.config.latents) {
      throw new Error(`Dcign.decode: expected z [N,${this.config.latents}], got ${shapeStr(z.shape)}`);
    }
    const { fc, conv1, conv2, conv3, conv4 } = this.decoder;
    const [bc, bs] = this.config.decoderBase;
    // Every activation runs in its layer's store, and the next layer's rule keeps its input.
    let h = fc.forward(z, 'relu').view([z.shape[0]!, bc, bs, bs]);
    // Every layer's weights and bias folded for the upsampling in one dispatch, and their
    // gradients folded back in one (src/kernels/fold.ts).
    const convs = [conv1, conv2, conv3, conv4];
    const folded = foldUpsample(convs.map((c) => ({ w: c.weight, bias: c.bias, padding: c.padding })));
    convs.forEach((conv, k) => {
      h = conv.forwardUpsampled(h, k < 3 ? 'relu' : 'sigmoid', folded[k]);
      // A layer whose output needs no gradient has no rule to keep its folded tensors.
      if (!h.requiresGrad) {
        folded[k]!.w.dispose();
        folded[k]!.bias?.dispose();
      }
    });
    return h;
  }

  dispose(): void {
    for (const t of this.parameters().values()) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}
