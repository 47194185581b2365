// The training loop (Node): batches from the face renderer, one submit per step, readbacks only
// at log, sample and checkpoint steps, atomic checkpoints, a clean stop on request or on NaN.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../gpu/engine.js';
import { Dcign } from '../model/dcign.js';
import { getPreset } from '../model/presets.js';
import { noGrad } from '../autograd/tape.js';
import { tidy, type Tensor } from '../tensor.js';
import { RMSProp } from './optim.js';
import { trainStep, type RandomEncoder } from './step.js';
import type { InvarianceMode } from '../kernels/selective.js';
import type { Procedure } from './schedule.js';
import type { ClampSource } from '../kernels/selective.js';
import type { BatchType } from '../data/batches.js';
import { LOG_FILE, loadCheckpoint, saveCheckpoint } from './state.js';
import type { OptionChange } from './history.js';
import type { BatchSource } from './batches.js';
import { contactSheet } from '../data/images.js';
import { writeGrayPng } from '../data/images-node.js';

export interface TrainOptions {
  preset: string;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  out: string;
  procedure: Procedure;
  shapeBias: number;
  /** Share of random, unclamped batches among the clamped procedure's (not in the paper; default 0). */
  randomShare?: number;
  invariance: number;
  /** How the invariance is measured (absolute, the paper's, when missing). */
  invarianceMode?: InvarianceMode;
  /** Which latents the clamped procedure's random batches (randomShare) train in the encoder ('all' when missing). */
  randomEncoder?: RandomEncoder;
  /** What clamped latents become: sample 0's mu and logvar ('first', the original code) or the batch mean of z. */
  clamp?: ClampSource;
  /**
   * Steps trained with random, unclamped batches before the procedure's own (the original
   * authors pretrained their networks so); the switch is recorded in `history`.
   */
  pretrainSteps?: number;
  logEvery: number;
  /** Steps between sample grids; 0 writes one only at the end (a run always ends with one). */
  sampleEvery: number;
  checkpointEvery: number;
  /** Options changed on --resume, oldest first: at `step`, each key went from [0] to [1]. */
  history?: OptionChange[];
}


export interface LogRecord {
  step: number;
  kind: BatchType;
  bce: number;
  kl: number;
  /** Seconds since the run (or the resumed run) started. */
  seconds: number;
}

export class NonFiniteLossError extends Error {
  constructor(step: number, bce: number, kl: number, lastGood: number | null) {
    super(
      `the loss became non-finite at step ${step} (bce ${bce}, kl ${kl}); stopping. ` +
        (lastGood === null ? 'No checkpoint had been written yet.' : `The last good checkpoint (step ${lastGood}) is kept.`) +
        ' Try a lower --lr.',
    );
    this.name = 'NonFiniteLossError';
  }
}

export interface TrainHooks {
  onLog?(r: LogRecord): void;
  onStep?(step: number): void;
  onCheckpoint?(step: number): void;
  /** Checked after every step; true stops the run after a checkpoint. */
  shouldStop?(): boolean;
  /** The convolution autotune's picks, timed after the first step (engine.convVariant 'auto'). */
  onTune?(line: string): void;
}

export class Trainer {
  readonly model: Dcign;
  readonly optimizer: RMSProp;
  step: number;
  private lastCheckpoint: number | null = null;
  private precompiled = false;
  private sampleImages: Tensor | null = null;
  private readonly started = performance.now();

  private constructor(readonly engine: Engine, readonly options: TrainOptions, model: Dcign, step: number, private source: BatchSource) {
    this.model = model;
    this.step = step;
    this.optimizer = new RMSProp([...model.parameters().values()], { lr: options.lr });
    mkdirSync(options.out, { recursive: true });
  }

  static create(engine: Engine, options: TrainOptions, source: BatchSource): Trainer {
    return new Trainer(engine, options, new Dcign(getPreset(options.preset), options.seed, engine), 0, source);
  }

  /**
   * Continues the run saved in `dir`. Its options come from the checkpoint, except steps and out,
   * and `changes`, which apply from the resumed step on (the original's workflow: pretrain with
   * random batches, then continue clamped). With no changes the continuation is exact.
   */
  static resume(
    engine: Engine, dir: string, options: TrainOptions, source: (o: TrainOptions, imageSize: number) => BatchSource,
    changes: Partial<Omit<TrainOptions, 'preset' | 'steps' | 'out'>> = {},
  ): Trainer {
    const r = loadCheckpoint(dir, engine, options.preset);
    const saved = r.options as Partial<TrainOptions>;
    const merged: TrainOptions = { ...options, ...saved, ...changes, steps: options.steps, out: options.out };
    const changed: OptionChange['changed'] = {};
    for (const [k, v] of Object.entries(changes)) {
      // Checkpoints from before an option existed lack it: giving it a value is a change, unless 0.
      const was = saved[k as keyof TrainOptions];
      if (was !== v && !(was === undefined && !v)) changed[k] = [was ?? 'unset', v];
    }
    if (Object.keys(changed).length) merged.history = [...(saved.history ?? []), { step: r.step, changed }];
    const t = new Trainer(engine, merged, r.model, r.step, source(merged, r.model.config.imageSize));
    t.optimizer.loadState({ t: r.t, m: r.moments.m.map((a) => a.data), v: r.moments.v.map((a) => a.data) });
    t.lastCheckpoint = r.step;
    return t;
  }

