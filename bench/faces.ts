// Throughput of the face renderer: ms per batch and images per second at each image size.
import type { Engine } from '../src/gpu/engine.js';
import { DEFAULT_BATCH_SIZE, renderBatch } from '../src/data/batches.js';
import { table, timeIt } from './timing.js';
import type { BenchOptions } from './options.js';

export interface FacesBenchRow {
  size: number;
  batch: number;
  /** Median wall time of one batch: sample, record, submit, wait for the GPU (no readback). */
  msPerBatch: number;
  imagesPerSec: number;
  iterations: number;
}

/**
 * Renders random batches (every image its own pose, light and identity), by default at the presets'
 * 150 px and a smaller 64: 5 timed batches per size after one that compiles the shader.
 */
export async function benchFaces(engine: Engine, opts: BenchOptions = {}): Promise<{ rows: FacesBenchRow[]; text: string }> {
  const { sizes = [150, 64], batch = DEFAULT_BATCH_SIZE } = opts;
  const rows: FacesBenchRow[] = [];
  for (const size of sizes) {
    let seed = 1;
    const { ms, iterations } = await timeIt(
      async () => {
        const b = renderBatch({ type: 'random', seed: seed++, count: batch }, { size, antialias: true }, engine);
        await engine.sync();
        b.images.dispose();
      },
      { warmup: 1, minIters: 5, minMs: 0 },
    );
    rows.push({ size, batch, msPerBatch: ms, imagesPerSec: (1000 * batch) / ms, iterations });
  }
  const text = table(
    ['faces', 'size', 'batch', 'ms/batch', 'images/s', 'runs'],
    rows.map((r) => ['render', `${r.size}x${r.size}`, String(r.batch), r.msPerBatch, r.imagesPerSec, String(r.iterations)]),
  );
  return { rows, text };
}
