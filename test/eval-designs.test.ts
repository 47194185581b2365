// The evaluation's designs and its ABC-MCMC logic: pure CPU code with known answers.
import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { Rng } from '../src/data/rng.js';
import { SHAPE_DIM, TEXTURE_DIM } from '../src/data/face-model.js';
import { ABC_DEFAULTS, AbcChain, acceptProbability, median, priorSample, propose, reflect } from '../src/eval/abc.js';
import { observationDesign, pairDesign, randomSamples, sweepDesigns, sweepValues } from '../src/eval/designs.js';
import { plot, ticks } from '../src/eval/svg.js';
import { markdownTable } from '../src/eval/report.js';

describe('designs', () => {
  it('sweeps the paper\'s grid: azimuth and light -1.5..1.5 in 0.05 steps (61 values), elevation -0.6..0.6 (25), 0 exactly among them', () => {
    const az = sweepValues('azimuth');
    expect(az).toHaveLength(61);
    expect(az[0]).toBe(-1.5);
    expect(az[60]).toBe(1.5);
    expect(az[30]).toBe(0);
    expect(sweepValues('elevation')).toHaveLength(25);
    expect(sweepValues('light')).toHaveLength(61);
  });

  it('holds identity and the other factors fixed within a face\'s sweep, and is a pure function of the seed', () => {
    const d = sweepDesigns(3, 4);
    expect(d.map((x) => x.factor)).toEqual(['azimuth', 'elevation', 'light']);
    for (const sweep of d) {
      expect(sweep.params).toHaveLength(4);
      expect(sweep.values[sweep.zeroIndex]).toBe(0);
      for (const face of sweep.params) {
        for (const p of face) {
          expect(p.shape).toEqual(face[0]!.shape);
          for (const other of ['azimuth', 'elevation', 'light'] as const) if (other !== sweep.factor) expect(p[other]).toBe(face[0]![other]);
        }
        expect(face.map((p) => p[sweep.factor])).toEqual(sweep.values);
      }
    }
    // The same face across the three sweeps.
    expect(d[0]!.params[2]![0]!.texture).toEqual(d[2]!.params[2]![0]!.texture);
    expect(sweepDesigns(3, 4)).toEqual(d);
    expect(sweepDesigns(4, 4)[0]!.params[0]![0]!.shape).not.toEqual(d[0]!.params[0]![0]!.shape);
  });

  it('alternates same and different pairs; same pairs share the identity, not the scene', () => {
    const pairs = pairDesign(0, 6);
    expect(pairs.map((p) => p.same)).toEqual([true, false, true, false, true, false]);
    for (const p of pairs) {
      expect(p.a.shape.length).toBe(SHAPE_DIM);
      expect(p.a.shape.every((v, i) => v === p.b.shape[i])).toBe(p.same);
      expect(p.a.azimuth).not.toBe(p.b.azimuth);
    }
  });

  it('draws metric samples from held-out random batches and one observation per chain', () => {
    const s = randomSamples(0, 45);
    expect(s).toHaveLength(45);
    expect(new Set(s.map((p) => p.azimuth)).size).toBe(45);
    expect(observationDesign(0, 3)).toHaveLength(3);
  });
});

