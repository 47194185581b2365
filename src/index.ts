// The engine's public API, the same in Node and browsers (no node:* imports below this file).
export { Engine, Uniforms, grid1d } from './gpu/engine.js';
export { acquireDevice, adapterReport, NoAdapterError, type DeviceOptions } from './gpu/device.js';
export { Tensor, tidy, keep, getEngine, setEngine, shapeSize } from './tensor.js';
export { backward, noGrad, parameter, zeroGrad, isGradEnabled } from './autograd/tape.js';
export * as ops from './ops.js';