  /** Runs until options.steps (or a stop request); returns the records it logged. */
  async run(hooks: TrainHooks = {}): Promise<LogRecord[]> {
    const o = this.options;
    const logged: LogRecord[] = [];
    if (!this.precompiled && this.step < o.steps) await this.precompile();
    while (this.step < o.steps) {
      const step = this.step; // 0-based index of the step being taken
      if (step > 0 && step === o.pretrainSteps && o.procedure !== 'random') this.notePretrainingEnd(step);
      let kind: BatchType = 'random';
      const losses = tidy(() => {
        const batch = this.source.batch(step);
        kind = batch.type;
        return this.trainOn(this.optimizer, batch.images, kind, step);
      });
      this.engine.flush();
      // The first step ran each convolution shape once with the fallback variant; now time the
      // candidates of any not tuned before on this adapter (nothing queued: nothing happens).
      await this.engine.autotune.settle(hooks.onTune);
      this.step = step + 1;
      const done = this.step;
      const stop = hooks.shouldStop?.() ?? false;
      const last = done === o.steps || stop;
      const checkpointDue = last || done % o.checkpointEvery === 0;
      if (checkpointDue || done % o.logEvery === 0 || done === 1) {
        const [bce, kl] = await Promise.all([losses.bce.data(), losses.kl.data()]);
        const r: LogRecord = { step: done, kind, bce: bce[0]!, kl: kl[0]!, seconds: (performance.now() - this.started) / 1000 };
        if (!Number.isFinite(r.bce) || !Number.isFinite(r.kl)) {
          losses.bce.dispose();
          losses.kl.dispose();
          throw new NonFiniteLossError(done, r.bce, r.kl, this.lastCheckpoint);
        }
        appendFileSync(join(o.out, LOG_FILE), JSON.stringify(r) + '\n');
        logged.push(r);
        hooks.onLog?.(r);
      }
      losses.bce.dispose();
      losses.kl.dispose();
      if (last || (o.sampleEvery > 0 && done % o.sampleEvery === 0)) await this.writeSamples();
      if (checkpointDue) await this.checkpoint();
      hooks.onStep?.(done);
      if (stop) break;
    }
    return logged;
  }

  /** Step `step` of the run on a batch of `type`. */
  private trainOn(optimizer: RMSProp, images: Tensor, type: BatchType, step: number) {
    const o = this.options;
    // 'random' batches vary everything: the section 3.1 procedure clamps nothing.
    return trainStep(this.model, optimizer, images, type === 'random' ? 'shape' : type, {
      procedure: type === 'random' ? 'random' : o.procedure,
      invariance: o.invariance || undefined,
      invarianceMode: o.invarianceMode,
      // Pretraining's random batches train every latent: only the ones mixed into the clamped procedure are filtered.
      randomEncoder: o.procedure === 'clamped' && step >= (o.pretrainSteps ?? 0) ? o.randomEncoder : undefined,
      clamp: o.clamp,
      seed: o.seed,
      step,
    });
  }

  /**
   * Compiles the pipelines of the run's steps before the first, all in parallel
   * (Engine.precompile), rather than one after another inside it: a dry run of the step on a
   * random and on a clamped batch, before and after pretraining, and of a batch's rendering and
   * the sample grid's forward. The dry step updates a stand-in optimizer, so that this one's
   * step count stays as it is. run() calls it unless it has run. Returns how many pipelines it
   * compiled.
   */
  async precompile(): Promise<number> {
    const o = this.options;
    const steps = [...new Set([this.step, Math.max(this.step, o.pretrainSteps ?? 0)])].filter((s) => s < o.steps);
    this.precompiled = true;
    return this.engine.precompile(() =>
      tidy(() => {
        const optimizer = new RMSProp([...this.model.parameters().values()], { lr: o.lr });
        const images = this.source.batch(this.step).images;
        for (const step of steps) {
          for (const type of o.procedure === 'random' ? (['random'] as const) : (['random', 'az'] as const)) {
            const { bce, kl } = this.trainOn(optimizer, images, type, step);
            bce.dispose();
            kl.dispose();
          }
        }
        noGrad(() => this.model.decode(this.model.encode(images).mu));
        optimizer.dispose();
      }),
    );
  }

  /** Records the end of pretraining in the history, once (a resumed run may pass it again). */
  private notePretrainingEnd(step: number): void {
    const o = this.options;
    if (o.history?.some((h) => h.step === step && 'procedure' in h.changed)) return;
    o.history = [...(o.history ?? []), { step, changed: { procedure: ['random', o.procedure] } }];
  }

  async checkpoint(): Promise<void> {
    const { out, ...rest } = this.options;
    await saveCheckpoint(out, this.model, this.optimizer, { step: this.step, options: { ...rest } });
    this.lastCheckpoint = this.step;
  }

  /** A fixed held-out batch: inputs over reconstructions from the posterior means. */
  async writeSamples(): Promise<string> {
    const count = Math.min(8, this.options.batch);
    if (!this.sampleImages) this.sampleImages = this.source.heldOut(count);
    const recon = noGrad(() =>
      tidy(() => {
        const { mu } = this.model.encode(this.sampleImages!);
        return this.model.decode(mu);
      }),
    );
    const [inputs, outputs] = await Promise.all([this.sampleImages.data(), recon.data()]);
    recon.dispose();
    const S = this.model.config.imageSize;
    const both = new Float32Array(2 * count * S * S);
    both.set(inputs);
    both.set(outputs, count * S * S);
    mkdirSync(join(this.options.out, 'samples'), { recursive: true });
    const path = join(this.options.out, 'samples', `step-${String(this.step).padStart(7, '0')}.png`);
    writeGrayPng(path, contactSheet(both, 2 * count, S, count));
    return path;
  }

  dispose(): void {
    this.sampleImages?.dispose();
    this.optimizer.dispose();
    this.model.dispose();
  }
}
