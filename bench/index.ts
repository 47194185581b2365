// `npm run bench -- NAME [options]`: measured, never asserted. Each bench is one entry in BENCHES.
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { initEngine, type Engine } from '../src/node.js';
import { benchMatmul } from './matmul.js';
import { benchKernels } from './kernels.js';
import { LAYER_NAMES } from './kernel-cases.js';
import { benchFaces } from './faces.js';
import { benchWeb } from './web.js';
import { benchStep } from './step.js';
import { loadAverage } from './timing.js';
import type { BatchKind } from '../src/train/schedule.js';
import type { BenchOptions } from './options.js';
import { runCommand, UserError } from '../src/cli/errors.js';
import { convChoiceFlag, convVariantNote, intFlag, outputFile } from '../src/cli/flags.js';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'string' },
      'no-tfjs': { type: 'boolean', default: false },
      'no-jax': { type: 'boolean', default: false },
      'no-ort': { type: 'boolean', default: false },
      sizes: { type: 'string' },
      batch: { type: 'string' },
      layers: { type: 'string' },
      'no-check': { type: 'boolean', default: false },
      preset: { type: 'string' },
      steps: { type: 'string' },
      'tfjs-steps': { type: 'string' },
      'jax-steps': { type: 'string' },
      torch: { type: 'boolean', default: false },
      'torch-steps': { type: 'string' },
      kind: { type: 'string' },
      profile: { type: 'boolean', default: false },
      memory: { type: 'boolean', default: false },
      'conv-variant': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });

  const BENCHES: Record<string, { about: string; run: (engine: Engine, options: BenchOptions) => Promise<Result> }> = {
    matmul: {
      about: 'GFLOP/s of our matmul vs tfjs-backend-webgpu and jax-js at 256^3, 1024^3, 2048^3 [--sizes 256,1024]',
      run: benchMatmul,
    },
    kernels: {
      about: `every DC-IGN layer (fwd, dx, dw) vs tfjs-backend-webgpu and jax-js [--batch N] [--layers ${LAYER_NAMES.slice(0, 2).join(',')},...] [--no-check]`,
      run: benchKernels,
    },
    faces: {
      about: 'face renderer ms per batch and images/s at 150 and 64 px [--sizes 150,64] [--batch N]',
      run: benchFaces,
    },
    step: {
      about:
        'the full training step (forward, backward, RMSProp) of ours vs tfjs-backend-webgpu and jax-js (and with --torch PyTorch on the CPU, ' +
        'bench/torch_step.py): ms, GFLOP/s, pool peak vs an analytic sum ' +
        '[--preset paper|small] [--batch 20] [--steps 3] [--tfjs-steps N] [--jax-steps N] [--torch] [--torch-steps N] [--kind az|el|light|shape] [--profile] [--memory]',
      run: benchStep,
    },
    web: {
      about: 'encoder ms for one image in Chromium (/usr/bin/chromium), ours vs tfjs-backend-webgpu and onnxruntime-web (wasm, webgpu): paper preset, or small where paper is too slow [--preset paper|small: that one, no probe] [--no-ort] [--profile: one encode dispatch by dispatch, between GPU timestamps and by repetition]',
      // The page has an engine of its own: --conv-variant passes to it.
      run: (_, f) => benchWeb({ ...f, convVariant: values['conv-variant'] === undefined ? undefined : convChoiceFlag(values['conv-variant']) }),
    },
  };

  const name = positionals[0];
  if (values.help || !name) {
    console.log('usage: npm run bench -- NAME [--json FILE] [--no-tfjs] [--no-jax] [--no-ort] [--conv-variant register|tiled|auto] [bench options]\n');
    for (const [k, v] of Object.entries(BENCHES)) console.log(`  ${k.padEnd(10)} ${v.about}`);
    console.log(`\nkernels layers: ${LAYER_NAMES.join(' ')}`);
    console.log('\nexamples:');
    console.log('  npm run bench -- step --preset small --batch 20 --no-tfjs --no-jax      # our step alone: ms, dispatches, one encode');
    console.log('  npm run bench -- step --preset small --no-tfjs --no-jax --torch          # and PyTorch on the CPU, with the ratio');
    console.log('  npm run bench -- kernels --batch 4 --conv-variant tiled --layers conv2   # one layer on the tiled convolution kernels');
    console.log('  npm run bench -- web --preset small --conv-variant register               # the page\'s encoder on the register kernels (not the pooled forward-only one)');
    console.log('  npm run bench -- web --preset small --no-ort --profile                   # and one of its encodes dispatch by dispatch');
    console.log('  npm run bench -- web --preset small --no-tfjs                            # ours against onnxruntime-web only');
    return 0;
  }
  if (!(name in BENCHES)) throw new UserError(`no bench named "${name}": one of ${Object.keys(BENCHES).join(', ')} (see --help)`);
  if (values.json) outputFile('--json', values.json);

  const kinds = ['az', 'el', 'light', 'shape'];
  if (values.kind !== undefined && !kinds.includes(values.kind)) throw new UserError(`--kind must be one of ${kinds.join(', ')}, got ${values.kind}`);
  const positiveInt = (flag: 'batch' | 'steps' | 'tfjs-steps' | 'jax-steps' | 'torch-steps') => intFlag(flag, values[flag], 1);
  const flags: BenchOptions = {
    sizes: list(values.sizes)?.map(Number),
    batch: positiveInt('batch'),
    layers: list(values.layers),
    tfjs: !values['no-tfjs'],
    jax: !values['no-jax'],
    ort: !values['no-ort'],
    check: !values['no-check'],
    preset: values.preset,
    steps: positiveInt('steps'),
    tfjsSteps: positiveInt('tfjs-steps'),
    jaxSteps: positiveInt('jax-steps'),
    torch: values.torch,
    torchSteps: positiveInt('torch-steps'),
    kind: values.kind as BatchKind | undefined,
    profile: values.profile,
    memory: values.memory,
    log: (line: string) => console.log(line),
  };

  const convVariant = values['conv-variant'] === undefined ? undefined : convChoiceFlag(values['conv-variant']);
  const engine = await initEngine({ convVariant });
  console.log(`adapter: ${engine.report}`);
  console.log(`convolutions: ${convVariantNote(engine)}`);
  const started = new Date().toISOString();
  const loadStart = loadAverage();
  const t0 = performance.now();
  const { rows, text, ...extra } = await BENCHES[name]!.run(engine, flags);
  const seconds = (performance.now() - t0) / 1000;
  const loadEnd = loadAverage();
  console.log(`\n${text}\n\n${name}: ${seconds.toFixed(1)} s; 1-min load average ${loadStart} at start, ${loadEnd} at end`);
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ bench: name, date: started, adapter: engine.report, convVariant: engine.convVariant, seconds, loadAverage: { start: loadStart, end: loadEnd }, ...extra, rows }, null, 2));
    console.log(`wrote ${values.json}`);
  }
  engine.destroy();
  return 0;
}

type Result = { rows: unknown[]; text: string; [extra: string]: unknown };
const list = (s: string | undefined) => s?.split(',').map((x) => x.trim()).filter(Boolean);

runCommand(main);
