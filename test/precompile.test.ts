// Engine.precompile: a dry run that compiles every pipeline it asks for in parallel
// (createComputePipelineAsync) and computes nothing, so that the real run compiles nothing.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEngine } from './setup/engine.js';
import { expectClose } from './setup/expect.js';
import { BlobBatches } from './setup/batches.js';
import { weights } from './setup/weights.js';
import { backward, noGrad, ops, parameter, Tensor, tidy } from '../src/node.js';
import { Trainer, type TrainOptions } from '../src/train/trainer.js';
import { getPreset } from '../src/model/presets.js';
import * as ref from './ref/cpu.js';

const ctx = useEngine();

describe('Engine.precompile', () => {
  it('compiles what a step asks for without running it; the step then compiles nothing and computes the same', async () => {
    const engine = ctx.engine;
    const w = parameter(Tensor.fromData(ref.random([6, 5], 1).data, [6, 5]));
    const x = Tensor.fromData(ref.random([3, 6], 2).data, [3, 6]);
    const step = () =>
      tidy(() => {
        const loss = ops.sum(ops.tanh(ops.matmul(x, w)));
        backward(loss);
        const next = noGrad(() => ops.sub(w, ops.mulScalar(w.grad!, 0.5)));
        w.grad!.dispose();
        w.grad = null;
        return next;
      });
    const before = { pipelines: engine.pipelines.size, dispatches: engine.stats.dispatches, w: await w.data() };
    let dry: Tensor | null = null;
    const compiled = await engine.precompile(() => {
      dry = step();
    });
    dry!.dispose();
    expect(compiled).toBeGreaterThan(3);
    expect(engine.pipelines.size - before.pipelines).toBe(compiled);
    expect(engine.stats.dispatches, 'a dry run dispatches nothing').toBe(before.dispatches);
    expect([...(await w.data())], 'nor changes anything').toEqual([...before.w]);
    // A second dry run finds them all compiled.
    expect(await engine.precompile(() => step().dispose())).toBe(0);

    const real = step();
    expect(engine.pipelines.size - before.pipelines).toBe(compiled);
    // w - 0.5 * x^T (1 - tanh(x w)^2), in float64.
    const h = ref.matmul(ref.arr(ref.random([3, 6], 2).data, [3, 6]), ref.arr(before.w, [6, 5]));
    const dh = ref.map(h, (v) => 1 - Math.tanh(v) ** 2);
    const dw = ref.matmul(ref.arr(ref.random([3, 6], 2).data, [3, 6]), dh, true, false);
    const want = ref.zip(ref.arr(before.w, [6, 5]), dw, (a, b) => a - 0.5 * b);
    expectClose(await real.data(), want.data, 1e-6, 1e-5, 'the step after precompile');
    for (const t of [real, w, x]) t.dispose();
  });

  it('reports a kernel that fails to compile by name and WGSL line, once', async () => {
    const engine = ctx.engine;
    const wgsl = '@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = 1u;\n}\n';
    await expect(engine.precompile(() => void engine.kernel({ name: 'broken-async', wgsl }))).rejects.toThrow(/kernel broken-async failed to compile \(broken-async\|.*\):\nline 3:/);
    await engine.sync(); // reported by precompile, not again at the next sync point
  });

  it('refuses to read in a dry run', async () => {
    const engine = ctx.engine;
    const t = Tensor.fromData([1, 2], [2]);
    let read: Promise<unknown> | null = null;
    await engine.precompile(() => {
      read = t.data();
    });
    await expect(read).rejects.toThrow(/Engine.read: a dry run \(precompile\) computes nothing to read/);
    t.dispose();
  });
});

describe('Trainer.precompile', () => {
  it('leaves nothing to compile for a run through pretraining, clamped and random batches, a sample grid and a checkpoint', async () => {
    const engine = ctx.engine;
    const o: TrainOptions = {
      preset: 'tiny', steps: 6, batch: 4, lr: 5e-4, seed: 3, out: mkdtempSync(join(tmpdir(), 'dcign-')), procedure: 'clamped', shapeBias: 0,
      invariance: 10, clamp: 'mean', pretrainSteps: 2, randomShare: 0.5, randomEncoder: 'scene', logEvery: 2, sampleEvery: 3, checkpointEvery: 4,
    };
    const size = getPreset('tiny').imageSize;
    const trainer = Trainer.create(engine, o, new BlobBatches(size, o.batch));
    const dispatches = engine.stats.dispatches;
    const initial = await weights(trainer.model);
    expect(await trainer.precompile()).toBeGreaterThan(20);
    // The dry run's step went to a stand-in optimizer: nothing trained, no step counted.
    expect(engine.stats.dispatches).toBe(dispatches);
    expect(trainer.optimizer.t).toBe(0);
    expect(await weights(trainer.model)).toEqual(initial);
    const compiled = engine.pipelines.size;
    await trainer.run();
    expect(engine.pipelines.size, 'pipelines compiled during the run').toBe(compiled);
    expect(trainer.optimizer.t).toBe(6);
    trainer.dispose();
  });
});

describe("the page's session", () => {
  /** A session with a freshly drawn tiny checkpoint loaded. */
  async function session(seed: number) {
    const { Session } = await import('../src/web/session.js');
    const { Dcign } = await import('../src/model/dcign.js');
    const { encodeModel } = await import('../src/model/checkpoint.js');
    const source = new Dcign(getPreset('tiny'), seed, ctx.engine);
    const bytes = await encodeModel(source);
    source.dispose();
    const s = new Session(ctx.engine);
    await s.load(bytes, 'tiny.safetensors');
    return s;
  }

  it('compiles the encoder and decoder after loading a checkpoint: the first encode and decode then compile nothing', async () => {
    const { engine } = ctx;
    const config = getPreset('tiny');
    const s = await session(3);
    await s.settled();
    const compiled = engine.pipelines.size;
    const S = config.imageSize;
    const { mu } = await s.encode(new Float32Array(S * S).fill(0.5));
    await s.decode(mu);
    expect(engine.pipelines.size, 'pipelines compiled by the first encode and decode').toBe(compiled);
    expect(mu.length).toBe(config.latents);
  });

  it('holds no more GPU memory after many encodes and decodes than after the first', async () => {
    const { engine } = ctx;
    const s = await session(4);
    const S = getPreset('tiny').imageSize;
    const round = async (k: number) => s.decode((await s.encode(new Float32Array(S * S).fill(k / 10))).mu);
    await round(0);
    const inUse = engine.pool.stats.inUseBytes;
    for (let k = 1; k < 5; k++) await round(k);
    expect(engine.pool.stats.inUseBytes, 'bytes in use after four more encodes and decodes').toBe(inUse);
  });
});
