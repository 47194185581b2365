// jax-js (@jax-js/jax) on Dawn in Node, a peer we measure against beside tfjs. It looks for
// navigator.gpu when its WebGPU backend initialises, so it is imported after navigator is set
// (peer-gpu.ts); it requests its own device there. Its arrays are reference-counted: every call
// takes ownership of its array arguments (pass `.ref` to keep one), and its work is lazy until an
// array is read or waited for.
import { installNavigatorGpu } from './peer-gpu.js';
import { errText } from './timing.js';

export type Jax = typeof import('@jax-js/jax');
export type JaxArray = import('@jax-js/jax').Array;

let loaded: Jax | null = null;

export async function loadJax(): Promise<Jax> {
  if (loaded) return loaded;
  installNavigatorGpu();
  const jax = (await import('@jax-js/jax')) as Jax;
  const devices = await jax.init('webgpu');
  if (!devices.includes('webgpu')) throw new Error('jax-js: the webgpu backend did not initialise');
  jax.defaultDevice('webgpu');
  loaded = jax;
  return jax;
}

/** jax-js's device: its adapter, for the row's record. */
export function jaxAdapter(jax: Jax): string {
  const info = jax.getWebGPUDevice().adapterInfo;
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ');
}

/** A float32 array of the given shape on jax-js's default device. */
export const jaxArray = (jax: Jax, data: Float32Array, shape: readonly number[]): JaxArray => jax.numpy.array(data, { shape: [...shape] });

/**
 * Dispatches what the arrays are pending on and waits until the device has done it, without
 * reading anything back (the arrays are kept).
 */
export async function settleJax(jax: Jax, arrays: JaxArray[]): Promise<void> {
  await jax.blockUntilReady(arrays);
}

/**
 * jax-js when wanted and it loads, with a line naming its device's adapter; else why not (null
 * when not wanted), for the rows to say.
 */
export async function optionalJax(wanted: boolean): Promise<{ jax: Jax | null; why: string | null; device: string | null }> {
  if (!wanted) return { jax: null, why: null, device: null };
  try {
    const jax = await loadJax();
    return { jax, why: null, device: `jax-js device: ${jaxAdapter(jax)}` };
  } catch (e) {
    return { jax: null, why: `jax-js did not load: ${errText(e)}`, device: null };
  }
}
