// GFLOP/s of our matmul and of tfjs-backend-webgpu's and jax-js's on the same adapter.
import { ops, type Engine } from '../src/node.js';
import { loadTfjs } from './tfjs.js';
import { jaxArray, optionalJax, settleJax, type Jax } from './jax.js';
import { Rng } from '../src/data/rng.js';
import { errText, table, timeIt } from './timing.js';
import type { BenchOptions } from './options.js';

export interface MatmulRow {
  size: number;
  oursMs: number;
  oursGflops: number;
  tfjsMs: number | null;
  tfjsGflops: number | null;
  ratio: number | null;
  jaxMs: number | null;
  jaxGflops: number | null;
  /** jax-js ms / ours ms: above 1, ours is faster. */
  jaxRatio: number | null;
  jaxError?: string;
}

/** jax-js's jit'd product, timed like the others: each call waited for on the device, never read back. */
async function timeJax(jax: Jax, n: number): Promise<number> {
  const rng = Rng.fromSeed(n);
  const operand = () => jaxArray(jax, new Float32Array(n * n).map(() => rng.range(-1, 1)), [n, n]);
  const [a, b] = [operand(), operand()];
  const mm = jax.jit((x: typeof a, y: typeof a) => jax.numpy.matmul(x, y));
  try {
    const t = await timeIt(async () => {
      const c = mm(a.ref, b.ref);
      await settleJax(jax, [c]);
      c.dispose();
    });
    return t.ms;
  } finally {
    a.dispose();
    b.dispose();
    mm.dispose();
  }
}

/** Square n x n x n products at each of sizes; tfjs and jax-js too unless switched off. */
export async function benchMatmul(engine: Engine, opts: BenchOptions = {}): Promise<{ rows: MatmulRow[]; text: string }> {
  const { sizes = [256, 1024, 2048], tfjs = true } = opts;
  const rows: MatmulRow[] = [];
  const tf = tfjs ? await loadTfjs() : null;
  const { jax, why, device } = await optionalJax(opts.jax !== false);
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
    let jaxMs: number | null = null;
    let jaxError = why ?? undefined;
    if (jax) {
      try {
        jaxMs = await timeJax(jax, n);
      } catch (e) {
        jaxError = errText(e);
      }
    }
    rows.push({
      size: n,
      oursMs: ours.ms,
      oursGflops: flops / ours.ms / 1e6,
      tfjsMs,
      tfjsGflops: tfjsMs ? flops / tfjsMs / 1e6 : null,
      ratio: tfjsMs ? tfjsMs / ours.ms : null,
      jaxMs,
      jaxGflops: jaxMs ? flops / jaxMs / 1e6 : null,
      jaxRatio: jaxMs ? jaxMs / ours.ms : null,
      ...(jaxError && { jaxError }),
    });
  }
  const body = table(
    ['n (n x n x n)', 'ours ms', 'ours GFLOP/s', 'tfjs ms', 'tfjs GFLOP/s', 'tfjs/ours', 'jax ms', 'jax GFLOP/s', 'jax/ours'],
    rows.map((r) => [r.size, r.oursMs, r.oursGflops, r.tfjsMs ?? '-', r.tfjsGflops ?? '-', r.ratio ?? '-', r.jaxMs ?? '-', r.jaxGflops ?? '-', r.jaxRatio ?? '-']),
  );
  const errors = [...new Set(rows.flatMap((r) => (r.jaxError ? [`n ${r.size}: ${r.jaxError}`] : [])))];
  return { rows, text: [body, ...(device ? [device] : []), ...errors.map((e) => `jax-js fails: ${e}`)].join('\n') };
}
