// `npm run eval` end to end on two `tiny` checkpoints trained here in seconds (clamped and random
// procedure, the second as --baseline): metrics.json, the grids and report.html, which Chromium
// opens and screenshots (test-artifacts/eval-report.png). Needs Debian's chromium at
// /usr/bin/chromium; no browser is ever downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { Trainer, type TrainOptions } from '../src/train/trainer.js';
import { FaceBatches } from '../src/train/batches.js';
import { MODEL_FILE } from '../src/train/state.js';
import { defaultSettings, type EvalSettings, type ModelResult } from '../src/eval/experiments.js';
import { runEval } from '../src/eval/node.js';
import { trainingLabel } from '../src/eval/report.js';

const ctx = useEngine();
const CHROMIUM = '/usr/bin/chromium';
const root = resolve(import.meta.dirname, '..');

async function trainTiny(out: string, procedure: TrainOptions['procedure']): Promise<string> {
  const o: TrainOptions = {
    preset: 'tiny', steps: 12, batch: 10, lr: 1e-3, seed: 2, out, procedure, shapeBias: 0, invariance: 0,
    logEvery: 1000, sampleEvery: 0, checkpointEvery: 1000,
  };
  const trainer = Trainer.create(ctx.engine, o, new FaceBatches(ctx.engine, { ...o, imageSize: 16 }));
  await trainer.run();
  trainer.dispose();
  return join(out, MODEL_FILE);
}

const quick = (): EvalSettings => ({
  ...defaultSettings(true), reconBatches: 1, traversalFaces: 3, traversalSteps: 5, faces: 2, pairs: 12, samples: 60, chains: 2, iterations: 8, chunk: 64,
});

function eachNumber(v: unknown, path: string, visit: (n: number, path: string) => void): void {
  if (typeof v === 'number') visit(v, path);
  else if (Array.isArray(v)) v.forEach((x, i) => eachNumber(x, `${path}[${i}]`, visit));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) eachNumber(x, `${path}.${k}`, visit);
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/eval.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

describe('trainingLabel', () => {
  it('names the options a resumed run changed, and where', () => {
    const r = {
      preset: 'small', step: 4500,
      training: { procedure: 'clamped', invariance: 0.01, seed: 1, history: [{ step: 3000, changed: { procedure: ['random', 'clamped'], invariance: [0, 0.01] } }] },
    } as unknown as ModelResult;
    expect(trainingLabel(r)).toBe('small, step 4500, clamped, invariance 0.01, seed 1, from step 3000: procedure random -> clamped, invariance 0 -> 0.01');
    expect(trainingLabel({ ...r, training: { procedure: 'random', seed: 2 } })).toBe('small, step 4500, random, seed 2');
  });
});

