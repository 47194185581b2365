// The checkpoint the repository ships (models/small.safetensors): the default `npm run train` run
// of the small preset, with the evaluation it was scored by beside it. The commands that take a
// checkpoint use it when none is given.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { useEngine } from './setup/engine.js';
import { noGrad, Tensor, tidy } from '../src/node.js';
import { readModelFile } from '../src/train/state.js';
import { renderBatch, testSet } from '../src/data/batches.js';
import { ownNearest } from '../src/eval/metrics.js';
import { DEFAULT_RECIPE, DEFAULT_STEPS } from '../src/train/defaults.js';

const root = resolve(import.meta.dirname, '..');
const model = join(root, 'models/small.safetensors');
const ctx = useEngine();

describe('the shipped checkpoint', () => {
  it('is the default run of the small preset, and its metrics.json scored it', () => {
    // Trained by `npm run train` with no flags: the history holds the switch after pretraining.
    const { model: m, metadata } = readModelFile(model, ctx.engine);
    expect(m.config.preset).toBe('small');
    const { clamp, randomShare, pretrainSteps, invariance, shapeBias } = DEFAULT_RECIPE.small!;
    const options = JSON.parse(metadata.options!) as Record<string, unknown> & { history: { step: number; changed: Record<string, unknown> }[] };
    expect(options).toMatchObject({ procedure: 'clamped', clamp, randomShare, steps: DEFAULT_STEPS.small, batch: 20, seed: 1, shapeBias, invariance });
    expect(options.history[0]).toMatchObject({ step: pretrainSteps, changed: { procedure: ['random', 'clamped'] } });
    expect(Number(metadata.step)).toBe(DEFAULT_STEPS.small);
    const metrics = JSON.parse(readFileSync(join(root, 'models/small.metrics.json'), 'utf8')) as { models: { step: number; training: unknown }[] };
    expect(metrics.models[0]!.step).toBe(DEFAULT_STEPS.small);
    expect(metrics.models[0]!.training).toEqual(options);
    const log = readFileSync(join(root, 'models/small.log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; kind: string });
    expect(log.at(-1)!.step).toBe(DEFAULT_STEPS.small);
    expect(log.filter((r) => r.step <= pretrainSteps).every((r) => r.kind === 'random')).toBe(true);
    m.dispose();
  });

  it('reconstructs held-out faces that are told apart from others in the same pose and light', async () => {
    // Two held-out SHAPE batches of 20 faces (the evaluation's stream): reconstructions nearest
    // their own input. Chance is 1 in 20; the full evaluation (200 faces) gave 91.5%, batches move
    // by 10-20 points, and a model that lost the identity (8% there) stays far below 12 of 40.
    const { model: m } = readModelFile(model, ctx.engine);
    const S = m.config.imageSize;
    let hits = 0;
    for (const spec of testSet(0, { batchesPerType: 2, types: ['shape'] })) {
      const images = renderBatch(spec, { size: S }, ctx.engine).images;
      const recon = noGrad(() => tidy(() => m.decode(m.encode(images).mu)));
      hits += ownNearest(await recon.data(), await images.data(), spec.count, S * S);
      for (const t of [images, recon] as Tensor[]) t.dispose();
    }
    expect(hits).toBeGreaterThanOrEqual(12);
    m.dispose();
  }, 60_000);

  it('is what npm run encode uses without --checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcign-shipped-'));
    const face = join(dir, 'face.png');
    const png = new PNG({ width: 40, height: 40 });
    for (let i = 0; i < 40 * 40; i++) png.data.set([40 + (i % 97), 90, 120, 255], 4 * i);
    writeFileSync(face, PNG.sync.write(png));
    const r = spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/encode.ts', '--', '--images', face, '--out', join(dir, 'z.json')], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain('checkpoint: models/small.safetensors (shipped');
    const z = JSON.parse(readFileSync(join(dir, 'z.json'), 'utf8')) as { checkpoint: string; images: { mu: number[] }[] };
    expect(z.checkpoint).toBe(model);
    expect(z.images[0]!.mu).toHaveLength(32);
  });
});
