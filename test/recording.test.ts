// Engine.record / Engine.run and the recorded encoder: a recording replays exactly what the ops
// recorded, over buffers nothing else is handed, with uniforms of its own.
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { noGrad, ops, Tensor, tidy, type Engine } from '../src/node.js';
import { Dcign } from '../src/model/dcign.js';
import { RecordedEncoder } from '../src/model/recorded-encoder.js';
import { getPreset } from '../src/model/presets.js';
import * as ref from './ref/cpu.js';

const ctx = useEngine();

// Ragged sizes; mulScalar and the bias carry their constants in uniform blocks.
const M = 5;
const K = 37;
const N = 11;

/** relu(x W + b) * 3 - x W: an op chain with intermediates and uniforms. */
function chain(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const xw = ops.matmul(x, w);
  return ops.sub(ops.mulScalar(ops.relu(ops.add(xw, b)), 3), xw);
}

function inputs(engine: Engine) {
  const w = Tensor.fromData(ref.random([K, N], 21).data, [K, N], 'f32', engine);
  const b = Tensor.fromData(ref.random([N], 22).data, [N], 'f32', engine);
  return { w, b };
}

/** The chain run by the ops on data, for comparison. */
async function direct(engine: Engine, data: Float32Array, w: Tensor, b: Tensor): Promise<Float32Array> {
  const y = noGrad(() => tidy(() => chain(Tensor.fromData(data, [M, K], 'f32', engine), w, b)));
  const out = await y.data();
  y.dispose();
  return out;
}

describe('Engine.record and Engine.run', () => {
  it('runs nothing while recording, then each run computes what the ops compute from the input written before it', async () => {
    const { engine } = ctx;
    const { w, b } = inputs(engine);
    const x = Tensor.empty([M, K], 'f32', engine);
    await engine.sync();
    const before = { ...engine.stats };
    const { result: y, recording } = engine.record(() => noGrad(() => tidy(() => chain(x, w, b))));
    expect(engine.stats.dispatches, 'dispatches while recording').toBe(before.dispatches);
    expect(recording.dispatches).toBeGreaterThanOrEqual(3);
    for (const seed of [31, 32]) {
      const data = Float32Array.from(ref.random([M, K], seed).data);
      engine.upload(x.buffer, x.offset, data);
      const counted = engine.stats.dispatches;
      engine.run(recording);
      expect(engine.stats.dispatches - counted).toBe(recording.dispatches);
      // Both sides run the same kernels on the same values: equal to the bit.
      expect(Array.from(await y.data()), `input seed ${seed}`).toEqual(Array.from(await direct(engine, data, w, b)));
    }
    recording.dispose();
    for (const t of [x, y, w, b]) t.dispose();
  });

  it("keeps the buffers of the intermediates it released: tensors made after it are not overwritten by its runs", async () => {
    const { engine } = ctx;
    const { w, b } = inputs(engine);
    const x = Tensor.fromData(ref.random([M, K], 33).data, [M, K], 'f32', engine);
    const { result: y, recording } = engine.record(() => noGrad(() => tidy(() => chain(x, w, b))));
    // Tensors of the intermediates' sizes, as later work would allocate them, filled with sevens.
    const others = [[M, N], [M, N], [M, N], [M, N]].map((shape) => Tensor.fromData(new Float32Array(M * N).fill(7), shape, 'f32', engine));
    engine.run(recording);
    await y.data();
    for (const [i, t] of others.entries()) expect(Array.from(await t.data()), `tensor ${i} made after recording`).toEqual(new Array(M * N).fill(7));
    const inUse = engine.pool.stats.inUseBytes;
    recording.dispose();
    expect(engine.pool.stats.inUseBytes, 'bytes in use once disposed').toBeLessThan(inUse);
    for (const t of [x, y, w, b, ...others]) t.dispose();
  });

  it('keeps uniforms of its own: runs after other work rewrote the engine\'s uniform blocks still use its constants', async () => {
    const { engine } = ctx;
    const { w, b } = inputs(engine);
    const data = Float32Array.from(ref.random([M, K], 34).data);
    const x = Tensor.fromData(data, [M, K], 'f32', engine);
    const { result: y, recording } = engine.record(() => noGrad(() => tidy(() => chain(x, w, b))));
    // The same kernels with other constants, twice: each batch writes its uniform blocks from the
    // arena's start, so the second lands where the first batch after recording began.
    for (let i = 0; i < 2; i++) {
      const noise = noGrad(() => tidy(() => ops.mulScalar(ops.relu(ops.add(ops.matmul(x, w), b)), -5)));
      await noise.data();
      noise.dispose();
    }
    engine.run(recording);
    const got = await y.data();
    expect(Array.from(got)).toEqual(Array.from(await direct(engine, data, w, b)));
    recording.dispose();
    for (const t of [x, y, w, b]) t.dispose();
  });

  it('refuses what it cannot replay, naming the call', async () => {
    const { engine } = ctx;
    const x = Tensor.fromData([1, 2, 3], [3], 'f32', engine);
    expect(() => engine.record(() => Tensor.fromData([1], [1], 'f32', engine))).toThrow(/Engine\.upload: a recording cannot upload/);
    expect(() => engine.record(() => x.data())).toThrow(/Engine\.record: fn must be synchronous/);
    expect(() => engine.record(() => void engine.read(x.buffer, 0, 12).catch((e: Error) => expect(e.message).toMatch(/Engine\.read: a recording computes nothing to read/)))).not.toThrow();
    expect(() => engine.record(() => engine.record(() => null))).toThrow(/Engine\.record: already recording/);
    const { result, recording } = engine.record(() => noGrad(() => ops.mulScalar(x, 2)));
    recording.dispose();
    expect(() => engine.run(recording)).toThrow(/Engine\.run: the recording was disposed/);
    // A failed recording leaves the engine as it was: nothing held, recording again works.
    const inUse = engine.pool.stats.inUseBytes;
    const failing = () =>
      noGrad(() => {
        ops.mulScalar(x, 2).dispose();
        throw new Error('failed while recording');
      });
    expect(() => engine.record(failing)).toThrow('failed while recording');
    expect(engine.pool.stats.inUseBytes).toBe(inUse);
    const again = engine.record(() => noGrad(() => ops.mulScalar(x, 2)));
    engine.run(again.recording);
    expect(Array.from(await again.result.data())).toEqual([2, 4, 6]);
    again.recording.dispose();
    for (const t of [x, result, again.result]) t.dispose();
  });
});