describe('npm run eval', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcign-eval-'));
  let model = '';
  let baseline = '';
  let results: ModelResult[] = [];

  it('writes metrics.json, the grids and report.html for a checkpoint and a baseline', async () => {
    model = await trainTiny(join(dir, 'clamped'), 'clamped');
    baseline = await trainTiny(join(dir, 'random'), 'random');
    const out = join(dir, 'eval');
    const stages = new Set<string>();
    const files = await runEval(ctx.engine, { checkpoint: model, baseline, out, settings: quick(), command: 'test', progress: (s) => stages.add(s) });
    results = files.results;
    expect([...stages].some((s) => s.startsWith('inference'))).toBe(true);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.models.map((m: ModelResult) => [m.label, m.preset, m.step])).toEqual([['model', 'tiny', 12], ['baseline', 'tiny', 12]]);
    expect(metrics.models[1].training.procedure).toBe('random');
    expect(metrics.settings.faces).toBe(2);
    // Every number is finite, except thresholds and scores that are undefined for degenerate codes
    // (JSON writes NaN as null, so a non-number never shows up here as a number).
    eachNumber(metrics, 'metrics', (n, p) => expect(Number.isFinite(n), p).toBe(true));
    const m = metrics.models[0] as ModelResult;
    expect(Object.keys(m.reconstruction.perType)).toEqual(['az', 'el', 'light', 'shape', 'random']);
    // Every SHAPE test image is scored (recon batches x 20), at a rate between 0 and 1.
    expect(m.reconstruction.identified.images).toBe(metrics.settings.reconBatches * 20);
    expect(m.reconstruction.identified.rate).toBeGreaterThanOrEqual(0);
    expect(m.reconstruction.identified.rate).toBeLessThanOrEqual(1);
    // The identity code's spreads and sd: positive numbers for an encoder with random-ish weights.
    const id = m.reconstruction.identityCode!;
    for (const v of [id.betweenFaces, id.withinFace.az, id.withinFace.el, id.withinFace.light, id.posteriorSd]) expect(v).toBeGreaterThan(0);
    expect(m.invariance.azimuth.values).toHaveLength(61);
    // At the frontal face the identity code is compared with itself.
    expect(m.invariance.azimuth.mean[30]).toBeCloseTo(1, 5);
    expect(m.inference.encoder.mse).toHaveLength(2);
    expect(m.inference.encoder.mse[0]).toHaveLength(9);
    expect(m.recognition.pairs).toBe(12);
    for (const x of [m.disentanglement.mig.score, m.disentanglement.dci.disentanglement, m.disentanglement.sap.score]) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(1);
    }
    // The pixel chains and the pixel baseline do not depend on the model.
    expect(metrics.models[1].inference.pixels).toEqual(m.inference.pixels);
    expect(metrics.models[1].recognition.pixels).toEqual(m.recognition.pixels);
    const grids = readdirSync(join(out, 'grids'));
    expect(grids).toContain('model-recon.png');
    expect(grids).toContain('baseline-traverse-z1.png');
    expect(grids).toContain('inference-observations.png');
    expect(statSync(join(out, 'report.html')).size).toBeGreaterThan(10_000);
  });

  it('the report opens in Chromium: every section, plot and grid, both models side by side', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); this test never downloads a browser`);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      // Anything but the page itself would be a dependency the self-contained page must not have.
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${join(dir, 'eval', 'report.html')}`);
      mkdirSync(join(root, 'test-artifacts'), { recursive: true });
      const shot = await page.screenshot({ path: join(root, 'test-artifacts', 'eval-report.png'), fullPage: true });
      expect(shot.length).toBeGreaterThan(50_000);
      expect(errors).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'))).toEqual([]);
      const h2 = await page.$$eval('h2', (els) => els.map((e) => e.textContent ?? ''));
      expect(h2).toHaveLength(8);
      expect(h2.join('\n')).toMatch(/Reconstruction[\s\S]*Re-rendering[\s\S]*track[\s\S]*Invariance[\s\S]*recognition[\s\S]*Disentanglement[\s\S]*Inference/);
      // Every grid decoded to a real image.
      const imgs = await page.$$eval('img', (els) => els.map((e) => (e as HTMLImageElement).naturalWidth));
      expect(imgs.length).toBeGreaterThanOrEqual(2 * 7 + 1);
      expect(imgs.every((w) => w > 0)).toBe(true);
      expect(await page.$$eval('svg.plot', (els) => els.length)).toBeGreaterThanOrEqual(2 * (3 + 1 + 2 + 1) + 3);
      // Two columns (model | baseline) in the side-by-side sections.
      const columns = await page.$$eval('.cols', (els) => els.map((e) => e.children.length));
      expect(columns.every((c) => c === 2)).toBe(true);
      const summary = await page.$eval('table:nth-of-type(2)', (t) => t.textContent ?? '');
      expect(summary).toContain('MIG');
      expect(summary).toContain('tiny, step 12, random');
    } finally {
      await browser.close();
    }
  });

  it('the CLI prints help with an example, names bad input before starting the adapter, and tabulates metrics.json files', () => {
    const help = cli('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/usage: npm run eval -- \[--checkpoint FILE\]/);
    expect(help.stdout).toMatch(/example/);
    // Without --checkpoint, the shipped model (a bad count still stops it before the adapter).
    const shipped = cli('--out', join(dir, 'x'), '--faces', '0');
    expect(shipped.status).toBe(1);
    expect(shipped.stderr).toContain('checkpoint: models/small.safetensors (shipped');
    expect(shipped.stderr).toMatch(/--faces must be an integer >= 1/);
    const bad = cli('--checkpoint', model, '--faces', '0');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--faces must be an integer >= 1/);
    const absent = cli('--checkpoint', join(dir, 'nope.safetensors'), '--out', join(dir, 'x'));
    expect(absent.status).toBe(1);
    expect(absent.stderr).toMatch(/nope\.safetensors: no such file/);
    expect(results).toHaveLength(2);
    const table = cli('--table', join(dir, 'eval', 'metrics.json'));
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/\| MIG \| [\d.]+ \| [\d.]+ \|/);
  });
});
