// Browser entry: an engine on navigator.gpu.
import { Engine } from './gpu/engine.js';
import { acquireDevice, NoAdapterError, type DeviceOptions } from './gpu/device.js';
import { setEngine } from './tensor.js';
import './ops.js';

export * from './index.js';

export async function initEngine(options: DeviceOptions = {}): Promise<Engine> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new NoAdapterError('this browser has no WebGPU (navigator.gpu is undefined)');
  const engine = new Engine(await acquireDevice(gpu, options));
  setEngine(engine);
  return engine;
}
