// Runs once before all tests: find an adapter (failing, not skipping, when there is none) and say which.
import { acquireNodeDevice } from '../../src/gpu/node.js';

export default async function setup(): Promise<void> {
  const { device, report } = await acquireNodeDevice();
  device.destroy();
  console.log(`\nWebGPU adapter: ${report}\n`);
}
