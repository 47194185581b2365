// Where a training run's images come from: the face renderer, one batch per step.
import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../tensor.js';
import { renderBatch, testSet, trainingBatch, type BatchType } from '../data/batches.js';

export interface StepBatch {
  type: BatchType;
  /** [batch, 1, S, S] in [0, 1]; the caller disposes it. */
  images: Tensor;
}

export interface BatchSource {
  /** The batch of step `step`: a pure function of the source's seed and the step. */
  batch(step: number): StepBatch;
  /** A fixed held-out batch for sample grids. */
  heldOut(count: number): Tensor;
}

export interface FaceBatchOptions {
  seed: number;
  batch: number;
  procedure: 'clamped' | 'random';
  /** The paper's shape bias K: SHAPE batches with probability (K + 1) / (K + 4). */
  shapeBias: number;
  /** Share of random (unclamped) batches mixed into the clamped procedure; not in the paper. */
  randomShare?: number;
  /** Steps before this one draw random batches whatever the procedure (the original's pretraining). */
  pretrainSteps?: number;
  imageSize: number;
}

export class FaceBatches implements BatchSource {
  constructor(private engine: Engine, private o: FaceBatchOptions) {}

  batch(step: number): StepBatch {
    const mode = step < (this.o.pretrainSteps ?? 0) ? 'random' : this.o.procedure;
    const spec = trainingBatch(this.o.seed, step, { count: this.o.batch, mode, shapeBias: this.o.shapeBias + 1, randomShare: this.o.randomShare });
    const { type, images } = renderBatch(spec, { size: this.o.imageSize }, this.engine);
    return { type, images };
  }

  heldOut(count: number): Tensor {
    const spec = testSet(this.o.seed, { batchesPerType: 1, count, types: ['random'] })[0]!;
    return renderBatch(spec, { size: this.o.imageSize }, this.engine).images;
  }
}
