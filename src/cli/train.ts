// `npm run train -- [options]`: trains DC-IGN on faces the engine renders itself.
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initEngine } from '../node.js';
import { PRESETS, type DcignConfig } from '../model/presets.js';
import { Trainer, type TrainOptions } from '../train/trainer.js';
import { LOG_FILE, MODEL_FILE } from '../train/state.js';
import { describeChange } from '../train/history.js';
import { FaceBatches } from '../train/batches.js';
import { DEFAULT_LR, DEFAULT_RECIPE, DEFAULT_STEPS, PAPER_RECIPE, recipeDefaults } from '../train/defaults.js';
import { runCommand, UserError } from './errors.js';
import { convChoiceFlag, convVariantNote, intFlag, numberFlag } from './flags.js';
import { trainProgress } from './progress.js';
import { largestBatch } from './batch-limit.js';
import { claimRunFolder, describeCheckpoint, truncateLog } from '../train/run-folder.js';
import { faultHook, parseFault } from '../train/faults.js';
import { describeFailure } from './train-failures.js';

const SMALL = DEFAULT_RECIPE.small!;
const HELP = `Train DC-IGN (Kulkarni et al. 2015) on faces rendered on the GPU.

usage: npm run train -- [options]

  --preset NAME          paper | small | tiny (default: paper on a hardware adapter, small on a software one)
  --steps N              total steps to train (default: paper ${DEFAULT_STEPS.paper}, small ${DEFAULT_STEPS.small}, tiny ${DEFAULT_STEPS.tiny})
  --batch N              images per batch (default 20, as the paper)
  --lr X                 RMSProp step size (default: paper ${DEFAULT_LR.paper}, small ${DEFAULT_LR.small}, tiny ${DEFAULT_LR.tiny})
  --seed N               seeds the weights, the batches and the noise (default 1)
  --out DIR              output folder (default runs/PRESET-DATE-TIME); one that holds a run is refused
  --overwrite            start over in an --out that holds a run: its files move to DIR/previous-DATE-TIME
  --resume DIR           continue the run saved in DIR (writes there unless --out is given) with its
                         options; any of --lr, --batch, --seed, --procedure, --shape-bias, --random-share,
                         --invariance, --invariance-mode, --random-encoder and the --*-every flags
                         given as well change them from there on
  --procedure P          clamped (section 3.2, default) | random (section 3.1: random batches, no clamping)
  --recipe R             default | paper: how a fresh clamped run is trained, unless the recipe flags below
                         say otherwise. default (small: ${SMALL.pretrainSteps} steps pretrained with random batches, then
                         --clamp ${SMALL.clamp} --random-share ${SMALL.randomShare} --shape-bias ${SMALL.shapeBias} --invariance ${SMALL.invariance}; docs/RESULTS.md
                         says why); paper (the original code's clamped procedure: --clamp first, no pretraining,
                         no random batches, shape bias 0, no invariance targeting)
  --clamp C              what a clamped batch's clamped latents become: first (sample 0's mu and logvar,
                         as the original code) | mean (the batch mean of z, as the paper's text)
  --pretrain-steps N     train the first N steps with random, unclamped batches, then the procedure
                         (the original authors pretrained so)
  --random-share P       make a share P of the clamped procedure's batches random ones, trained
                         unclamped (not in the paper: they keep the decoder reading each image's own code)
  --shape-bias K         SHAPE batches with probability (K+1)/(K+4) (0: uniform over the four kinds)
  --invariance S         invariance targeting strength (section 3.2.1; 0: off; the paper suggests 0.01,
                         on this engine's summed loss 10 measured best: docs/RESULTS.md)
  --invariance-mode M    absolute (default, the paper's: strength * (mu - batch mean)) | relative: the
                         means' spread measured against the code's size, so that shrinking the whole
                         code does not meet it (logvar keeps the absolute pull)
  --random-encoder E     all (default) | scene: the --random-share batches train only z1..z3 in the
                         encoder, the identity latents' gradients zeroed there (the decoder still
                         reads every image's code; pretraining's batches train all latents)
  --log-every N          log losses every N steps (default 10); a log step is the only one that reads back
  --sample-every N       write an input-over-reconstruction grid every N steps (default 250; 0: only at the end)
  --checkpoint-every N   write a checkpoint every N steps (default 500)
  --conv-variant V       convolution kernels: register | tiled | auto (timed per shape after the first
                         step, kept in ~/.cache/dcign-webgpu/autotune.json); default register on a
                         software adapter, auto on a hardware one; DCIGN_CONV sets it too
  -h, --help             this text

Writes DIR/${MODEL_FILE} (weights, preset and step in its metadata), DIR/train-state-*.safetensors
(optimizer state for --resume), DIR/log.jsonl (step, kind, bce and kl summed over the batch,
seconds since this process started) and DIR/samples/step-NNNNNNN.png.
Ctrl-C saves a checkpoint and exits; a second Ctrl-C exits at once (the last checkpoint stays good).
DIR/train.lock keeps a second process out of the folder while a run writes there.

examples:
  npm run train                                   # the default preset and recipe for this machine's adapter
  npm run train -- --recipe paper --out runs/paper-procedure          # section 3.2 as the original code ran it
  npm run train -- --recipe paper --invariance 0.01 --out runs/inv    # with invariance targeting (3.2.1)
  npm run train -- --procedure random --out runs/random               # section 3.1
  npm run train -- --resume runs/inv --steps 6000                     # the same options, longer
  npm run train -- --resume runs/inv --invariance-mode relative --steps 6000 --out runs/rel   # change the invariance from here on
  npm run train -- --random-encoder scene --out runs/scene            # the default recipe, random batches training z1..z3 alone in the encoder
  npm run train -- --conv-variant tiled --out runs/tiled              # the workgroup-tiled convolution kernels, not the autotune's pick`;

