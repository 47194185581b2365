// tfjs-backend-webgpu on Dawn in Node, a peer we measure against. tfjs looks for navigator.gpu
// when it loads, so it is imported dynamically after navigator is set (peer-gpu.ts).
import { installNavigatorGpu } from './peer-gpu.js';

export type TF = typeof import('@tensorflow/tfjs');

let loaded: TF | null = null;

export async function loadTfjs(): Promise<TF> {
  if (loaded) return loaded;
  installNavigatorGpu();
  const tf = (await import('@tensorflow/tfjs')) as TF;
  await import('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend did not initialise');
  await tf.ready();
  loaded = tf;
  return tf;
}

/** The parts of tfjs-backend-webgpu's backend that the benches reach into. */
export interface TfBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  bufferManager: { acquireBuffer: (...a: unknown[]) => GPUBuffer; numBytesUsed: number; numBytesAllocated: number };
}

export const tfBackend = (tf: TF) => tf.backend() as unknown as TfBackend;

/** Submits what tfjs has recorded: what its own readback does before its copy, without the copy. */
export function submitTfjs(backend: TfBackend): void {
  backend.endComputePassEncoder();
  if (backend.commandEncoder) backend.submitQueue();
}

/**
 * Runs fn inside validation and out-of-memory error scopes and fails with the first error: errors
 * Dawn reports asynchronously (a binding above the limit, an allocation failure) would otherwise
 * only be logged while the timing carried on with garbage.
 */
export async function withGpuErrors<T>(device: GPUDevice, fn: () => Promise<T>): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let thrown: unknown = null;
  let out: T | undefined;
  try {
    out = await fn();
  } catch (e) {
    thrown = e;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (validation || oom) throw new Error(`GPU ${validation ? 'validation' : 'out-of-memory'} error: ${(validation ?? oom)!.message.split('\n')[0]}`);
  if (thrown) throw thrown;
  return out as T;
}
