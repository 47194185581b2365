// Model checkpoints as safetensors: PyTorch-style names and shapes, float32, with the preset and
// its sizes in the metadata so that a checkpoint alone rebuilds the model. Browser-safe.
import type { Engine } from '../gpu/engine.js';
import { getEngine, shapeStr, type Tensor } from '../tensor.js';
import { Dcign } from './dcign.js';
import { shapesOf, type DcignConfig } from './presets.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type NamedArray } from './safetensors.js';

export const FORMAT = 'dcign-webgpu/1';

/** Reads tensors back from the GPU (one submit) into named float32 arrays. */
export async function readTensors(tensors: Map<string, Tensor>): Promise<Map<string, NamedArray>> {
  const entries = [...tensors];
  const data = await Promise.all(entries.map(([, t]) => t.data()));
  return new Map(entries.map(([name, t], i) => [name, { shape: [...t.shape], data: data[i]! }]));
}

export async function encodeModel(model: Dcign, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  return encodeSafetensors(await readTensors(model.parameters()), {
    ...metadata,
    format: FORMAT,
    preset: model.config.preset,
    config: JSON.stringify(model.config),
  });
}

export interface LoadedModel {
  model: Dcign;
  metadata: Record<string, string>;
}

/** Writes arrays into existing tensors, checking that names and shapes agree exactly. */
export function assignTensors(target: Map<string, Tensor>, source: Map<string, NamedArray>, what: string): void {
  const missing = [...target.keys()].filter((k) => !source.has(k));
  const extra = [...source.keys()].filter((k) => !target.has(k));
  if (missing.length || extra.length) {
    throw new CheckpointError(
      `${what}: tensor names do not match the model` +
        (missing.length ? `; missing ${missing.join(', ')}` : '') +
        (extra.length ? `; unexpected ${extra.join(', ')}` : ''),
    );
  }
  for (const [name, t] of target) {
    const s = source.get(name)!;
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      throw new CheckpointError(`${what}: ${name} has shape [${s.shape}] but the model expects ${shapeStr(t.shape)}`);
    }
  }
  for (const [name, t] of target) t.engine.upload(t.buffer, 0, source.get(name)!.data);
}

export function configFromMetadata(metadata: Record<string, string>, source: string): DcignConfig {
  if (metadata.format !== FORMAT) {
    throw new CheckpointError(`${source}: metadata format is ${JSON.stringify(metadata.format)}, expected "${FORMAT}" (not a DC-IGN checkpoint of this project?)`);
  }
  let config: DcignConfig;
  try {
    config = JSON.parse(metadata.config ?? '');
  } catch {
    throw new CheckpointError(`${source}: metadata has no readable model config`);
  }
  shapesOf(config); // validates the sizes
  return config;
}

export function decodeModel(bytes: Uint8Array, source = 'checkpoint', engine: Engine = getEngine(), expectPreset?: string): LoadedModel {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const config = configFromMetadata(metadata, source);
  if (expectPreset && config.preset !== expectPreset) {
    throw new CheckpointError(`${source}: checkpoint is of preset "${config.preset}", but preset "${expectPreset}" was asked for`);
  }
  const model = new Dcign(config, 1, engine);
  try {
    assignTensors(model.parameters(), tensors, source);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, metadata };
}
