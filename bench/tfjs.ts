// tfjs-backend-webgpu on Dawn in Node, the peer we measure against. tfjs looks for navigator.gpu
// when it loads, so it is imported dynamically after navigator is set.
import { create } from 'webgpu';

export type TF = typeof import('@tensorflow/tfjs');

let loaded: TF | null = null;

export async function loadTfjs(): Promise<TF> {
  if (loaded) return loaded;
  if (!('navigator' in globalThis) || !(globalThis.navigator as Navigator | undefined)?.gpu) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
  }
  const tf = (await import('@tensorflow/tfjs')) as TF;
  await import('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend did not initialise');
  await tf.ready();
  loaded = tf;
  return tf;
}
