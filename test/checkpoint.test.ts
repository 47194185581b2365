import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEngine } from './setup/engine.js';
import { weights } from './setup/weights.js';
import { BlobBatches } from './setup/batches.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset } from '../src/model/presets.js';
import { decodeModel, encodeModel } from '../src/model/checkpoint.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors } from '../src/model/safetensors.js';
import { Trainer, type TrainOptions } from '../src/train/trainer.js';
import { FaceBatches } from '../src/train/batches.js';
import { loadCheckpoint, MODEL_FILE } from '../src/train/state.js';

const ctx = useEngine();

const tmp = () => mkdtempSync(join(tmpdir(), 'dcign-'));

function options(out: string, steps: number, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    preset: 'tiny', steps, batch: 4, lr: 5e-4, seed: 3, out, procedure: 'clamped', shapeBias: 0,
    invariance: 0.01, logEvery: 1000, sampleEvery: 0, checkpointEvery: 1000, ...extra,
  };
}

describe('checkpoints', () => {
  it('round-trips the weights bit for bit, with the preset in the metadata', async () => {
    const model = new Dcign(getPreset('tiny'), 9, ctx.engine);
    const bytes = await encodeModel(model, { step: '7' });
    const { model: back, metadata } = decodeModel(bytes, 'mem', ctx.engine);
    expect(metadata.preset).toBe('tiny');
    expect(metadata.step).toBe('7');
    expect(await weights(back)).toEqual(await weights(model));
    expect([...model.parameters().keys()]).toContain('encoder.conv1.weight');
    expect(model.parameters().get('encoder.mu.weight')!.shape).toEqual([8, 16]);
  });

  it('names what is wrong with a truncated, corrupt or foreign checkpoint', async () => {
    const model = new Dcign(getPreset('tiny'), 9, ctx.engine);
    const bytes = await encodeModel(model);
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 10), 'cut.safetensors', ctx.engine)).toThrow(/cut\.safetensors: .*truncated/);
    expect(() => decodeModel(bytes.subarray(0, 5), 'tiny.safetensors', ctx.engine)).toThrow(CheckpointError);
    const garbled = bytes.slice();
    garbled[12] = 0x7b; // '{' inside the JSON header
    expect(() => decodeModel(garbled, 'bad.safetensors', ctx.engine)).toThrow(/bad\.safetensors: not a valid safetensors file/);
    expect(() => decodeModel(bytes, 'tiny.safetensors', ctx.engine, 'paper')).toThrow(
      'tiny.safetensors: checkpoint is of preset "tiny", but preset "paper" was asked for',
    );
  });

  it('10 steps equal 5 steps + resume + 5 steps, bit for bit', async () => {
    const engine = ctx.engine;
    const source = () => new BlobBatches(16, 4);
    const a = tmp();
    const straight = Trainer.create(engine, options(a, 10), source());
    await straight.run();
    const b = tmp();
    const first = Trainer.create(engine, options(b, 5), source());
    await first.run();
    first.dispose();
    const resumed = Trainer.resume(engine, b, options(b, 10), source);
    expect(resumed.step).toBe(5);
    await resumed.run();
    expect(await weights(resumed.model)).toEqual(await weights(straight.model));
    const sa = resumed.optimizer.state();
    const sb = straight.optimizer.state();
    expect(sa.t).toBe(sb.t);
    expect(sa.m).toHaveLength(sb.m.length);
    for (let i = 0; i < sa.m.length; i++) {
      expect(await sa.m[i]!.data(), `m[${i}]`).toEqual(await sb.m[i]!.data());
      expect(await sa.v[i]!.data(), `v[${i}]`).toEqual(await sb.v[i]!.data());
    }
    expect(readdirSync(b).filter((f) => f.startsWith('train-state-'))).toEqual(['train-state-00000010.safetensors']);
    straight.dispose();
    resumed.dispose();
  });

  it('resuming with changed options applies them and records only real changes', async () => {
    const engine = ctx.engine;
    const source = () => new BlobBatches(16, 4);
    const dir = tmp();
    const first = Trainer.create(engine, options(dir, 2), source()); // no randomShare: as checkpoints before it existed
    await first.run();
    first.dispose();
    const same = Trainer.resume(engine, dir, options(dir, 4), source, { invariance: 0.01, randomShare: 0 });
    expect(same.options.history).toBeUndefined(); // the saved value again, or 0 for an option the checkpoint lacks
    same.dispose();
    const changed = Trainer.resume(engine, dir, options(dir, 4), source, { procedure: 'random', randomShare: 0.5, lr: 1e-3 });
    expect(changed.options).toMatchObject({ procedure: 'random', randomShare: 0.5, lr: 1e-3, invariance: 0.01, seed: 3 });
    expect(changed.options.history).toEqual([
      { step: 2, changed: { procedure: ['clamped', 'random'], randomShare: ['unset', 0.5], lr: [5e-4, 1e-3] } },
    ]);
    changed.dispose();
  });

  it('resuming from a checkpoint of another preset says so', async () => {
    const dir = tmp();
    const t = Trainer.create(ctx.engine, options(dir, 1), new BlobBatches(16, 4));
    await t.run();
    t.dispose();
    expect(() => loadCheckpoint(dir, ctx.engine, 'small')).toThrow(/preset "tiny", but preset "small"/);
    writeFileSync(join(dir, MODEL_FILE), readFileSync(join(dir, MODEL_FILE)).subarray(0, 100));
    expect(() => loadCheckpoint(dir, ctx.engine, 'tiny')).toThrow(/truncated|not a valid/);
  });

  it('refuses to resume without its training state, at another step, or with a moment missing', async () => {
    const dir = tmp();
    const t = Trainer.create(ctx.engine, options(dir, 2), new BlobBatches(16, 4));
    await t.run();
    t.dispose();
    const statePath = join(dir, 'train-state-00000002.safetensors');
    const good = readFileSync(statePath);
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(good), statePath);
    const fails = (pattern: RegExp) => expect(() => loadCheckpoint(dir, ctx.engine, 'tiny')).toThrow(pattern);
    const loads = () => {
      const r = loadCheckpoint(dir, ctx.engine, 'tiny');
      r.model.dispose();
      return r;
    };
    expect(loads().step).toBe(2);

    rmSync(statePath);
    fails(/its training state file train-state-00000002\.safetensors is missing, so the run cannot resume/);
    writeFileSync(statePath, encodeSafetensors(tensors, { ...metadata, step: '3' }));
    fails(/train-state-00000002\.safetensors: step 3 does not match the model's step 2/);
    for (const moment of ['m', 'v']) {
      const less = new Map(tensors);
      less.delete(`${moment}.decoder.conv2.bias`);
      writeFileSync(statePath, encodeSafetensors(less, metadata));
      fails(new RegExp(`train-state-00000002\\.safetensors: missing ${moment}\\.decoder\\.conv2\\.bias`));
    }
    writeFileSync(statePath, good);
    expect(loads().moments.m).toHaveLength(tensors.size / 2);
  });
});

