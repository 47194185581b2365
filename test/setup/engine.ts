// One engine per test file, destroyed at teardown.
import { afterAll, beforeAll } from 'vitest';
import { initEngine, type Engine } from '../../src/node.js';
import type { NodeDeviceOptions } from '../../src/gpu/node.js';

export function useEngine(options: NodeDeviceOptions = {}): { readonly engine: Engine } {
  const holder = {} as { engine: Engine };
  beforeAll(async () => {
    holder.engine = await initEngine(options);
  });
  afterAll(() => {
    holder.engine?.destroy();
  });
  return holder;
}