describe('RecordedEncoder', () => {
  it("gives the encoder's mu and logvar for each batch it is given, and allocates nothing per run", async () => {
    const { engine } = ctx;
    const config = getPreset('tiny');
    const model = new Dcign(config, 5, engine);
    const S = config.imageSize;
    const recorded = new RecordedEncoder(model, 3);
    const inUse = engine.pool.stats.inUseBytes;
    for (const seed of [41, 42]) {
      const images = Float32Array.from(ref.random([3, 1, S, S], seed, 0, 1).data);
      const r = recorded.run(images);
      const [mu, logvar] = await Promise.all([r.mu.data(), r.logvar.data()]);
      const want = noGrad(() => tidy(() => model.encode(Tensor.fromData(images, [3, 1, S, S], 'f32', engine))));
      expect(Array.from(mu), `mu, images of seed ${seed}`).toEqual(Array.from(await want.mu.data()));
      expect(Array.from(logvar), `logvar, images of seed ${seed}`).toEqual(Array.from(await want.logvar.data()));
      want.mu.dispose();
      want.logvar.dispose();
    }
    expect(engine.pool.stats.inUseBytes, 'bytes in use after two runs').toBe(inUse);
    expect(() => recorded.run(new Float32Array(S * S))).toThrow(`RecordedEncoder.run: images has ${S * S} values; a batch of 3 at ${S}x${S} needs ${3 * S * S}`);
    recorded.mu.dispose();
    expect(() => recorded.run(new Float32Array(3 * S * S))).toThrow('RecordedEncoder.run: its images, mu or logvar tensor was disposed; dispose the RecordedEncoder instead');
    recorded.dispose();
    expect(() => recorded.run(new Float32Array(3 * S * S))).toThrow('RecordedEncoder.run: used after dispose()');
    model.dispose();
  });

  it('refuses to run once the model parameters it recorded have moved', () => {
    const { engine } = ctx;
    const model = new Dcign(getPreset('tiny'), 6, engine);
    const recorded = new RecordedEncoder(model, 1);
    const S = model.config.imageSize;
    const packed = Tensor.pack([...model.parameters().values()], engine);
    expect(() => recorded.run(new Float32Array(S * S))).toThrow(/encoder parameters were moved or disposed after recording; record it again/);
    recorded.dispose();
    model.dispose();
    packed.flat.dispose();
  });
});
