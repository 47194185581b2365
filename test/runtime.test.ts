import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { backward, noGrad, ops, parameter, Tensor, tidy, NoAdapterError, type Engine } from '../src/node.js';
import { acquireNodeDevice } from '../src/gpu/node.js';
import { bucketSize } from '../src/gpu/pool.js';
import { preprocess } from '../src/gpu/pipelines.js';
import * as ref from './ref/cpu.js';
import { expectClose } from './setup/expect.js';

const ctx = useEngine();

// A two-layer perceptron step: forward, backward and an SGD update that replaces the weights.
function makeStep(engine: Engine) {
  const p = [
    parameter(Tensor.fromData(ref.random([16, 32], 1).data, [16, 32], 'f32', engine)),
    parameter(Tensor.fromData(ref.random([32], 2).data, [32], 'f32', engine)),
    parameter(Tensor.fromData(ref.random([32, 4], 3).data, [32, 4], 'f32', engine)),
  ];
  const x = Tensor.fromData(ref.random([8, 16], 4).data, [8, 16], 'f32', engine);
  const y = Tensor.fromData(ref.random([8, 4], 5, 0, 1).data, [8, 4], 'f32', engine);
  return () =>
    tidy(() => {
      const h = ops.relu(ops.add(ops.matmul(x, p[0]!), p[1]!));
      const out = ops.sigmoid(ops.matmul(h, p[2]!));
      const loss = ops.mean(ops.square(ops.sub(out, y)));
      backward(loss);
      p.forEach((w, i) => {
        const next = parameter(noGrad(() => ops.sub(w, ops.mulScalar(w.grad!, 0.1))));
        w.grad!.dispose();
        w.dispose();
        p[i] = next;
      });
      return loss;
    });
}

