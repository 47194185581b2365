// Node side of `npm run eval`: opens the checkpoints, runs the experiments, writes
// DIR/metrics.json, the PNG grids (DIR/grids/) and DIR/report.html with the grids inlined.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Engine } from '../gpu/engine.js';
import { readModelFile } from '../train/state.js';
import { writeGrayPng } from '../data/images-node.js';
import type { GrayImage } from '../data/index.js';
import { checkComparable, evaluate, type EvalModel, type EvalSettings, type ModelResult, type Progress } from './experiments.js';
import { renderReport, type ReportImage } from './report.js';

export interface RunEvalOptions {
  checkpoint: string;
  baseline?: string;
  out: string;
  settings: EvalSettings;
  /** The command line, for the report. */
  command?: string;
  progress?: Progress;
}

export interface EvalFiles {
  metrics: string;
  report: string;
  results: ModelResult[];
  seconds: number;
}

function open(engine: Engine, path: string, flag: string, label: string): EvalModel {
  if (!existsSync(path)) throw new Error(`${flag} ${path}: no such file (expected a model.safetensors written by npm run train)`);
  if (statSync(path).isDirectory()) {
    const inside = join(path, 'model.safetensors');
    if (existsSync(inside)) return open(engine, inside, flag, label);
    throw new Error(`${flag} ${path} is a folder without a model.safetensors`);
  }
  const { model, metadata } = readModelFile(path, engine);
  let training: Record<string, unknown> | undefined;
  try {
    training = metadata.options ? JSON.parse(metadata.options) : undefined;
  } catch {
    training = undefined;
  }
  return { label, model, checkpoint: path, preset: model.config.preset, step: Number(metadata.step ?? 0), training };
}

function embed(path: string, width: number): ReportImage {
  return { uri: `data:image/png;base64,${readFileSync(path).toString('base64')}`, width };
}

export async function runEval(engine: Engine, o: RunEvalOptions): Promise<EvalFiles> {
  const models = [open(engine, o.checkpoint, '--checkpoint', 'model')];
  try {
    if (o.baseline) models.push(open(engine, o.baseline, '--baseline', 'baseline'));
    checkComparable(models); // before anything is written
    mkdirSync(join(o.out, 'grids'), { recursive: true });
    const t0 = performance.now();
    const out = await evaluate(engine, models, o.settings, o.progress);
    const seconds = (performance.now() - t0) / 1000;
    const write = (name: string, image: GrayImage) => {
      const path = join(o.out, 'grids', `${name}.png`);
      writeGrayPng(path, image);
      return embed(path, image.width);
    };
    const images = out.images.map((set, k) => Object.fromEntries(Object.entries(set).map(([name, im]) => [name, write(`${models[k]!.label}-${name}`, im)])));
    const shared = Object.fromEntries(Object.entries(out.shared).map(([name, im]) => [name, write(name, im)]));
    const generated = new Date().toISOString();
    const metricsPath = join(o.out, 'metrics.json');
    writeFileSync(
      metricsPath,
      JSON.stringify({ generated, adapter: engine.report, command: o.command ?? '', seconds, settings: o.settings, models: out.results }, null, 1),
    );
    const reportPath = join(o.out, 'report.html');
    writeFileSync(
      reportPath,
      renderReport({ generated, adapter: engine.report, command: o.command ?? '', seconds, settings: o.settings, results: out.results, images, shared }),
    );
    return { metrics: resolve(metricsPath), report: resolve(reportPath), results: out.results, seconds };
  } finally {
    models.forEach((m) => m.model.dispose());
  }
}