describe('ABC-MCMC logic', () => {
  it('reflects a random walk into the range', () => {
    expect(reflect(0.2, -1, 1)).toBeCloseTo(0.2, 12);
    expect(reflect(1.3, -1, 1)).toBeCloseTo(0.7, 12);
    expect(reflect(-1.5, -1, 1)).toBeCloseTo(-0.5, 12);
    expect(reflect(5.2, -1, 1)).toBeCloseTo(0.8, 12); // 6.2 past the low end, mod 4 is 2.2, mirrored to 1.8
  });

  it('the elliptical proposal keeps the N(0, I) prior: mean about 0 and variance about 1 after many steps', () => {
    const rng = Rng.fromSeed(5, 1);
    let s = priorSample(rng);
    const seen: number[] = [];
    for (let i = 0; i < 6000; i++) {
      s = propose(s, rng).params;
      seen.push(s.shape[0]!, s.texture[0]!);
    }
    const m = seen.reduce((a, b) => a + b, 0) / seen.length;
    const v = seen.reduce((a, b) => a + (b - m) ** 2, 0) / seen.length;
    // Correlated draws (an update moves a block a third of the time): loose bounds.
    expect(Math.abs(m)).toBeLessThan(0.15);
    expect(v).toBeGreaterThan(0.8);
    expect(v).toBeLessThan(1.2);
    expect(s.shape).toHaveLength(SHAPE_DIM);
    expect(s.texture).toHaveLength(TEXTURE_DIM);
  });

  it('changes exactly one block per proposal and keeps angles in range', () => {
    const rng = Rng.fromSeed(6, 1);
    const s = priorSample(rng);
    for (let i = 0; i < 200; i++) {
      const { params: p, block } = propose(s, rng);
      expect(p.shape !== s.shape && p.shape.some((v, j) => v !== s.shape[j])).toBe(block === 'shape');
      expect(p.texture.some((v, j) => v !== s.texture[j])).toBe(block === 'texture');
      expect(p.azimuth !== s.azimuth).toBe(block === 'angles');
      expect(Math.abs(p.azimuth)).toBeLessThanOrEqual(1.5);
      expect(Math.abs(p.elevation)).toBeLessThanOrEqual(0.6);
    }
  });

  it('accepts by the epsilon-kernel exp(-(d\' - d) / eps)', () => {
    expect(acceptProbability(1, 2, 0.5)).toBe(1);
    expect(acceptProbability(3, 2, 0.5)).toBeCloseTo(Math.exp(-2), 12);
    expect(acceptProbability(NaN, 2, 0.5)).toBe(0);
  });

  it('chains that share a random stream make the same proposals from the same state', () => {
    const a = new AbcChain(Rng.fromSeed(7, 2), ABC_DEFAULTS);
    const b = new AbcChain(Rng.fromSeed(7, 2), ABC_DEFAULTS);
    expect(a.state).toEqual(b.state);
    a.start(1, 0.1);
    b.start(5, 0.1);
    a.epsilon = b.epsilon = 0.1;
    expect(a.propose()).toEqual(b.propose());
    expect(a.decide(0.5, 0.05)).toBe(true);
    expect(b.decide(50, 0.05)).toBe(false);
    expect(a.trace).toEqual([0.1, 0.05]);
    expect(b.trace).toEqual([0.1, 0.1]);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});

describe('report helpers', () => {
  it('ticks at round steps and escapes table cells', () => {
    expect(ticks(0, 1).map((v) => Number(v.toFixed(9)))).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(-1.5, 1.5, 6)).toEqual([-1.5, -1, -0.5, 0, 0.5, 1, 1.5]);
    expect(markdownTable(['a', 'b'], [['x|y', '1']])).toBe('| a | b |\n| --- | --- |\n| x\\|y | 1 |');
  });
});

describe('plots', () => {
  it('labels log-axis ticks inside one decade apart (the ABC plot\'s MSE axis)', () => {
    const svg = plot([{ label: 'mse', color: '#000', points: [[0, 0.0255], [1, 0.0268]] }], { logY: true });
    const labels = [...svg.matchAll(/text-anchor="end">([^<]+)</g)].map((m) => m[1]);
    expect(labels.length).toBeGreaterThan(2);
    expect(new Set(labels).size).toBe(labels.length);
  });
});

describe('module boundaries', () => {
  it('the metric, ABC and report modules bundle for a browser with no node:* import and no GPU code', async () => {
    // No loader for .wgsl and platform browser: reaching a shader or a Node builtin fails the build.
    const root = resolve(import.meta.dirname, '..');
    const files = ['metrics', 'gbt', 'abc', 'factors', 'svg', 'report'].map((f) => resolve(root, `src/eval/${f}.ts`));
    const out = await build({ entryPoints: files, bundle: true, write: false, platform: 'browser', format: 'esm', outdir: '/tmp/eval-bundle-check', logLevel: 'silent' });
    const text = out.outputFiles.map((f) => f.text).join('\n');
    expect(text).not.toMatch(/createComputePipeline|dispatchWorkgroups|@compute/);
  });
});
