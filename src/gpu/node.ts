// Node entry to the GPU: Dawn through the `webgpu` package. Only Node entry points import this file.
import { create, globals } from 'webgpu';
import { acquireDevice, NoAdapterError, type AcquiredDevice, type DeviceOptions } from './device.js';
import { withoutKnownWarnings } from './dawn-warnings.js';
import { calmDawnPolling } from './dawn-poll.js';
import { parseConvChoice } from './autotune.js';
import { autotunePath, fileTuneStore } from './autotune-file.js';

export interface NodeDeviceOptions extends DeviceOptions {
  /** Dawn options such as 'backend=vulkan' or 'enable-dawn-features=...'; DCIGN_DAWN adds comma-separated ones. */
  dawn?: string[];
}

let globalsInstalled = false;

// One Dawn instance per set of flags, kept for the life of the process. An instance collected
// while the process goes on crashes it (its threads and callbacks outlive the JS object): this
// happened when an engine was destroyed and a second one created in the same process.
const instances = new Map<string, GPU>();
function instance(flags: string[]): GPU {
  const key = flags.join(',');
  let gpu = instances.get(key);
  if (!gpu) {
    const created = create(flags);
    // Discovery runs inside requestAdapter(): that is where Dawn prints its two known warnings.
    const requestAdapter = created.requestAdapter.bind(created);
    created.requestAdapter = (options) => withoutKnownWarnings(() => requestAdapter(options));
    instances.set(key, (gpu = created));
  }
  return gpu;
}

const reason = (e: unknown) => (e instanceof NoAdapterError ? e.detail : (e as Error).message.split('\n')[0]);

/**
 * The Dawn device, with the convolution variant from options, else DCIGN_CONV, and the autotune's
 * file (src/gpu/autotune-file.ts).
 */
export async function acquireNodeDevice(options: NodeDeviceOptions = {}): Promise<AcquiredDevice> {
  const env = process.env.DCIGN_CONV;
  const convVariant = options.convVariant ?? (env ? parseConvChoice('DCIGN_CONV', env) : undefined);
  const acquired = await acquireDawn(convVariant ? { ...options, convVariant } : options);
  // The GPU's work shares the CPU with Dawn's polling only on a software adapter (dawn-poll.ts).
  if (acquired.software) calmDawnPolling();
  return { ...acquired, tuneStore: fileTuneStore(autotunePath()) };
}

/** Vulkan first (lavapipe on machines without a GPU), then Mesa's GLES through EGL at compatibility level. */
async function acquireDawn(options: NodeDeviceOptions): Promise<AcquiredDevice> {
  if (!globalsInstalled) {
    // Dawn's objects expect the WebGPU globals (GPUBufferUsage, ...) when code in other packages uses them.
    for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    globalsInstalled = true;
  }
  const fromEnv = (process.env.DCIGN_DAWN ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const dawn = [...(options.dawn ?? []), ...fromEnv];
  const explicitBackend = dawn.some((s) => s.startsWith('backend='));
  const failures: string[] = [];
  // An explicit GLES backend needs what the automatic fallback below sets up: a display-less EGL
  // and the compatibility feature level (GLES offers no core adapter).
  const gles = dawn.some((s) => /^backend=opengl(es)?$/.test(s));
  if (gles) process.env.EGL_PLATFORM ??= 'surfaceless';
  try {
    return await acquireDevice(instance(dawn), gles ? { ...options, featureLevel: 'compatibility' } : options);
  } catch (e) {
    failures.push(`${dawn.join(' ') || 'default backend'}: ${reason(e)}`);
    if (explicitBackend) throw new NoAdapterError(failures.join('; '));
  }
  process.env.EGL_PLATFORM ??= 'surfaceless';
  try {
    return await acquireDevice(instance([...dawn, 'backend=opengles']), { ...options, featureLevel: 'compatibility' });
  } catch (e) {
    failures.push(`opengles: ${reason(e)}`);
  }
  throw new NoAdapterError(failures.join('; '));
}
