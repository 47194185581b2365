// The DC-IGN network's layer shapes and the tensors a training step makes, per image, from a
// preset's config: what the benchmarks count FLOPs and memory over, and what bounds the largest
// batch an adapter takes (src/cli/batch-limit.ts).
import type { DcignConfig, Padding } from './presets.js';
import { shapesOf } from './presets.js';

export interface ConvShape {
  name: string;
  C: number;
  O: number;
  /** Input side as the paper's network runs it: for the decoder, the upsampled map (2x the layer's input). */
  H: number;
  k: number;
  Ho: number;
  needsDx: boolean;
  /**
   * Decoder layers: the side kF of the folded kernels that upsampleConv2d runs instead (one conv2d
   * with 4*O output channels of (Ho/2)x(Ho/2) on the un-upsampled input; src/kernels/upconv.ts
   * foldGeometry: 7x7 valid -> 4x4, 5x5 same -> 3x3); null for the encoder.
   */
  kFolded: number | null;
}
export interface LinearShape {
  name: string;
  inF: number;
  outF: number;
}
/** A named activation [N, ...] of the forward pass, elements per image. */
export interface Activation {
  name: string;
  perImage: number;
  shape: number[];
}

export interface Network {
  convs: ConvShape[];
  linears: LinearShape[];
  /** The tensors our forward makes (decoder: the folded conv's [4*O, Ho/2, Ho/2] output, then the layer's output). */
  activations: Activation[];
  /** The tensors of the paper's network run directly, as tfjs does (decoder: the upsampled map, then the conv output). */
  directActivations: Activation[];
  params: number;
}

/** foldGeometry's kernel side for a K x K kernel with the given padding of the upsampled map. */
function foldedSide(K: number, padding: Padding): number {
  const P = padding === 'same' ? (K - 1) / 2 : 0;
  return Math.floor((K - P) / 2) + Math.ceil(P / 2) + 1;
}

export function network(c: DcignConfig): Network {
  const s = shapesOf(c);
  const convOut = (n: number, k: number, p: string) => (p === 'same' ? n : n - k + 1);
  const convs: ConvShape[] = [];
  const acts: Activation[] = [];
  const direct: Activation[] = [];
  const act = (to: Activation[][], name: string, shape: number[]) => {
    for (const list of to) list.push({ name, shape, perImage: shape.reduce((a, b) => a * b, 1) });
  };
  const both = [acts, direct];
  let ch = 1;
  let size = c.imageSize;
  act(both, 'images', [1, size, size]);
  for (let i = 0; i < 3; i++) {
    const O = c.encoderMaps[i]!;
    const Ho = convOut(size, c.encoderKernel, c.encoderPadding);
    convs.push({ name: `encoder.conv${i + 1}`, C: ch, O, H: size, k: c.encoderKernel, Ho, needsDx: i > 0, kFolded: null });
    act(both, `encoder.conv${i + 1} out`, [O, Ho, Ho]);
    size = Math.floor(Ho / 2);
    act(both, `encoder.pool${i + 1} out`, [O, size, size]);
    ch = O;
  }
  const linears: LinearShape[] = [
    { name: 'encoder.mu', inF: s.flat, outF: c.latents },
    { name: 'encoder.logvar', inF: s.flat, outF: c.latents },
  ];
  act(both, 'latents', [c.latents]);
  const [bc, bs] = c.decoderBase;
  linears.push({ name: 'decoder.fc', inF: c.latents, outF: bc * bs * bs });
  act(both, 'decoder.fc out', [bc, bs, bs]);
  ch = bc;
  size = bs;
  const kF = foldedSide(c.decoderKernel, c.decoderPadding);
  for (let i = 0; i < 4; i++) {
    const O = c.decoderMaps[i]!;
    const Ho = convOut(2 * size, c.decoderKernel, c.decoderPadding);
    convs.push({ name: `decoder.conv${i + 1}`, C: ch, O, H: 2 * size, k: c.decoderKernel, Ho, needsDx: true, kFolded: kF });
    act([direct], `decoder.up${i + 1} out`, [ch, 2 * size, 2 * size]);
    act([acts], `decoder.conv${i + 1} folded out`, [4 * O, Ho / 2, Ho / 2]);
    act(both, `decoder.conv${i + 1} out`, [O, Ho, Ho]);
    ch = O;
    size = Ho;
  }
  const params = convs.reduce((a, l) => a + l.O * l.C * l.k * l.k + l.O, 0) + linears.reduce((a, l) => a + l.outF * l.inF + l.outF, 0);
  return { convs, linears, activations: acts, directActivations: direct, params };
}