describe('runtime', () => {
  it('reaches a steady state: pool bytes stop growing after the first step, one submit per step', async () => {
    const engine = ctx.engine;
    const step = makeStep(engine);
    step().dispose();
    await engine.sync();
    const allocated = engine.pool.stats.allocatedBytes;
    const buffers = engine.pool.stats.buffers;
    const submits = engine.stats.submits;
    const pipelines = engine.pipelines.size;
    let last = 0;
    for (let i = 0; i < 99; i++) {
      const loss = step();
      if (i === 98) last = (await loss.data())[0]!;
      loss.dispose();
    }
    expect(engine.pool.stats.allocatedBytes).toBe(allocated);
    expect(engine.pool.stats.buffers).toBe(buffers);
    expect(engine.pipelines.size).toBe(pipelines);
    // 99 steps recorded back to back; only the final read flushes (one submit for all of it).
    expect(engine.stats.submits - submits).toBeLessThanOrEqual(2);
    expect(Number.isFinite(last)).toBe(true);
  });

  it('submits at most once per step when each step is flushed', async () => {
    const engine = ctx.engine;
    const step = makeStep(engine);
    step().dispose();
    engine.flush();
    const before = { ...engine.stats };
    for (let i = 0; i < 10; i++) {
      step().dispose();
      engine.flush();
    }
    expect(engine.stats.submits - before.submits).toBe(10);
    // Flushing submits the recorded work; it reads nothing back.
    expect(engine.stats.readbacks - before.readbacks).toBe(0);
    await engine.sync();
  });

  it('creates a dispatch\'s bind group once while its bound ranges repeat, and one per range', async () => {
    const engine = ctx.engine;
    const a = Tensor.fromData(ref.random([300], 11).data, [300], 'f32', engine);
    const b = Tensor.fromData(ref.random([300], 12).data, [300], 'f32', engine);
    const created = () => {
      let n = 0;
      const create = engine.device.createBindGroup;
      engine.device.createBindGroup = (d) => (n++, create.call(engine.device, d));
      return { count: () => n, restore: () => void (engine.device.createBindGroup = create) };
    };
    // The same add on the same inputs, read back (which flushes: its uniforms start over), its
    // output taking the buffer the last one gave back.
    const addRead = async () => {
      const c = ops.add(a, b);
      const d = await c.data();
      c.dispose();
      return d;
    };
    await addRead();
    await addRead();
    const first = created();
    const sums: Float32Array[] = [];
    try {
      for (let i = 0; i < 5; i++) sums.push(await addRead());
    } finally {
      first.restore();
    }
    expect(first.count()).toBe(0);
    const want = Array.from(ref.random([300], 11).data, (v, i) => v + ref.random([300], 12).data[i]!);
    for (const got of sums) expectClose(got, want, 1e-6, 0, 'a + b');

    // One kernel on two ranges of one buffer: each dispatch must bind its own range.
    const src = Tensor.fromData(Float32Array.from({ length: 128 }, (_, i) => i), [128], 'f32', engine);
    const kernel = engine.kernel({
      name: 'copy-probe',
      wgsl: `@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < 64u) { Y[g.x] = X[g.x]; } }`,
    });
    const out = Tensor.empty([64], 'f32', engine);
    const halves: number[][] = [];
    const second = created();
    try {
      for (const h of [0, 1]) {
        const bindings = [{ buffer: src.buffer, offset: src.offset * 4 + h * 256, size: 256 }, { buffer: out.buffer, offset: out.offset * 4, size: 256 }];
        engine.dispatch(kernel, { bindings, workgroups: [1] });
        halves.push(Array.from(await out.data()));
      }
    } finally {
      second.restore();
    }
    expect(second.count()).toBe(2);
    expect(halves).toEqual([0, 64].map((from) => Array.from({ length: 64 }, (_, i) => from + i)));
    for (const t of [a, b, src, out]) t.dispose();
  });

  it('finds a kernel again whatever order its defines come in', () => {
    const { engine } = ctx;
    const wgsl = `@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(1) fn main() { Y[0] = f32({{A}}) + f32({{B}}); }`;
    const before = engine.pipelines.size;
    const first = engine.kernel({ name: 'order-probe', wgsl, defines: { A: 1, B: 2 } });
    expect(engine.kernel({ name: 'order-probe', wgsl, defines: { A: 1, B: 2 } })).toBe(first);
    expect(engine.kernel({ name: 'order-probe', wgsl, defines: { B: 2, A: 1 } })).toBe(first);
    expect(engine.kernel({ name: 'order-probe', wgsl, defines: { A: 1, B: 3 } })).not.toBe(first);
    expect(engine.pipelines.size - before).toBe(2);
  });

  it('turns a WGSL compilation error into an exception naming the kernel', async () => {
    const engine = ctx.engine;
    const k = engine.kernel({ name: 'broken', wgsl: '@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }' });
    expect(k.name).toBe('broken');
    await expect(engine.sync()).rejects.toThrow(/kernel broken failed to compile/);
  });

  it('buckets buffer sizes in quarter octaves', () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(1024)).toBe(1024);
    expect(bucketSize(1025)).toBe(1280);
    expect(bucketSize(3000)).toBe(3072);
  });

  it('preprocesses #if / #else and {{NAME}}', () => {
    const src = '#if A\na {{X}}\n#else\nnot a\n#endif\n#if !A\nnot a 2\n#endif';
    expect(preprocess(src, { A: true, X: 7 }).split('\n').filter(Boolean)).toEqual(['a 7']);
    expect(preprocess(src, { A: false, X: 7 }).split('\n').filter(Boolean)).toEqual(['not a', 'not a 2']);
    expect(() => preprocess('{{Y}}', {})).toThrow(/has no define/);
  });

  it('reads back what was uploaded, f32 and u32', async () => {
    const f = Tensor.fromData([1.5, -2.25, 3], [3]);
    expect([...(await f.read())]).toEqual([1.5, -2.25, 3]);
    const u = Tensor.fromData([7, 4000000000], [2], 'u32');
    expect([...(await u.read())]).toEqual([7, 4000000000]);
  });

  it('random fills are reproducible per seed and shaped like their distribution', async () => {
    const a = await ops.randNormal([100000], 42).data();
    const b = await ops.randNormal([100000], 42).data();
    const c = await ops.randNormal([100000], 43).data();
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    const u = await ops.randUniform([10000], 2, 3, 1).data();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...u)).toBeLessThan(3);
  });

  it('fails with install instructions when no adapter can be had', async () => {
    const err = await acquireNodeDevice({ dawn: ['backend=metal'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAdapterError);
    expect((err as Error).message).toMatch(/mesa-vulkan-drivers/);
    expect((err as Error).message).toMatch(/install-system\.sh/);
  });
});
