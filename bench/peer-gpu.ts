// The GPU the peers (tfjs-backend-webgpu, jax-js) find where a browser offers it, navigator.gpu:
// Node has no navigator, so one Dawn instance is put there before either is imported (both look
// for it when they load or initialise). Each peer requests its own device from it on the adapter
// ours uses; neither takes a device from outside.
import { create } from 'webgpu';
import { withoutKnownWarnings } from '../src/gpu/dawn-warnings.js';

export function installNavigatorGpu(): void {
  const nav = (globalThis as { navigator?: Partial<Navigator> }).navigator;
  if (nav?.gpu) return;
  const gpu = create([]);
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  // Dawn's two adapter-discovery warnings, as our engine drops them (src/gpu/node.ts).
  gpu.requestAdapter = (options) => withoutKnownWarnings(() => requestAdapter(options));
  // jax-js reads navigator.userAgent (a browser's is always there).
  const value = { userAgent: `Node.js/${process.versions.node}`, ...nav, gpu };
  Object.defineProperty(globalThis, 'navigator', { value, configurable: true, writable: true });
}
