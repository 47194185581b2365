// The largest batch an adapter takes for a preset. Each tensor of a step lives in one GPU buffer,
// and the largest, a full-resolution stack of feature maps, must fit the adapter's maxBufferSize;
// past it the step fails inside the buffer pool, after the run's folder is made. The face renderer
// draws a step's batch in one call, which has its own ceiling.
import { largestRender } from '../data/render.js';
import { bucketSize } from '../gpu/pool.js';
import type { DcignConfig } from '../model/presets.js';
import { network } from '../model/network.js';

/** Elements per image of the largest activation a training step makes (gradients match their activations). */
export function largestPerImage(c: DcignConfig): number {
  return Math.max(...network(c).activations.map((a) => a.perImage));
}

/**
 * The largest N whose largest activation fits one buffer (the pool rounds requests up to its
 * buckets) and whose images the renderer draws in one call.
 */
export function largestBatch(c: DcignConfig, limits: { maxBufferSize: number; maxBinding: number }): number {
  return Math.min(largestByBuffer(c, limits.maxBufferSize), largestRender(c.imageSize, limits.maxBinding));
}

function largestByBuffer(c: DcignConfig, maxBufferSize: number): number {
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
