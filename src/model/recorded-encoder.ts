// The encoder recorded once for a batch size and run again without its ops' JavaScript
// (Engine.record): what the page does for every image. In Chromium on SwiftShader the small
// encoder's JavaScript took 0.2-1.0 ms before the GPU process saw any work, 0.8-1.8 ms once the
// page had idled, and replaying the recording saved 0.5-1.2 ms an encode (bench/RESULTS.md).
import { noGrad } from '../autograd/record.js';
import type { Recording } from '../gpu/recording.js';
import { keep, Tensor, tidy } from '../tensor.js';
import type { Dcign } from './dcign.js';

export class RecordedEncoder {
  /** Where run() writes the images, [batch, 1, S, S]. */
  readonly images: Tensor;
  /** Where each run leaves mu and logvar, [batch, latents]; read them after run(). */
  readonly mu: Tensor;
  readonly logvar: Tensor;
  private readonly recording: Recording;
  // The encoder's parameters as recorded: a packed or replaced one would leave the recording
  // reading a buffer the model no longer uses.
  private readonly params: [Tensor, GPUBuffer, number][];

  constructor(
    readonly model: Dcign,
    readonly batch = 1,
  ) {
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`RecordedEncoder: batch ${batch} is not a positive integer`);
    const S = model.config.imageSize;
    const engine = model.engine;
    this.images = keep(Tensor.empty([batch, 1, S, S], 'f32', engine));
    try {
      // tidy() disposes the intermediates, which the recording then holds.
      const { result, recording } = engine.record(() => noGrad(() => tidy(() => model.encode(this.images))));
      this.mu = keep(result.mu);
      this.logvar = keep(result.logvar);
      this.recording = recording;
    } catch (e) {
      this.images.dispose();
      throw e;
    }
    this.params = [...model.parameters()].filter(([name]) => name.startsWith('encoder.')).map(([, t]) => [t, t.buffer, t.offset]);
  }

  /** Recorded dispatches a run records. */
  get dispatches(): number {
    return this.recording.dispatches;
  }

  /**
   * Writes images (batch x S x S values in [0, 1], image after image) and records the encoder
   * into the engine's open batch: read mu and logvar after (their reads submit it).
   */
  run(images: Float32Array): { mu: Tensor; logvar: Tensor } {
    if (this.recording.isDisposed) throw new Error('RecordedEncoder.run: used after dispose()');
    // Their buffers back in the pool would be another tensor's, which a run would overwrite.
    if ([this.images, this.mu, this.logvar].some((t) => t.isDisposed)) {
      throw new Error('RecordedEncoder.run: its images, mu or logvar tensor was disposed; dispose the RecordedEncoder instead');
    }
    if (images.length !== this.images.size) {
      const S = this.model.config.imageSize;
      throw new Error(`RecordedEncoder.run: images has ${images.length} values; a batch of ${this.batch} at ${S}x${S} needs ${this.images.size}`);
    }
    if (this.params.some(([t, buffer, offset]) => t.isDisposed || t.buffer !== buffer || t.offset !== offset)) {
      throw new Error("RecordedEncoder.run: the model's encoder parameters were moved or disposed after recording; record it again");
    }
    const engine = this.model.engine;
    engine.upload(this.images.buffer, this.images.offset, images);
    engine.run(this.recording);
    return { mu: this.mu, logvar: this.logvar };
  }

  /** run(images), then mu and logvar read back together: one submit and one map for all of it. */
  async encode(images: Float32Array): Promise<{ mu: Float32Array; logvar: Float32Array }> {
    const outs = [this.mu, this.logvar];
    this.run(images);
    const [mu, logvar] = await this.model.engine.readAll(outs.map((t) => ({ buffer: t.buffer, offset: t.offset, bytes: t.size * 4 })));
    return { mu: new Float32Array(mu!), logvar: new Float32Array(logvar!) };
  }

  dispose(): void {
    this.recording.dispose();
    for (const t of [this.images, this.mu, this.logvar]) if (!t.isDisposed) t.dispose();
  }
}
