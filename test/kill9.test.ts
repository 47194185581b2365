// SIGKILL at random moments, resume after each: the final model and optimizer state equal the
// uninterrupted run's byte for byte, its log holds every step once with the same losses, and no
// temporary file is left (scripts/kill9.ts; docs/robustness.md has a 100-kill run).
import { describe, expect, it } from 'vitest';
import { killAndResume } from '../scripts/kill9.js';

describe('kill -9', () => {
  it('10 kills and resumes end in the same bytes as a run left alone', async () => {
    const r = await killAndResume({ kills: 10, seed: 7 });
    console.log(`kill -9: ${r.kills} kills, steps on disk at each: ${r.stepsAtKills.join(' ')}; ${r.seconds.toFixed(0)} s`);
    expect(r.kills).toBe(10);
    expect(r.differences).toEqual([]);
    expect(r.identical).toBe(true);
  }, 600_000); // about 30 s on an idle 2-core machine; several times that beside training runs
});
