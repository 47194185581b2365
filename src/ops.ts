// Every op in one namespace; importing it also gives autograd its accumulation ops.
import { setAutogradOps } from './autograd/tape.js';
import { mapBinary } from './kernels/elementwise.js';
import { full } from './kernels/fill.js';

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

setAutogradOps(
  (a, b) => mapBinary(a, b, 'a + b', 'grad.accumulate'),
  (shape, like) => full(shape, 1, like.engine),
);