// Flags that may change a run's options on --resume, and the option each sets.
const RESUMABLE = {
  batch: 'batch',
  lr: 'lr',
  seed: 'seed',
  procedure: 'procedure',
  'shape-bias': 'shapeBias',
  'random-share': 'randomShare',
  clamp: 'clamp',
  'pretrain-steps': 'pretrainSteps',
  invariance: 'invariance',
  'invariance-mode': 'invarianceMode',
  'random-encoder': 'randomEncoder',
  'log-every': 'logEvery',
  'sample-every': 'sampleEvery',
  'checkpoint-every': 'checkpointEvery',
} as const satisfies Record<string, keyof TrainOptions>;

const int = (name: string, v: string | undefined, min = 0) => intFlag(name, v, min);
const num = (name: string, v: string | undefined, bounds?: { above?: number; min?: number }) => numberFlag(name, v, bounds);

async function main(): Promise<number> {
  const { values: a } = parseArgs({
    options: {
      preset: { type: 'string' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      resume: { type: 'string' },
      procedure: { type: 'string' },
      'shape-bias': { type: 'string' },
      'random-share': { type: 'string' },
      clamp: { type: 'string' },
      recipe: { type: 'string' },
      'pretrain-steps': { type: 'string' },
      invariance: { type: 'string' },
      'invariance-mode': { type: 'string' },
      'random-encoder': { type: 'string' },
      'log-every': { type: 'string' },
      'sample-every': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'conv-variant': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (a.preset && !PRESETS[a.preset]) throw new UserError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got "${a.preset}"`);
  if (a.procedure && a.procedure !== 'clamped' && a.procedure !== 'random') throw new UserError(`--procedure must be clamped or random, got "${a.procedure}"`);
  if (a.clamp && a.clamp !== 'first' && a.clamp !== 'mean') throw new UserError(`--clamp must be first or mean, got "${a.clamp}"`);
  const mode = a['invariance-mode'];
  if (mode && mode !== 'absolute' && mode !== 'relative') throw new UserError(`--invariance-mode must be absolute or relative, got "${mode}"`);
  const randomEncoder = a['random-encoder'];
  if (randomEncoder && randomEncoder !== 'all' && randomEncoder !== 'scene') throw new UserError(`--random-encoder must be all or scene, got "${randomEncoder}"`);
  if (a.recipe !== undefined && a.resume) {
    throw new UserError('--recipe chooses how a fresh run trains; with --resume give --clamp, --pretrain-steps or --random-share to change the run');
  }
  if (a.resume && !existsSync(join(a.resume, MODEL_FILE))) throw new UserError(`--resume ${a.resume}: no ${MODEL_FILE} there`);
  const intoResumed = !!a.resume && (a.out === undefined || resolve(a.out) === resolve(a.resume));
  if (a.overwrite && intoResumed) throw new UserError(`--overwrite would move aside the run --resume ${a.resume} continues; give --out another folder`);
  const fault = parseFault(process.env.DCIGN_FAULT);

  // Every flag is checked before the (slow) adapter start; the preset's defaults fill in after it.
  const given = {
    steps: int('steps', a.steps, 1),
    batch: int('batch', a.batch, 2),
    lr: num('lr', a.lr, { above: 0 }),
    seed: int('seed', a.seed),
    shapeBias: num('shape-bias', a['shape-bias'], { min: 0 }),
    randomShare: num('random-share', a['random-share']),
    invariance: num('invariance', a.invariance, { min: 0 }),
    pretrainSteps: int('pretrain-steps', a['pretrain-steps']),
    logEvery: int('log-every', a['log-every'], 1),
    sampleEvery: int('sample-every', a['sample-every']),
    checkpointEvery: int('checkpoint-every', a['checkpoint-every'], 1),
  };
  if (given.randomShare !== undefined && !(given.randomShare >= 0 && given.randomShare <= 1)) {
    throw new UserError(`--random-share must be in [0, 1], got ${given.randomShare}`);
  }
  if (a.recipe !== undefined && a.recipe !== 'default' && a.recipe !== 'paper') throw new UserError(`--recipe must be default or paper, got "${a.recipe}"`);

  const convVariant = a['conv-variant'] === undefined ? undefined : convChoiceFlag(a['conv-variant']);
  const engine = await initEngine({ convVariant });
  console.log(`adapter: ${engine.report}`);
  console.log(`convolutions: ${convVariantNote(engine)}`);
  let preset = a.preset;
  if (!preset && !a.resume) {
    preset = engine.software ? 'small' : 'paper';
    console.log(`preset: ${preset} (chosen for a ${engine.software ? 'software' : 'hardware'} adapter; --preset to change)`);
  }
  const procedure = (a.procedure as TrainOptions['procedure']) ?? 'clamped';
  // A resumed run keeps its checkpoint's options; one saved before these options existed trained
  // the paper's recipe, so that is what a missing one means.
  const recipe = a.resume ? PAPER_RECIPE : recipeDefaults(preset ?? 'small', procedure, (a.recipe as 'default' | 'paper') ?? 'default');
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  const options: TrainOptions = {
    preset: preset ?? '',
    steps: given.steps ?? DEFAULT_STEPS[preset ?? 'small']!,
    batch: given.batch ?? 20,
    lr: given.lr ?? DEFAULT_LR[preset ?? 'small']!,
    seed: given.seed ?? 1,
    out: a.out ?? a.resume ?? join('runs', `${preset}-${stamp}`),
    procedure,
    shapeBias: given.shapeBias ?? recipe.shapeBias,
    randomShare: given.randomShare ?? recipe.randomShare,
    invariance: given.invariance ?? recipe.invariance,
    invarianceMode: (mode as TrainOptions['invarianceMode']) ?? recipe.invarianceMode,
    randomEncoder: (randomEncoder as TrainOptions['randomEncoder']) ?? recipe.randomEncoder,
    clamp: (a.clamp as TrainOptions['clamp']) ?? recipe.clamp,
    pretrainSteps: given.pretrainSteps ?? recipe.pretrainSteps,
    logEvery: given.logEvery ?? 10,
    sampleEvery: given.sampleEvery ?? 250,
    checkpointEvery: given.checkpointEvery ?? 500,
  };
  // A batch whose tensors exceed the adapter's largest buffer would fail in its first step.
  const checkBatch = (config: DcignConfig, batch: number) => {
    const limit = largestBatch(config, { maxBufferSize: engine.limits.maxBufferSize, maxBinding: engine.maxBinding });
    if (batch > limit) throw new UserError(`--batch ${batch}: this adapter takes at most ${limit} images of preset ${config.preset} in a batch`);
  };
  if (PRESETS[options.preset]) checkBatch(PRESETS[options.preset]!, options.batch); // before the run's folder is made
  const claim = claimRunFolder(options.out, a.overwrite ? 'overwrite' : intoResumed ? 'resume' : 'new');
  if (claim.tookOverFrom !== null) console.log(`took over ${join(options.out, 'train.lock')}, left by pid ${claim.tookOverFrom}, which is no longer running`);
  if (claim.movedTo) console.log(`--overwrite: moved the previous run's files to ${claim.movedTo}`);
  if (claim.removedTemporaries.length) {
    console.log(`removed ${claim.removedTemporaries.length} temporary file(s) an interrupted write left in ${options.out}: ${claim.removedTemporaries.join(', ')}`);
  }

  // On --resume the checkpoint's options hold, except those given here, which change them from
  // the resumed step on.
  const changes = Object.fromEntries(
    Object.entries(RESUMABLE).filter(([flag]) => a[flag as keyof typeof a] !== undefined).map(([, key]) => [key, options[key]]),
  );
  const trainer = a.resume
    ? Trainer.resume(engine, a.resume, { ...options, preset: preset ?? '' }, (o, imageSize) => new FaceBatches(engine, { ...o, imageSize }), changes)
    : Trainer.create(engine, options, new FaceBatches(engine, { ...options, imageSize: PRESETS[options.preset]!.imageSize }));
  const o = trainer.options;
  if (a.resume) checkBatch(trainer.model.config, o.batch);
  if (o.randomShare && o.procedure === 'random') {
    throw new UserError('--random-share mixes random batches into --procedure clamped; with random every batch is random already');
  }
  if (o.pretrainSteps && o.procedure === 'random') {
    throw new UserError('--pretrain-steps trains random batches before --procedure clamped; with random every batch is random already');
  }
  if (a.resume && a.steps === undefined) o.steps = Math.max(o.steps, trainer.step);
  if (intoResumed) {
    // A run killed between checkpoints logged steps it takes again now.
    const dropped = truncateLog(o.out, trainer.step);
    if (dropped) console.log(`${join(o.out, LOG_FILE)}: dropped ${dropped} record(s) past step ${trainer.step}, the checkpoint's: those steps run again`);
  }
  const change = o.history?.at(-1);
  if (a.resume && change?.step === trainer.step) {
    console.log(`changed from the checkpoint: ${describeChange(change)}`);
  }
  console.log(
    `${a.resume ? `resuming at step ${trainer.step}` : 'training'}: preset ${trainer.model.config.preset}, ${o.steps} steps of batch ${o.batch}, ` +
      `${o.pretrainSteps ? `${o.pretrainSteps} steps random, then ` : ''}procedure ${o.procedure}` +
      `${o.procedure === 'clamped' ? ` (clamp ${o.clamp ?? 'first'})` : ''}${o.invariance ? `, invariance ${o.invariance}${o.invarianceMode === 'relative' ? ' (relative)' : ''}` : ''}${o.shapeBias ? `, shape bias ${o.shapeBias}` : ''}${o.randomShare ? `, random share ${o.randomShare}${o.randomEncoder === 'scene' ? ' (z1..z3 alone in the encoder)' : ''}` : ''} -> ${o.out}`,
  );
  if (o.procedure === 'clamped' && o.pretrainSteps && o.pretrainSteps >= o.steps) {
    console.log(`note: all ${o.steps} steps are pretraining with random batches (--pretrain-steps ${o.pretrainSteps}); raise --steps or lower --pretrain-steps for clamped ones`);
  }
  if (trainer.step >= o.steps) {
    console.log(`nothing to do: the run is already at step ${trainer.step}; raise --steps to continue`);
    return 0;
  }

  let stopRequested = false;
  let firstSignal = 0;
  const onSigint = () => {
    // One Ctrl-C can arrive twice: the terminal signals the whole process group, and npm (or
    // `timeout`) forwards its copy to us as well. Only a second press counts as "exit at once".
    if (stopRequested) {
      if (performance.now() - firstSignal < 1000) return;
      console.error(`\nsecond interrupt: exiting now; ${describeCheckpoint(o.out)}`);
      process.exit(130);
    }
    stopRequested = true;
    firstSignal = performance.now();
    console.error('\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to exit at once)');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  // Every pipeline of the steps ahead, compiled in parallel before the first step.
  const tc = performance.now();
  const compiled = await trainer.precompile();
  console.log(`compiled ${compiled} GPU pipelines in ${((performance.now() - tc) / 1000).toFixed(1)} s`);
  const bar = trainProgress(o.steps, trainer.step, Boolean(process.stderr.isTTY));
  const t0 = performance.now();
  const step0 = trainer.step;
  const injectFault = faultHook(fault, engine);
  try {
    await trainer.run({
      shouldStop: () => stopRequested,
      onStep: (s) => {
        bar.step(s);
        injectFault(s);
      },
      onLog: (r) => bar.log(r.step, (r.bce + r.kl) / o.batch, r.kind),
      onTune: (line) => console.log(line),
    });
  } catch (e) {
    bar.stop();
    const failure = describeFailure(e, o.out);
    if (failure) {
      console.error(`error: ${failure.message}`);
      return failure.code;
    }
    throw e;
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `${stopRequested ? 'stopped' : 'done'} at step ${trainer.step} in ${seconds.toFixed(0)} s ` +
      `(${((trainer.step - step0) / seconds).toFixed(2)} steps/s); checkpoint: ${join(o.out, MODEL_FILE)}`,
  );
  trainer.dispose();
  engine.destroy();
  return stopRequested ? 130 : 0;
}

runCommand(main);
