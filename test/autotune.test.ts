// The convolution variant: forced per call, per engine (option or DCIGN_CONV) or picked by the
// autotune, whose picks round-trip through a JSON file (a temporary one here, via DCIGN_AUTOTUNE).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { initEngine, setEngine, Tensor, type Engine } from '../src/node.js';
import { conv2dGradInput, conv2dGradWeight, conv2dRaw } from '../src/kernels/conv2d.js';
import { Autotune, CONV_VARIANTS, parseConvChoice, type TuneEntry, type TuneTrial } from '../src/gpu/autotune.js';
import { autotunePath, fileTuneStore } from '../src/gpu/autotune-file.js';

const dir = mkdtempSync(join(tmpdir(), 'dcign-autotune-'));
const env = { conv: process.env.DCIGN_CONV, file: process.env.DCIGN_AUTOTUNE };
const engines: Engine[] = [];
afterEach(() => {
  for (const [k, v] of [['DCIGN_CONV', env.conv], ['DCIGN_AUTOTUNE', env.file]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});
afterAll(() => {
  engines.forEach((e) => e.destroy());
  rmSync(dir, { recursive: true, force: true });
});

async function engineWith(options: Parameters<typeof initEngine>[0] = {}): Promise<Engine> {
  const e = await initEngine(options);
  engines.push(e);
  return e;
}

/** The convolution kernel families f asks the engine for: 'tiled' or 'register'. */
function variantsOf(engine: Engine, f: () => Tensor): string[] {
  const spy = vi.spyOn(engine, 'kernel');
  try {
    f().dispose();
    const names = spy.mock.calls.map(([s]) => (s.name === 'conv2d-tiled' ? 'tiled' : s.defines?.GEMM ? 'register' : null));
    return [...new Set(names.filter((n) => n !== null))];
  } finally {
    spy.mockRestore();
  }
}

const operands = (engine: Engine) => ({
  x: Tensor.fromData(new Float32Array(2 * 3 * 9 * 9).fill(0.5), [2, 3, 9, 9], 'f32', engine),
  w: Tensor.fromData(new Float32Array(5 * 3 * 3 * 3).fill(0.25), [5, 3, 3, 3], 'f32', engine),
  dy: Tensor.fromData(new Float32Array(2 * 5 * 9 * 9).fill(1), [2, 5, 9, 9], 'f32', engine),
});

describe('forcing a convolution variant', () => {
  it('honours the engine option, and a call\'s variant over it', async () => {
    const engine = await engineWith({ convVariant: 'tiled' });
    const { x, w, dy } = operands(engine);
    const o = { padding: 1 };
    expect(variantsOf(engine, () => conv2dRaw(x, w, null, o))).toEqual(['tiled']);
    expect(variantsOf(engine, () => conv2dGradInput(dy, w, x.shape, o))).toEqual(['tiled']);
    expect(variantsOf(engine, () => conv2dGradWeight(x, dy, w.shape, o))).toEqual(['tiled']);
    expect(variantsOf(engine, () => conv2dRaw(x, w, null, { ...o, variant: 'register' }))).toEqual(['register']);
    engine.convVariant = 'register';
    expect(variantsOf(engine, () => conv2dGradWeight(x, dy, w.shape, o))).toEqual(['register']);
    expect(engine.autotune.queued).toBe(0);
    for (const t of [x, w, dy]) t.dispose();
  });

  it('reads DCIGN_CONV, and defaults to register on a software adapter', async () => {
    process.env.DCIGN_CONV = 'tiled';
    expect((await engineWith()).convVariant).toBe('tiled');
    delete process.env.DCIGN_CONV;
    const plain = await engineWith();
    expect(plain.convVariant).toBe(plain.software ? 'register' : 'auto');
    setEngine(plain);
  });

  it('names the flag, variable or op of an unknown variant', async () => {
    expect(() => parseConvChoice('--conv-variant', 'fast')).toThrow('--conv-variant must be register, tiled or auto, got "fast"');
    process.env.DCIGN_CONV = 'fast';
    await expect(initEngine()).rejects.toThrow('DCIGN_CONV must be register, tiled or auto, got "fast"');
    delete process.env.DCIGN_CONV;
    const engine = engines[engines.length - 1]!;
    const { x, w, dy } = operands(engine);
    expect(() => conv2dRaw(x, w, null, { variant: 'fast' as never })).toThrow('conv2d: the variant option must be register or tiled, got "fast"');
    engine.convVariant = 'fastest' as never;
    expect(() => conv2dGradWeight(x, dy, w.shape, { padding: 1 })).toThrow('conv2d.gradWeight: Engine.convVariant must be register, tiled or auto, got "fastest"');
    for (const t of [x, w, dy]) t.dispose();
  });
});

describe('the autotune', () => {
  it('runs an untuned shape with register, times both after settle(), then keeps the pick, also in a later engine', async () => {
    const file = join(dir, 'engine', 'autotune.json');
    process.env.DCIGN_AUTOTUNE = file;
    const engine = await engineWith({ convVariant: 'auto' });
    const { x, w } = operands(engine);
    expect(variantsOf(engine, () => conv2dRaw(x, w, null, { padding: 1 }))).toEqual(['register']);
    expect(engine.autotune.queued).toBe(1);
    const [key] = [...engine.autotune.used.keys()];
    expect(key).toBe('conv2d [2,3,9,9] [5,3,3,3] stride 1 pad 1,1');
    expect(engine.autotune.used.get(key!)).toBe('register (not yet tuned)');
    const lines: string[] = [];
    await engine.autotune.settle((l) => lines.push(l));
    expect(engine.autotune.queued).toBe(0);
    const entry = engine.autotune.entry(key!)!;
    expect(CONV_VARIANTS).toContain(entry.pick);
    for (const v of CONV_VARIANTS) expect(entry.ms[v]).toBeGreaterThan(0);
    expect(lines).toEqual([expect.stringContaining(`autotune ${key}: ${entry.pick}`)]);
    expect(variantsOf(engine, () => conv2dRaw(x, w, null, { padding: 1 }))).toEqual([entry.pick]);

    // On disk under the adapter's report; a new engine takes the pick without timing again.
    const saved = JSON.parse(readFileSync(file, 'utf8')).entries as Record<string, TuneEntry>;
    expect(Object.keys(saved)).toEqual([expect.stringContaining(`${engine.report} | ${key}`)]);
    const again = await engineWith({ convVariant: 'auto' });
    const o2 = operands(again);
    expect(variantsOf(again, () => conv2dRaw(o2.x, o2.w, null, { padding: 1 }))).toEqual([entry.pick]);
    expect(again.autotune.queued).toBe(0);
    for (const t of [x, w, o2.x, o2.w, o2.dy]) t.dispose();
  });

  it('keeps the faster candidate and drops one that fails', async () => {
    const gpu = { device: { features: new Set<string>() } as unknown as GPUDevice, flush: () => {}, sync: async () => {} };
    const tune = new Autotune('test adapter', gpu);
    const trial = (): TuneTrial => ({
      run: (c) => {
        if (c === 'broken') throw new Error('does not compile');
        const until = performance.now() + (c === 'slow' ? 15 : 0);
        while (performance.now() < until);
        return { dispose: () => {} };
      },
      dispose: () => {},
    });
    expect(tune.pick('k', ['slow', 'fast', 'broken'], 'slow', trial)).toBe('slow');
    expect(tune.pick('k', ['slow', 'fast', 'broken'], 'slow', trial)).toBe('slow'); // queued once
    expect(tune.queued).toBe(1);
    await tune.settle();
    expect(tune.entry('k')).toMatchObject({ pick: 'fast', clock: 'wall', ms: { broken: null } });
    expect(tune.entry('k')!.ms.slow).toBeGreaterThan(tune.entry('k')!.ms.fast!);
    expect(tune.pick('k', ['slow', 'fast', 'broken'], 'slow', trial)).toBe('fast');
  });

  it('stores picks in a JSON file written whole, and reads a damaged one as empty', () => {
    const file = join(dir, 'store', 'autotune.json');
    const store = fileTuneStore(file);
    expect(store.load()).toEqual({});
    const entries: Record<string, TuneEntry> = { a: { pick: 'tiled', ms: { register: 2, tiled: 1 }, clock: 'wall', date: '2025-01-01T00:00:00.000Z' } };
    store.save(entries);
    expect(fileTuneStore(file).load()).toEqual(entries);
    expect(readdirSync(join(dir, 'store'))).toEqual(['autotune.json']); // no temporary file left
    writeFileSync(file, '{"entries": {"a": ');
    expect(store.load()).toEqual({});
    expect(existsSync(file)).toBe(true);
  });

  it('finds its file from DCIGN_AUTOTUNE, else the user cache folder', () => {
    expect(autotunePath({ DCIGN_AUTOTUNE: '/x/t.json' })).toBe('/x/t.json');
    expect(autotunePath({ XDG_CACHE_HOME: '/c' })).toBe('/c/dcign-webgpu/autotune.json');
    expect(autotunePath({})).toMatch(/\.cache\/dcign-webgpu\/autotune\.json$/);
  });
});
