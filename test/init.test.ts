// The two initialisation schemes a preset can ask for, checked by the drawn values' range and spread.
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset, type DcignConfig } from '../src/model/presets.js';
import type { Tensor } from '../src/tensor.js';

const ctx = useEngine();

async function stats(t: Tensor): Promise<{ maxAbs: number; sd: number; mean: number }> {
  const x = await t.data();
  let s = 0;
  let s2 = 0;
  let maxAbs = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  const mean = s / x.length;
  return { maxAbs, mean, sd: Math.sqrt(s2 / x.length - mean * mean) };
}

// Big enough that a sample's spread is within a few percent of the distribution's.
const wide: DcignConfig = {
  ...getPreset('small'),
  preset: 'init-test',
  imageSize: 48,
  encoderMaps: [8, 16, 16],
  encoderKernel: 5,
  encoderPadding: 'same',
  latents: 32,
  decoderBase: [16, 3],
  decoderMaps: [16, 16, 8, 1],
  decoderKernel: 5,
  decoderPadding: 'same',
};

/** Uniform on [-b, b]: every value inside, the extremes near b, sd b/sqrt(3). */
async function expectUniform(t: Tensor, b: number, what: string): Promise<void> {
  const s = await stats(t);
  expect(s.maxAbs, what).toBeLessThanOrEqual(b * (1 + 1e-6));
  expect(s.maxAbs, what).toBeGreaterThan(b * (t.size >= 100 ? 0.9 : 0.5));
  if (t.size >= 1000) expect(s.sd / (b / Math.sqrt(3)), what).toBeCloseTo(1, 1);
}

describe('initialisation', () => {
  it("'original': Torch's default for convolutions, N(0, 0.01) for linear layers", async () => {
    const m = new Dcign({ ...wide, init: undefined }, 5, ctx.engine);
    const p = m.parameters();
    for (const [name, fanIn] of [['encoder.conv2', 8 * 25], ['decoder.conv1', 16 * 25], ['decoder.conv4', 8 * 25]] as const) {
      await expectUniform(p.get(`${name}.weight`)!, 1 / Math.sqrt(fanIn), name);
    }
    for (const name of ['encoder.mu.weight', 'decoder.fc.weight']) {
      const s = await stats(p.get(name)!);
      expect(s.sd / 0.01, name).toBeCloseTo(1, 1);
      expect(Math.abs(s.mean), name).toBeLessThan(1e-3);
    }
  });

  it("'relu': convolutions U(+-sqrt(6/fan_in)), the decoder's linear layer U(+-1/sqrt(fan_in)), the encoder's heads unchanged", async () => {
    const m = new Dcign({ ...wide, init: 'relu' }, 5, ctx.engine);
    const p = m.parameters();
    for (const [name, fanIn] of [['encoder.conv1', 25], ['encoder.conv3', 16 * 25], ['decoder.conv2', 16 * 25], ['decoder.conv3', 16 * 25]] as const) {
      await expectUniform(p.get(`${name}.weight`)!, Math.sqrt(6 / fanIn), name);
      await expectUniform(p.get(`${name}.bias`)!, Math.sqrt(6 / fanIn), `${name}.bias`);
    }
    await expectUniform(p.get('decoder.fc.weight')!, 1 / Math.sqrt(32), 'decoder.fc.weight');
    await expectUniform(p.get('decoder.fc.bias')!, 1 / Math.sqrt(32), 'decoder.fc.bias');
    const mu = await stats(p.get('encoder.logvar.weight')!);
    expect(mu.sd / 0.01).toBeCloseTo(1, 1);
  });

  it('the small preset asks for it and the paper preset keeps the original', () => {
    expect(getPreset('small').init).toBe('relu');
    expect(getPreset('paper').init ?? 'original').toBe('original');
  });
});
