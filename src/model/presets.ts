// Model sizes. `paper` is the original init_network2_150_mv; the smaller presets keep its shape
// (three conv+pool+ReLU stages, two linear heads, four upsample+conv stages) at lower cost.

export type Padding = 'valid' | 'same';

export interface DcignConfig {
  preset: string;
  imageSize: number;
  /** Output maps of the three encoder convolutions. */
  encoderMaps: [number, number, number];
  encoderKernel: number;
  encoderPadding: Padding;
  latents: number;
  /** The decoder's first linear layer is reshaped to [channels, size, size]. */
  decoderBase: [channels: number, size: number];
  /** Output maps of the four decoder convolutions; the last is 1 (grayscale). */
  decoderMaps: [number, number, number, 1];
  decoderKernel: number;
  decoderPadding: Padding;
  /**
   * How fresh weights are drawn (checkpoints overwrite them). 'original' (the default when absent):
   * Torch's default for convolutions and the original LinearCR's N(0, 0.01) for linear layers.
   * 'relu': convolutions drawn sqrt(6) wider, U(+-sqrt(6 / fan_in)), so a ReLU stack keeps its
   * activations' scale (He et al. 2015), and the decoder's linear layer at Torch's default
   * U(+-1 / sqrt(fan_in)). See `small` for why.
   */
  init?: 'original' | 'relu';
}

export const PRESETS: Record<string, DcignConfig> = {
  paper: {
    preset: 'paper',
    imageSize: 150,
    encoderMaps: [96, 48, 24],
    encoderKernel: 5,
    encoderPadding: 'valid',
    latents: 200,
    decoderBase: [24, 15],
    decoderMaps: [48, 96, 96, 1],
    decoderKernel: 7,
    decoderPadding: 'valid',
  },
  // The paper's geometry (150 px, valid 5x5 and 7x7 convolutions, 15x15 maps at the code) with
  // fewer maps and latents. A 64 px variant trained to blurred heads only: with BCE summed over
  // pixels, facial detail there is worth fewer nats than the KL cost of encoding it (bench/RESULTS.md).
  // 'relu' init: with the original's, each 16-map 7x7 stage shrinks the signal about 2.4x and the
  // latents reach the decoder through N(0, 0.01) weights, so at step 0 the output hardly depends on
  // z and this narrow decoder spends hundreds of steps finding it. On one fixed batch of 20 faces,
  // BCE per image at step 200 went from 5763 to 5289 nats (floor about 4940); see bench/RESULTS.md.
  small: {
    preset: 'small',
    imageSize: 150,
    encoderMaps: [8, 16, 16],
    encoderKernel: 5,
    encoderPadding: 'valid',
    latents: 32,
    decoderBase: [16, 15],
    decoderMaps: [16, 16, 8, 1],
    decoderKernel: 7,
    decoderPadding: 'valid',
    init: 'relu',
  },
  tiny: {
    preset: 'tiny',
    imageSize: 16,
    encoderMaps: [4, 6, 4],
    encoderKernel: 3,
    encoderPadding: 'same',
    latents: 8,
    decoderBase: [4, 1],
    decoderMaps: [6, 4, 4, 1],
    decoderKernel: 3,
    decoderPadding: 'same',
  },
};

export function getPreset(name: string): DcignConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}"; choose one of ${Object.keys(PRESETS).join(', ')}`);
  return structuredClone(p);
}

const convOut = (n: number, k: number, p: Padding) => (p === 'same' ? n : n - k + 1);

/** Every spatial size through the network; throws if the encoder and decoder do not meet. */
export function shapesOf(c: DcignConfig): { encoder: number[]; flat: number; decoder: number[] } {
  const encoder = [c.imageSize];
  let s = c.imageSize;
  for (let i = 0; i < 3; i++) {
    s = convOut(s, c.encoderKernel, c.encoderPadding);
    if (s < 2) throw new Error(`preset ${c.preset}: encoder stage ${i + 1} shrinks the image below 2 pixels`);
    s = Math.floor(s / 2);
    encoder.push(s);
  }
  const decoder = [c.decoderBase[1]];
  let d = c.decoderBase[1];
  for (let i = 0; i < 4; i++) {
    d = convOut(d * 2, c.decoderKernel, c.decoderPadding);
    decoder.push(d);
  }
  if (d !== c.imageSize) throw new Error(`preset ${c.preset}: the decoder renders ${d}x${d}, not ${c.imageSize}x${c.imageSize}`);
  return { encoder, flat: c.encoderMaps[2] * s * s, decoder };
}
