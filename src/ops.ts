// Every op in one namespace; importing it also gives autograd its accumulation ops.
import { setAutogradOps } from './autograd/tape.js';
import { mapBinary } from './kernels/elementwise.js';
import { full } from './kernels/fill.js';
import { keep, type Tensor } from './tensor.js';
import type { Engine } from './gpu/engine.js';

export * from './kernels/elementwise.js';
export * from './kernels/reduce.js';
export * from './kernels/matmul.js';
export * from './kernels/fill.js';
export * from './kernels/conv2d.js';
export * from './kernels/maxpool2d.js';
export * from './kernels/upsample.js';
export * from './kernels/reparameterise.js';
export * from './kernels/losses.js';
export * from './kernels/selective.js';
export * from './kernels/latents.js';

// A scalar loss's seed is the same 1 every step: made once per engine, handed out as views
// (which the tape may dispose), so a step's backward starts without a fill dispatch.
const scalarOnes = new WeakMap<Engine, Tensor>();

setAutogradOps(
  (a, b) => mapBinary(a, b, 'a + b', 'grad.accumulate'),
  (shape, like) => {
    // A dry run (precompile) fills nothing: what it made must not be kept.
    if (like.size !== 1 || like.engine.isDryRun) return full(shape, 1, like.engine);
    let one = scalarOnes.get(like.engine);
    if (!one || one.isDisposed) scalarOnes.set(like.engine, (one = keep(full([1], 1, like.engine))));
    return one.view(shape);
  },
);
