// `npm run eval -- --checkpoint FILE --out DIR [--baseline FILE]`: the paper's experiments and
// the disentanglement metrics on held-out renders; writes DIR/metrics.json and DIR/report.html.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { initEngine } from '../node.js';
import { defaultSettings, type EvalSettings, type ModelResult } from '../eval/experiments.js';
import { runEval } from '../eval/node.js';
import { markdownTable, summaryRows } from '../eval/report.js';
import { runCommand, UserError } from './errors.js';
import { checkpointFile, intFlag, numberFlag } from './flags.js';
import { checkpointOrShipped } from './shipped.js';

const HELP = `Evaluate a trained DC-IGN: the paper's experiments and disentanglement metrics on held-out faces.

usage: npm run eval -- [--checkpoint FILE] [--out DIR] [--baseline FILE] [options]

  --checkpoint FILE   a model.safetensors written by npm run train (or its folder); default: the
                      shipped models/small.safetensors, evaluated into runs/eval-shipped
  --out DIR           where metrics.json, report.html and grids/ go (default: eval/ beside the checkpoint)
  --baseline FILE     a second checkpoint (e.g. a --procedure random run) evaluated on the same
                      renders and shown side by side; it must have the same image size
  --seed N            held-out data seed (default 0)

counts (defaults: hardware adapter / software adapter such as lavapipe):
  --faces N           faces swept in azimuth, elevation and light for figure 9 (100 / 20; the paper: 100)
  --pairs N           same/different pairs (500 / 200)
  --samples N         random faces for MIG, DCI and SAP (6000 / 1500)
  --chains N          ABC-MCMC chains per summary (8 / 4)
  --iterations N      ABC-MCMC iterations (1500 / 300)
  --recon-batches N   held-out batches per type for reconstruction (10 / 2)
  --epsilon X         ABC kernel width as a fraction of the median initial distance (default 0.01)
  --table A.json ...  print the summary table of earlier metrics.json files as markdown (no GPU work)
  -h, --help          this text

What it measures: (1) reconstruction BCE and MSE per batch type, how many faces of one pose and
light their reconstructions tell apart, and how much the identity latents' means vary between
faces, within one face's sweeps, and against their posterior sd; (2) re-rendering sweeps of
z1-z3 and three identity latents (figs. 8, 10); (3) inferred z1-z3 against the true azimuth,
elevation and light (fig. 9a-c); (4) cosine similarity of the identity latents to the frontal
face along each sweep (fig. 9d-f); (5) same/different accuracy with z_identity, full z and raw
pixels (section 4.2); (6) MIG, DCI and SAP on the renderer's factors; (7) ABC-MCMC over the
scene with the encoder as summary statistic against raw pixels (section 4.1, fig. 6a).

examples:
  npm run eval -- --checkpoint runs/small-clamped/model.safetensors --out runs/small-clamped/eval
  npm run eval -- --checkpoint runs/small-inv/model.safetensors --baseline runs/small-random/model.safetensors --out runs/eval-inv-vs-random
  npm run eval -- --checkpoint runs/small-clamped --faces 5 --samples 300 --iterations 50 --out /tmp/quick
  npm run eval -- --table runs/eval/a/metrics.json runs/eval/b/metrics.json`;

/** One markdown table over the models of several metrics.json files (a checkpoint once). */
function tableOf(paths: string[]): string {
  if (!paths.length) throw new UserError('--table needs metrics.json files: npm run eval -- --table A/metrics.json B/metrics.json');
  const seen = new Map<string, ModelResult>();
  for (const p of paths) {
    let parsed: { models?: ModelResult[] };
    try {
      parsed = JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new UserError(`--table ${p}: cannot read a metrics.json: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed.models)) throw new UserError(`--table ${p}: no "models" list (not written by npm run eval?)`);
    for (const m of parsed.models) if (!seen.has(m.checkpoint)) seen.set(m.checkpoint, m);
  }
  const results = [...seen.values()];
  return markdownTable(['metric', ...results.map((r) => r.checkpoint)], summaryRows(results));
}

async function main(): Promise<void> {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      checkpoint: { type: 'string' },
      baseline: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      faces: { type: 'string' },
      pairs: { type: 'string' },
      samples: { type: 'string' },
      chains: { type: 'string' },
      iterations: { type: 'string' },
      'recon-batches': { type: 'string' },
      epsilon: { type: 'string' },
      table: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) return void console.log(HELP);
  if (a.table) return void console.log(tableOf(positionals));
  if (positionals.length) throw new UserError(`unexpected argument "${positionals[0]}" (see --help)`);
  // Check every flag before the (slow) adapter start.
  const shipped = a.checkpoint === undefined;
  const checkpoint = checkpointFile('--checkpoint', checkpointOrShipped(a.checkpoint));
  const baseline = a.baseline === undefined ? undefined : checkpointFile('--baseline', a.baseline);
  const epsilon = numberFlag('epsilon', a.epsilon, { above: 0 });
  const counts = {
    seed: intFlag('seed', a.seed, 0),
    faces: intFlag('faces', a.faces, 1),
    pairs: intFlag('pairs', a.pairs, 2),
    samples: intFlag('samples', a.samples, 30),
    chains: intFlag('chains', a.chains, 1),
    iterations: intFlag('iterations', a.iterations, 1),
    reconBatches: intFlag('recon-batches', a['recon-batches'], 1),
  };

  const engine = await initEngine();
  console.log(`adapter: ${engine.report}`);
  const base = defaultSettings(engine.software);
  const settings: EvalSettings = { ...base, abc: { ...base.abc } };
  for (const [k, v] of Object.entries(counts)) if (v !== undefined) (settings as unknown as Record<string, number>)[k] = v;
  if (epsilon !== undefined) settings.abc.epsilonFactor = epsilon;
  // The shipped checkpoint's folder is part of the repository: its evaluation goes to runs/.
  const out = a.out ?? (shipped ? join('runs', 'eval-shipped') : join(dirname(checkpoint), 'eval'));
  console.log(
    `counts (${engine.software ? 'software' : 'hardware'} adapter defaults unless given): ${settings.faces} sweep faces, ${settings.pairs} pairs, ` +
      `${settings.samples} metric samples, ${settings.chains} chains x ${settings.iterations} iterations -> ${out}`,
  );

  const tty = process.stdout.isTTY;
  let lastStage = '';
  let lastShown = -1;
  const started = performance.now();
  const progress = (stage: string, done: number, total: number) => {
    const t = ((performance.now() - started) / 1000).toFixed(0);
    const line = `[${t.padStart(4)} s] ${stage}: ${done}/${total}`;
    if (tty) {
      process.stdout.write(`\r${line}\x1b[K`);
      if (done >= total) process.stdout.write('\n');
      return;
    }
    // Without a terminal: a line per stage change and about every quarter.
    const quarter = Math.floor((4 * done) / Math.max(1, total));
    if (stage !== lastStage || quarter !== lastShown || done >= total) {
      if (stage !== lastStage || done >= total || quarter > lastShown) console.log(line);
      lastStage = stage;
      lastShown = quarter;
    }
  };

  const files = await runEval(engine, {
    checkpoint,
    baseline,
    out,
    settings,
    command: ['npm run eval --', ...process.argv.slice(2)].join(' '),
    progress,
  });
  console.log(`\n${markdownTable(['metric', ...files.results.map((r) => r.label)], summaryRows(files.results))}\n`);
  console.log(`evaluated in ${files.seconds.toFixed(1)} s\nwrote ${files.metrics}\nwrote ${files.report}`);
  engine.destroy();
}

runCommand(main);
