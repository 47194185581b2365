// Wall-clock timing around GPU work: warm up, then repeat until enough time has passed.
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
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, iterations: times.length };
}

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
