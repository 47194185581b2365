// Model checkpoints as safetensors: PyTorch-style names and shapes, float32, with the preset and
// its sizes in the metadata so that a checkpoint alone rebuilds the model. Browser-safe.
import type { Engine } from '../gpu/engine.js';
import { getEngine, shapeStr, type Tensor } from '../tensor.js';
import { Dcign } from './dcign.js';
import { shapesOf, type DcignConfig } from './presets.js';
import { assertFinite, CheckpointError, decodeSafetensors, encodeSafetensors, type NamedArray } from './safetensors.js';

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

/** Throws unless `source` has exactly the names of `want`, each with its shape. */
function checkNamesAndShapes(want: Map<string, readonly number[]>, source: Map<string, NamedArray>, what: string): void {
  const missing = [...want.keys()].filter((k) => !source.has(k));
  const extra = [...source.keys()].filter((k) => !want.has(k));
  if (missing.length || extra.length) {
    throw new CheckpointError(
      `${what}: tensor names do not match the model` +
        (missing.length ? `; missing ${missing.join(', ')}` : '') +
        (extra.length ? `; unexpected ${extra.join(', ')}` : ''),
    );
  }
  for (const [name, shape] of want) {
    const s = source.get(name)!;
    if (s.shape.length !== shape.length || s.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`${what}: ${name} has shape [${s.shape}] but the model expects ${shapeStr(shape)}`);
    }
  }
}

/** Writes arrays into existing tensors, checking that names and shapes agree exactly and values are finite. */
export function assignTensors(target: Map<string, Tensor>, source: Map<string, NamedArray>, what: string): void {
  checkNamesAndShapes(new Map([...target].map(([k, t]) => [k, t.shape])), source, what);
  for (const name of target.keys()) assertFinite(name, source.get(name)!.data, what);
  for (const [name, t] of target) t.engine.upload(t.buffer, t.offset, source.get(name)!.data);
}

/** Every parameter's shape for a config, as Dcign names them, without building anything. */
export function parameterShapes(c: DcignConfig): Map<string, number[]> {
  const { flat } = shapesOf(c);
  const shapes = new Map<string, number[]>();
  const conv = (name: string, cin: number, cout: number, k: number) => {
    shapes.set(`${name}.weight`, [cout, cin, k, k]);
    shapes.set(`${name}.bias`, [cout]);
  };
  const linear = (name: string, fin: number, fout: number) => {
    shapes.set(`${name}.weight`, [fout, fin]);
    shapes.set(`${name}.bias`, [fout]);
  };
  const [e1, e2, e3] = c.encoderMaps;
  conv('encoder.conv1', 1, e1, c.encoderKernel);
  conv('encoder.conv2', e1, e2, c.encoderKernel);
  conv('encoder.conv3', e2, e3, c.encoderKernel);
  linear('encoder.mu', flat, c.latents);
  linear('encoder.logvar', flat, c.latents);
  const [bc, bs] = c.decoderBase;
  const [d1, d2, d3, d4] = c.decoderMaps;
  linear('decoder.fc', c.latents, bc * bs * bs);
  conv('decoder.conv1', bc, d1, c.decoderKernel);
  conv('decoder.conv2', d1, d2, c.decoderKernel);
  conv('decoder.conv3', d2, d3, c.decoderKernel);
  conv('decoder.conv4', d3, d4, c.decoderKernel);
  return shapes;
}

// Sizes up to these pass; a config beyond them is a damaged or hostile file, not a model.
const MAX_SIZE = 4096;

/** Checks that a parsed config has the right kinds of values before any size is computed from it. */
function checkConfig(c: unknown, source: string): DcignConfig {
  const fail = (why: string) => new CheckpointError(`${source}: metadata config ${why}`);
  const size = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_SIZE;
  const sizes = (v: unknown, n: number) => Array.isArray(v) && v.length === n && v.every(size);
  if (typeof c !== 'object' || c === null) throw fail('is not an object');
  const k = c as Record<string, unknown>;
  if (typeof k.preset !== 'string') throw fail('has no preset name');
  for (const f of ['imageSize', 'encoderKernel', 'latents', 'decoderKernel']) if (!size(k[f])) throw fail(`${f} ${JSON.stringify(k[f])} is not a size in 1..${MAX_SIZE}`);
  for (const [f, n] of [['encoderMaps', 3], ['decoderBase', 2], ['decoderMaps', 4]] as const) {
    if (!sizes(k[f], n)) throw fail(`${f} ${JSON.stringify(k[f])} is not ${n} sizes in 1..${MAX_SIZE}`);
  }
  for (const f of ['encoderPadding', 'decoderPadding']) if (k[f] !== 'valid' && k[f] !== 'same') throw fail(`${f} ${JSON.stringify(k[f])} is not valid or same`);
  if (k.init !== undefined && k.init !== 'original' && k.init !== 'relu') throw fail(`init ${JSON.stringify(k.init)} is not original or relu`);
  return c as DcignConfig;
}

export function configFromMetadata(metadata: Record<string, string>, source: string): DcignConfig {
  if (metadata.format !== FORMAT) {
    throw new CheckpointError(`${source}: metadata format is ${JSON.stringify(metadata.format)}, expected "${FORMAT}" (not a DC-IGN checkpoint of this project?)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata.config ?? '');
  } catch {
    throw new CheckpointError(`${source}: metadata has no readable model config`);
  }
  const config = checkConfig(parsed, source);
  try {
    shapesOf(config); // the encoder and decoder must meet
  } catch (e) {
    throw new CheckpointError(`${source}: ${(e as Error).message}`);
  }
  return config;
}

export function decodeModel(bytes: Uint8Array, source = 'checkpoint', engine: Engine = getEngine(), expectPreset?: string): LoadedModel {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const config = configFromMetadata(metadata, source);
  if (expectPreset && config.preset !== expectPreset) {
    throw new CheckpointError(`${source}: checkpoint is of preset "${config.preset}", but preset "${expectPreset}" was asked for`);
  }
  // Names and shapes first: a model is built (and GPU memory taken) only for a config the file's
  // own tensors fill, so a hostile config cannot ask for more memory than the file holds.
  const want = parameterShapes(config);
  checkNamesAndShapes(want, tensors, source);
  const model = new Dcign(config, 1, engine);
  try {
    assignTensors(model.parameters(), tensors, source);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, metadata };
}
