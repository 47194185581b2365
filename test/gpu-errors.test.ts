// GPU validation errors surface at the next sync point as exceptions that name the op, never as
// silently wrong numbers. (Allocation failures and device loss: test/train-faults.test.ts.)
import { describe, expect, it } from 'vitest';
import rng from '../shaders/rng.wgsl';
import fill from '../shaders/fill.wgsl';
import { useEngine } from './setup/engine.js';
import { Uniforms } from '../src/gpu/engine.js';
import { BufferUsage } from '../src/gpu/flags.js';

const ctx = useEngine();

describe('GPU validation errors', () => {
  it('a dispatch with a buffer the kernel cannot bind throws at sync, naming the kernel', async () => {
    const engine = ctx.engine;
    const kernel = engine.kernel({ name: 'fill', wgsl: rng + fill, overrides: { MODE: 0 } });
    const wrong = engine.device.createBuffer({ size: 256, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'not-storage' });
    engine.dispatch(kernel, { uniforms: new Uniforms(32).u32(64, 0, 0, 0).f32(1, 0).build(), bindings: [wrong], workgroups: [1] });
    await expect(engine.sync()).rejects.toThrow(/GPU validation error: .*"fill"/s);
    wrong.destroy();
    await engine.sync(); // the error is reported once, and the engine goes on
  });
});
