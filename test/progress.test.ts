// The training bar's rate and ETA, on a simulated run as the GPU runs it: steps are queued at
// once until a log step reads the losses back, the first step compiles the pipelines, and sample
// grids and checkpoints take their own time.
import { afterEach, expect, it, vi } from 'vitest';
import { formatDuration, StepRate, trainProgress } from '../src/cli/progress.js';

const total = 3000;
const logEvery = 10;

/** When the GPU finishes each step: 0.6 steps/s, 40 s of pipeline compiling, a grid every 250 steps, a checkpoint every 500. */
function finishTimes(): number[] {
  const t = [0];
  for (let s = 1; s <= total; s++) {
    t.push(t[s - 1]! + 1 / 0.6 + (s === 1 ? 40 : 0) + (s % 250 === 0 ? 8 : 0) + (s % 500 === 0 ? 5 : 0));
  }
  return t;
}

afterEach(() => vi.restoreAllMocks());

/** Seconds from formatDuration's text. */
function seconds(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text)!;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

it('shows the time left within 20% at every log step after the first two minutes', () => {
  const finished = finishTimes();
  const lines: { step: number; at: number; text: string }[] = [];
  let now = 0;
  let step = 0;
  vi.spyOn(console, 'error').mockImplementation((text: string) => void lines.push({ step, at: now, text }));
  const bar = trainProgress(total, 0, false, 10, () => now);
  for (step = 1; step <= total; step++) {
    // A step is queued as soon as the previous one is; only a read-back waits for the GPU.
    if (step === 1 || step % logEvery === 0) {
      now = finished[step]!;
      bar.log(step, 100, 'az');
    }
    bar.step(step);
  }
  const checked = lines.filter((l) => l.at > 120 && l.step <= total - 300);
  expect(checked.length).toBeGreaterThan(200);
  for (const l of checked) {
    const truth = finished[total]! - l.at;
    const shown = seconds(/eta (\S+),/.exec(l.text)![1]!);
    expect(Math.abs(shown - truth) / truth, l.text).toBeLessThan(0.2);
  }
});

it('at step 799 of 3000 and 0.6 steps/s, about an hour is left', () => {
  const rate = new StepRate(total);
  for (let s = 0; s <= 799; s += 1) rate.completed(s, s / 0.6);
  expect(formatDuration(rate.eta(799 / 0.6))).toBe('1h01m');
});

it('prints a line without a terminal only when a log step brings news, at most every 10 s', () => {
  const lines: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line));
  let now = 0;
  const bar = trainProgress(1, 0, false, 10, () => now);
  now = 100; // a long first step: nothing is printed while it runs
  bar.step(0);
  expect(lines).toEqual([]);
  bar.log(1, 123.45, 'el');
  bar.step(1);
  expect(lines).toEqual(['step 1/1, - steps/s, eta -, loss/image 123.5 (el)']);
});
