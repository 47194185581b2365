// Wall-clock timing around GPU work: warm up, then repeat until enough time has passed; and the
// table, numbers and notes the benches print.
import { loadavg } from 'node:os';
import { median } from '../src/eval/abc.js';

export interface Timing {
  ms: number; // median per iteration
  iterations: number;
}

export async function timeIt(run: () => Promise<void>, opts: { warmup?: number; minMs?: number; minIters?: number; maxIters?: number } = {}): Promise<Timing> {
  const { warmup = 1, minMs = 1000, minIters = 3, maxIters = 50 } = opts;
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minIters || (performance.now() - start < minMs && times.length < maxIters)) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), iterations: times.length };
}

/** An error's first line, at most 200 characters: what a row's error says. */
export const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);

/** The 1-minute load average, recorded around measurements: other work on the machine skews wall-clock numbers. */
export const loadAverage = () => Number(loadavg()[0]!.toFixed(2));

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}
