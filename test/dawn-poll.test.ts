// Waiting on a software adapter leaves the main thread nearly idle (src/gpu/dawn-poll.ts): Dawn's
// binding polls from a setImmediate loop, which on its own kept the main thread busy for the
// whole wait and took a core from lavapipe's threads.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { useEngine } from './setup/engine.js';
import { Tensor } from '../src/node.js';
import { matmulRaw } from '../src/kernels/matmul.js';
import { dawnPollingCalmed } from '../src/gpu/dawn-poll.js';

const ctx = useEngine();

// CPU ticks (utime + stime) of this process's main thread, whose id is the process id (Linux).
const statPath = `/proc/self/task/${process.pid}/stat`;
function mainThreadTicks(): number {
  // The command name (field 2) may hold spaces and parentheses: fields count from its last ')'.
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

describe('waiting on Dawn', () => {
  it('on a software adapter the main thread sleeps while the GPU works', async () => {
    const engine = ctx.engine;
    if (!engine.software || !existsSync(statPath)) return;
    expect(dawnPollingCalmed()).toBe(true);
    const n = 768;
    const a = Tensor.fromData(new Float32Array(n * n).fill(0.5), [n, n]);
    const b = Tensor.fromData(new Float32Array(n * n).fill(0.25), [n, n]);
    await engine.sync();
    // Several products in one submit: a few hundred ms of lavapipe's work.
    const outs = Array.from({ length: 6 }, () => matmulRaw(a, b));
    const t0 = performance.now();
    const ticks0 = mainThreadTicks();
    await engine.sync();
    const ticks = mainThreadTicks() - ticks0;
    const wallMs = performance.now() - t0;
    // Ticks are 10 ms; spinning, the main thread took 70-100% of the wall time.
    expect(wallMs).toBeGreaterThan(100);
    expect((ticks * 10) / wallMs).toBeLessThan(0.25);
    expect((await outs[0]!.data())[0]).toBeCloseTo(0.5 * 0.25 * n, 3);
    for (const t of [a, b, ...outs]) t.dispose();
  });
});

describe('waiting on Dawn, many times', () => {
  // Each wait starts and ends a period with calls pending; a second loop of sleeps left running
  // from each made every wait after it slower (the 300th took over 20 ms). The product takes
  // about a millisecond, past the first 0.5 ms in which a wait does not sleep.
  it('the 300th short wait takes as long as the first', async () => {
    const a = Tensor.fromData(new Float32Array(160 * 160).fill(1), [160, 160]);
    const times: number[] = [];
    const start = performance.now();
    for (let i = 0; i < 300 && performance.now() - start < 20_000; i++) {
      const t0 = performance.now();
      const c = matmulRaw(a, a);
      await c.data();
      c.dispose();
      times.push(performance.now() - t0);
    }
    const median = (xs: number[]) => xs.slice().sort((x, y) => x - y)[xs.length >> 1]!;
    expect(times.length).toBe(300);
    const first = median(times.slice(0, 50));
    const last = median(times.slice(-50));
    expect(first).toBeGreaterThan(0.3);
    expect(last).toBeLessThan(2 * first + 1);
    a.dispose();
  });
});
