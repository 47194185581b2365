// Timing a piece of work dispatch by dispatch (--profile of `npm run bench -- step` and `web`):
// every dispatch submitted alone between two GPU timestamps and named by its kernel. Runs in Node
// and in the bench's page.
import type { DispatchArgs, Engine } from '../src/gpu/engine.js';
import type { CompiledKernel } from '../src/gpu/pipelines.js';
import { GpuMarks } from '../src/gpu/marks.js';

/** Where the work is (the phase; in it the layer or backward rule that runs). */
export type Context = { label: string };

export type ProfileEntry = { what: string; ms: number; dispatches: number };

/** A dispatch's kernel in a few words: conv passes by kind, elementwise by expression. */
export function kernelWords(kernel: { name: string; key: string }): string {
  const has = (flag: string) => kernel.key.includes(`["${flag}",true]`);
  if (kernel.name === 'conv2d') {
    for (const [flag, words] of [['CONV', 'conv implicit GEMM'], ['DW_SUM', 'conv dw partial sums'], ['DW', 'conv dw'], ['DB', 'conv db']] as const) {
      if (has(flag)) return words;
    }
  }
  if (kernel.name === 'upconv') return has('FOLD') ? `fold weights${has('BACKWARD') ? ' backward' : ''}` : 'depth-to-space backward';
  if (kernel.name === 'elementwise') {
    const m = /"EXPR","((?:[^"\\]|\\.)*)"/.exec(kernel.key);
    return `elementwise ${m ? (JSON.parse(`"${m[1]}"`) as string) : '?'}`;
  }
  const flags = ['BACKWARD', 'INDICES', 'KL', 'CLAMP', 'FILTER', 'MEAN', 'RMSPROP', 'SPLIT', 'SPLIT_SUM'].filter(has);
  return `${kernel.name}${flags.length ? ` ${flags.join(',').toLowerCase()}` : ''}`;
}

/**
 * Runs step with every dispatch submitted alone between two GPU timestamps (the device must have
 * timestamp-query), each labelled with the context and its kernel: the ms summed by label, most
 * first, each dispatch's in order, and the ms of all.
 */
export async function profileDispatches<T>(
  engine: Engine,
  ctx: Context,
  step: () => T,
): Promise<{ result: T; entries: ProfileEntry[]; timed: { what: string; ms: number }[]; dispatches: number; totalMs: number }> {
  const pm = new GpuMarks(engine.device, 4096);
  const labels: string[] = [];
  const dispatch = engine.dispatch;
  await engine.sync();
  pm.mark();
  engine.dispatch = (kernel: CompiledKernel, args: DispatchArgs) => {
    dispatch.call(engine, kernel, args);
    engine.flush();
    if (pm.mark() >= 0) labels.push(`${ctx.label}: ${kernelWords(kernel)}`);
  };
  let result: T;
  try {
    result = step();
  } finally {
    engine.dispatch = dispatch;
  }
  await engine.sync();
  const t = await pm.collect();
  pm.destroy();
  const timed = labels.map((what, i) => ({ what, ms: t[i + 1]! - t[i]! }));
  const entries = sumBy(timed, (e) => e.what, (e) => e.ms).map((g) => ({ what: g.key, ms: g.total, dispatches: g.count }));
  return { result, entries, timed, dispatches: labels.length, totalMs: t[t.length - 1]! };
}

/** Sums amount over items by key, largest total first (in first-seen order among equals). */
export function sumBy<T>(items: T[], key: (t: T) => string, amount: (t: T) => number): { key: string; total: number; count: number }[] {
  const groups = new Map<string, { key: string; total: number; count: number }>();
  for (const item of items) {
    const k = key(item);
    const g = groups.get(k) ?? { key: k, total: 0, count: 0 };
    g.total += amount(item);
    g.count++;
    groups.set(k, g);
  }
  return [...groups.values()].sort((a, b) => b.total - a.total);
}
