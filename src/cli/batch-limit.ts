// The largest batch an adapter takes for a preset. Each tensor of a step lives in one GPU buffer,
// and the largest, a full-resolution stack of feature maps, must fit the adapter's maxBufferSize;
// past it the step fails inside the buffer pool, after the run's folder is made.
import { bucketSize } from '../gpu/pool.js';
import { shapesOf, type DcignConfig } from '../model/presets.js';

/** Elements per image of the largest activation a training step makes (gradients match their activations). */
export function largestPerImage(c: DcignConfig): number {
  const s = shapesOf(c);
  const convOut = (n: number) => (c.encoderPadding === 'same' ? n : n - c.encoderKernel + 1);
  const sizes = [c.imageSize ** 2];
  s.encoder.slice(0, 3).forEach((n, i) => sizes.push(c.encoderMaps[i]! * convOut(n) ** 2));
  s.decoder.slice(1).forEach((n, i) => sizes.push(c.decoderMaps[i]! * n * n));
  return Math.max(...sizes);
}

/** The largest N whose largest activation fits one buffer (the pool rounds requests up to its buckets). */
export function largestBatch(c: DcignConfig, maxBufferSize: number): number {
  const bytes = (n: number) => bucketSize(n * largestPerImage(c) * 4);
  let lo = 0;
  let hi = Math.floor(maxBufferSize / (largestPerImage(c) * 4));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (bytes(mid) <= maxBufferSize) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
