// Node entry: an engine on Dawn. Browser code imports src/browser.ts instead.
import { Engine } from './gpu/engine.js';
import { acquireNodeDevice, type NodeDeviceOptions } from './gpu/node.js';
import { setEngine } from './tensor.js';
import './ops.js';

export * from './index.js';

/** Creates an engine on the best Dawn adapter and makes it the default for new tensors. */
export async function initEngine(options: NodeDeviceOptions = {}): Promise<Engine> {
  const engine = new Engine(await acquireNodeDevice(options));
  setEngine(engine);
  return engine;
}
