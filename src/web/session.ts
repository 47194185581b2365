// The page's GPU side: one engine, the loaded model, and every encode, decode and face render.
// All GPU work goes through one queue, so a slider that fires while a readback is pending never
// records into the same submit as another caller's work or reuses its buffers early.
import { noGrad, Tensor, tidy, type Engine } from '../browser.js';
import { decodeModel } from '../model/checkpoint.js';
import type { Dcign } from '../model/dcign.js';
import { RecordedEncoder } from '../model/recorded-encoder.js';
import { renderFaces, type FaceParams } from '../data/index.js';

export interface ModelInfo {
  name: string;
  preset: string;
  imageSize: number;
  latents: number;
  step: number | null;
  bytes: number;
}

export interface Encoded {
  mu: Float32Array;
  logvar: Float32Array;
  ms: number;
}

export class Session {
  private model: Dcign | null = null;
  // The model's encoder for one image, recorded at its first encode.
  private encoder: RecordedEncoder | null = null;
  info: ModelInfo | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly engine: Engine) {}

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Replaces the model with the checkpoint in `bytes`; throws (keeping the old one) if it does not
   * load. Then, queued behind it, compiles the encoder's and decoder's pipelines, so that the first
   * encode does not wait for them if the page is given an image a little later (on SwiftShader the
   * encoder's take about 2 s).
   */
  load(bytes: Uint8Array, name: string): Promise<ModelInfo> {
    const loaded = this.loadNow(bytes, name);
    void this.serial(() => this.precompile());
    return loaded;
  }

  /** Resolves when everything queued so far has run (the compilation after a load included). */
  async settled(): Promise<void> {
    await this.queue;
  }

  private precompile(): Promise<unknown> {
    const model = this.model;
    if (!model) return Promise.resolve();
    const { imageSize: S, latents } = model.config;
    // A dry run records nothing; an error here would come again, and be shown, on the first encode.
    return this.engine
      .precompile(() =>
        noGrad(() =>
          tidy(() => {
            model.encode(Tensor.empty([1, 1, S, S], 'f32', this.engine));
            model.decode(Tensor.empty([1, latents], 'f32', this.engine));
          }),
        ),
      )
      .catch(() => undefined);
  }

  private loadNow(bytes: Uint8Array, name: string): Promise<ModelInfo> {
    return this.serial(async () => {
      const { model, metadata } = decodeModel(bytes, name, this.engine);
      await this.engine.checkErrors();
      this.encoder?.dispose();
      this.encoder = null;
      this.model?.dispose();
      this.model = model;
      const step = metadata.step === undefined ? null : Number(metadata.step);
      this.info = {
        name,
        preset: model.config.preset,
        imageSize: model.config.imageSize,
        latents: model.config.latents,
        step: Number.isFinite(step) ? step : null,
        bytes: bytes.length,
      };
      return this.info;
    });
  }

  private need(): Dcign {
    if (!this.model) throw new Error('no checkpoint is loaded');
    return this.model;
  }

  /** One image (size x size, values in [0, 1]) to mu and logvar; ms covers upload, encoder and readback. */
  encode(image: Float32Array): Promise<Encoded> {
    return this.serial(async () => {
      const model = this.need();
      const t0 = performance.now();
      this.encoder ??= new RecordedEncoder(model, 1);
      const { mu, logvar } = await this.encoder.encode(image);
      return { mu, logvar, ms: performance.now() - t0 };
    });
  }

  /** One latent vector to an image (size x size in (0, 1)); ms covers upload, decoder and readback. */
  decode(z: Float32Array): Promise<{ image: Float32Array; ms: number }> {
    return this.serial(async () => {
      const model = this.need();
      const t0 = performance.now();
      // tidy(): the decoder's intermediates are freed here, its output after the read.
      const out = noGrad(() => tidy(() => model.decode(Tensor.fromData(z, [1, model.config.latents], 'f32', this.engine))));
      try {
        const image = await out.data();
        return { image, ms: performance.now() - t0 };
      } finally {
        out.dispose();
      }
    });
  }

  /** A face from the training renderer, read back for display and for the encoder. */
  renderFace(params: FaceParams, size: number): Promise<{ image: Float32Array; ms: number }> {
    return this.serial(async () => {
      const t0 = performance.now();
      const t = renderFaces([params], { size }, this.engine);
      try {
        const image = await t.data();
        return { image, ms: performance.now() - t0 };
      } finally {
        t.dispose();
      }
    });
  }
}

/** Runs the newest request only: calls made while one is running collapse into one that runs next. */
export class Latest<A> {
  private running = false;
  private pending: { arg: A } | null = null;

  constructor(private readonly work: (arg: A) => Promise<void>, private readonly onError: (e: unknown) => void) {}

  request(arg: A): void {
    this.pending = { arg };
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.pending) {
      const { arg } = this.pending;
      this.pending = null;
      try {
        await this.work(arg);
      } catch (e) {
        this.onError(e);
      }
    }
    this.running = false;
  }
}
