// Adapter and device acquisition shared by Node (Dawn) and browsers: the caller brings a GPU object.
import { parseConvChoice, type ConvChoice, type TuneStore } from './autotune.js';

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** 'compatibility' lets the GLES fallback adapter through. */
  featureLevel?: 'core' | 'compatibility';
  /** Lower the device's storage-binding limit, e.g. to test that kernels split large tensors. */
  maxStorageBufferBindingSize?: number;
  /** Optional features to request when the adapter offers them. */
  wantFeatures?: GPUFeatureName[];
  /** The convolution variant (Engine.convVariant); default by adapter. */
  convVariant?: ConvChoice;
  /** Engine.twoRowConv; default by adapter. */
  twoRowConv?: boolean;
  /** Engine.quickCompile; default by adapter. */
  quickCompile?: boolean;
  /** Engine.fewRowMatmul; default by adapter. */
  fewRowMatmul?: boolean;
  /** Engine.pooledConv; default by adapter. */
  pooledConv?: boolean;
}

export interface AcquiredDevice {
  /** Held for the device's lifetime: Dawn for Node tears its instance down when this is collected. */
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  features: Set<string>;
  report: string;
  /** A CPU implementation (lavapipe, SwiftShader, WARP): presets and benchmarks size themselves down. */
  software: boolean;
  /**
   * The storage-binding cap asked for in DeviceOptions. Devices keep limits below the WebGPU
   * default at the default (Dawn reports 128 MiB for a 1 MiB request), so the engine applies it.
   */
  maxBinding?: number;
  convVariant?: ConvChoice;
  twoRowConv: boolean;
  quickCompile: boolean;
  fewRowMatmul: boolean;
  pooledConv: boolean;
  /** Where the autotune keeps its picks between processes (Node: a JSON file); none: memory only. */
  tuneStore?: TuneStore;
}

export const DEFAULT_FEATURES: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'];

// Limits that the engine's kernels and buffer splitting depend on; asked for at the adapter's value.
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export class NoAdapterError extends Error {
  constructor(readonly detail: string) {
    super(
      `No WebGPU adapter is available (${detail}).\n` +
        'On Linux without a GPU install Mesa\'s software Vulkan driver (lavapipe):\n' +
        '  sudo bash .ci/install-system.sh\n' +
        'which adds Debian bookworm-backports and installs mesa-vulkan-drivers and libvulkan1.\n' +
        'With a GPU, install its Vulkan driver. See README.md, "Set-up without a GPU".',
    );
    this.name = 'NoAdapterError';
  }
}

export async function acquireDevice(gpu: GPU, options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const adapterOptions: GPURequestAdapterOptions & { featureLevel?: string } = {
    powerPreference: options.powerPreference ?? 'high-performance',
  };
  if (options.featureLevel) adapterOptions.featureLevel = options.featureLevel;
  const adapter = await gpu.requestAdapter(adapterOptions);
  if (!adapter) throw new NoAdapterError('requestAdapter returned null');

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  if (options.maxStorageBufferBindingSize !== undefined) {
    requiredLimits.maxStorageBufferBindingSize = Math.min(
      requiredLimits.maxStorageBufferBindingSize ?? Infinity,
      options.maxStorageBufferBindingSize,
    );
  }
  const want = options.wantFeatures ?? DEFAULT_FEATURES;
  const requiredFeatures = want.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const features = new Set<string>(requiredFeatures);
  // Chromium's CPU WebGPU: the kernel choices below that are made for it.
  const swiftShader = /swiftshader/.test(adapterText(adapter));
  const acquired: AcquiredDevice = {
    gpu,
    adapter,
    device,
    features,
    report: adapterReport(adapter, device, features),
    software: isSoftwareAdapter(adapter),
    twoRowConv: options.twoRowConv ?? !swiftShader,
    quickCompile: options.quickCompile ?? swiftShader,
    fewRowMatmul: options.fewRowMatmul ?? swiftShader,
    pooledConv: options.pooledConv ?? swiftShader,
  };
  if (options.maxStorageBufferBindingSize !== undefined) acquired.maxBinding = options.maxStorageBufferBindingSize;
  if (options.convVariant !== undefined) acquired.convVariant = parseConvChoice('convVariant', options.convVariant);
  return acquired;
}

function adapterText(adapter: GPUAdapter): string {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  return `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.device ?? ''} ${info?.description ?? ''}`.toLowerCase();
}

export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  if (info?.isFallbackAdapter || (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter) return true;
  return /llvmpipe|lavapipe|swiftshader|software|warp/.test(adapterText(adapter));
}

/** One line for logs and benchmark records. */
export function adapterReport(adapter: GPUAdapter, device: GPUDevice, features: Set<string>): string {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const pick = (s: string | undefined) => (s && s.length ? s : undefined);
  const name =
    [pick(info?.vendor), pick(info?.architecture), pick(info?.device), pick(info?.description)]
      .filter(Boolean)
      .join(' / ') || 'unknown adapter';
  const level = (adapter as GPUAdapter & { featureLevel?: string }).featureLevel ?? (adapter.features.has('core-features-and-limits') ? 'core' : 'compatibility');
  const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
  const l = device.limits;
  return (
    `${name} [${level}] binding ${mib(l.maxStorageBufferBindingSize)}, buffer ${mib(l.maxBufferSize)}, ` +
    `workgroup ${l.maxComputeWorkgroupStorageSize} B / ${l.maxComputeInvocationsPerWorkgroup} inv` +
    (features.size ? `, ${[...features].sort().join(' ')}` : '')
  );
}
