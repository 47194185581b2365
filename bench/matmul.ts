// GFLOP/s of our matmul and of tfjs-backend-webgpu's on the same adapter.
import { ops, type Engine } from '../src/node.js';
import { loadTfjs } from './tfjs.js';
import { table, timeIt } from './timing.js';
import type { BenchOptions } from './options.js';

export interface MatmulRow {
  size: number;
  oursMs: number;
  oursGflops: number;
  tfjsMs: number | null;
  tfjsGflops: number | null;
  ratio: number | null;
}

/** Square n x n x n products at each of sizes; tfjs too unless tfjs is false. */
export async function benchMatmul(engine: Engine, opts: BenchOptions = {}): Promise<{ rows: MatmulRow[]; text: string }> {
  const { sizes = [256, 1024, 2048], tfjs = true } = opts;
  const rows: MatmulRow[] = [];
  const tf = tfjs ? await loadTfjs() : null;
  for (const n of sizes) {
    const flops = 2 * n ** 3;
    const a = ops.randUniform([n, n], -1, 1, 1, engine);
    const b = ops.randUniform([n, n], -1, 1, 2, engine);
    const ours = await timeIt(async () => {
      ops.matmulRaw(a, b).dispose();
      await engine.sync();
    });
    a.dispose();
    b.dispose();
    let tfjsMs: number | null = null;
    if (tf) {
      const ta = tf.randomUniform([n, n], -1, 1);
      const tb = tf.randomUniform([n, n], -1, 1);
      const t = await timeIt(async () => {
        const c = tf.matMul(ta, tb);
        await c.data();
        c.dispose();
      });
      ta.dispose();
      tb.dispose();
      tfjsMs = t.ms;
    }
    rows.push({
      size: n,
      oursMs: ours.ms,
      oursGflops: flops / ours.ms / 1e6,
      tfjsMs,
      tfjsGflops: tfjsMs ? flops / tfjsMs / 1e6 : null,
      ratio: tfjsMs ? tfjsMs / ours.ms : null,
    });
  }
  const text = table(
    ['n (n x n x n)', 'ours ms', 'ours GFLOP/s', 'tfjs ms', 'tfjs GFLOP/s', 'tfjs/ours'],
    rows.map((r) => [r.size, r.oursMs, r.oursGflops, r.tfjsMs ?? '-', r.tfjsGflops ?? '-', r.ratio ?? '-']),
  );
  return { rows, text };
}
