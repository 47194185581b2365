// Node entry to the GPU: Dawn through the `webgpu` package. Only Node entry points import this file.
import { create, globals } from 'webgpu';
import { acquireDevice, NoAdapterError, type AcquiredDevice, type DeviceOptions } from './device.js';

export interface NodeDeviceOptions extends DeviceOptions {
  /** Dawn options such as 'backend=vulkan' or 'enable-dawn-features=...'; DCIGN_DAWN adds comma-separated ones. */
  dawn?: string[];
}

let globalsInstalled = false;

const reason = (e: unknown) => (e instanceof NoAdapterError ? e.detail : (e as Error).message.split('\n')[0]);

/** Vulkan first (lavapipe on machines without a GPU), then Mesa's GLES through EGL at compatibility level. */
export async function acquireNodeDevice(options: NodeDeviceOptions = {}): Promise<AcquiredDevice> {
  if (!globalsInstalled) {
    // Dawn's objects expect the WebGPU globals (GPUBufferUsage, ...) when code in other packages uses them.
    for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    globalsInstalled = true;
  }
  const fromEnv = (process.env.DCIGN_DAWN ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const dawn = [...(options.dawn ?? []), ...fromEnv];
  const explicitBackend = dawn.some((s) => s.startsWith('backend='));
  const failures: string[] = [];
  try {
    return await acquireDevice(create(dawn), options);
  } catch (e) {
    failures.push(`${dawn.join(' ') || 'default backend'}: ${reason(e)}`);
    if (explicitBackend) throw new NoAdapterError(failures.join('; '));
  }
  process.env.EGL_PLATFORM ??= 'surfaceless';
  try {
    return await acquireDevice(create([...dawn, 'backend=opengles']), { ...options, featureLevel: 'compatibility' });
  } catch (e) {
    failures.push(`opengles: ${reason(e)}`);
  }
  throw new NoAdapterError(failures.join('; '));
}