describe('training loop', () => {
  it('lowers the loss over 50 steps of the tiny preset on rendered faces', async () => {
    const dir = tmp();
    const o = options(dir, 50, { logEvery: 1, lr: 2e-3, batch: 8 });
    const t = Trainer.create(ctx.engine, o, new FaceBatches(ctx.engine, { ...o, imageSize: 16 }));
    const log = await t.run();
    const first = log.slice(0, 5).reduce((s, r) => s + r.bce + r.kl, 0) / 5;
    const last = log.slice(-5).reduce((s, r) => s + r.bce + r.kl, 0) / 5;
    expect(log).toHaveLength(50);
    expect(last).toBeLessThan(first * 0.9);
    expect(existsSync(join(dir, 'log.jsonl'))).toBe(true);
    t.dispose();
  });

  it('reads nothing back from the GPU on steps that do not log', async () => {
    const engine = ctx.engine;
    const t = Trainer.create(engine, options(tmp(), 12, { logEvery: 6, checkpointEvery: 1000 }), new BlobBatches(16, 4));
    const seen: number[] = [];
    const before = engine.stats.readbacks;
    await t.run({
      onStep: (s) => seen.push(engine.stats.readbacks - before),
    });
    // Step 1 logs (2 scalars), steps 2-5 read nothing, step 6 logs, 12 logs and checkpoints.
    expect(seen.slice(1, 5)).toEqual([2, 2, 2, 2]);
    expect(seen[5]).toBe(4);
    expect(seen.slice(6, 11)).toEqual([4, 4, 4, 4, 4]);
    t.dispose();
  });
});
