// A deterministic stand-in for the face renderer: a fixed pattern plus noise that depends on the
// step (so there is something to learn), cycling through the four clamped batch types, so the
// trainer's tests do not depend on faces.
import { ops, tidy, type Tensor } from '../../src/node.js';
import type { BatchSource, StepBatch } from '../../src/train/batches.js';

const TYPES = ['az', 'el', 'light', 'shape'] as const;

export class BlobBatches implements BatchSource {
  constructor(private size: number, private count: number, private seed = 5) {}
  batch(step: number): StepBatch {
    const images = tidy(() => {
      // A near-binary pattern (much to learn from a 0.5-grey start) with 10% noise on top.
      const noise = ops.randUniform([this.count, 1, this.size, this.size], 0, 0.1, this.seed * 7919 + step);
      const pattern = ops.sigmoid(ops.mulScalar(ops.randUniform([1, 1, this.size, this.size], -1, 1, this.seed), 8));
      return ops.add(ops.mulScalar(pattern, 0.9), noise);
    });
    return { type: TYPES[step % 4]!, images };
  }
  heldOut(count: number): Tensor {
    return ops.randUniform([count, 1, this.size, this.size], 0.1, 0.9, 99);
  }
}
