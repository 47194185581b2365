// Checkpoint folders (Node): `model.safetensors` (weights, preset, step) and its companion
// `train-state-STEP.safetensors` (optimizer moments, step, options). The state file is written
// first and the model file's atomic rename commits the pair; older state files go after that,
// so a crash at any point leaves the last good pair.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Dcign } from '../model/dcign.js';
import { decodeModel, encodeModel, readTensors } from '../model/checkpoint.js';
import { assertFinite, CheckpointError, decodeSafetensors, encodeSafetensors, type NamedArray } from '../model/safetensors.js';
import type { Engine } from '../gpu/engine.js';
import type { RMSProp } from './optim.js';
import { writeFileAtomic } from './files.js';

export const MODEL_FILE = 'model.safetensors';
/** Per logged step, one JSON record a line (Trainer.run appends them). */
export const LOG_FILE = 'log.jsonl';
const stateFile = (step: number) => `train-state-${String(step).padStart(8, '0')}.safetensors`;

/** A checkpoint that could not be written; the previous pair in the folder is untouched. */
export class CheckpointWriteError extends Error {
  constructor(readonly dir: string, readonly step: number, override readonly cause: Error) {
    super(`could not write the checkpoint of step ${step} to ${dir} (${cause.message})`);
    this.name = 'CheckpointWriteError';
  }
}

export interface SavedRun {
  step: number;
  /** The training options the run was started with (JSON-serialisable). */
  options: Record<string, unknown>;
}

export async function saveCheckpoint(dir: string, model: Dcign, optimizer: RMSProp, run: SavedRun): Promise<void> {
  const names = [...model.parameters().keys()];
  const st = optimizer.state();
  const moments = new Map<string, import('../tensor.js').Tensor>();
  names.forEach((n, i) => {
    moments.set(`m.${n}`, st.m[i]!);
    moments.set(`v.${n}`, st.v[i]!);
  });
  const state = encodeSafetensors(await readTensors(moments), {
    format: 'dcign-webgpu-train-state/1',
    step: String(run.step),
    t: String(st.t),
    options: JSON.stringify(run.options),
  });
  const stateName = stateFile(run.step);
  const weights = await encodeModel(model, { step: String(run.step), train_state: stateName, options: JSON.stringify(run.options) });
  const stateExisted = existsSync(join(dir, stateName));
  try {
    writeFileAtomic(join(dir, stateName), state);
    writeFileAtomic(join(dir, MODEL_FILE), weights);
  } catch (e) {
    // The model file still names the previous state file; a new one would only take disk space.
    if (!stateExisted) rmSync(join(dir, stateName), { force: true });
    throw new CheckpointWriteError(dir, run.step, e as Error);
  }
  for (const f of readdirSync(dir)) {
    if (/^train-state-\d+\.safetensors$/.test(f) && f !== stateName) rmSync(join(dir, f), { force: true });
  }
}

export function readModelFile(path: string, engine: Engine, expectPreset?: string): ReturnType<typeof decodeModel> {
  if (!existsSync(path)) throw new CheckpointError(`${path}: no such checkpoint file`);
  return decodeModel(new Uint8Array(readFileSync(path)), path, engine, expectPreset);
}

export interface Resumed {
  model: Dcign;
  step: number;
  t: number;
  moments: { m: NamedArray[]; v: NamedArray[] };
  options: Record<string, unknown>;
}

/** Loads the last good pair of a checkpoint folder. */
export function loadCheckpoint(dir: string, engine: Engine, expectPreset?: string): Resumed {
  const modelPath = join(dir, MODEL_FILE);
  const { model, metadata } = readModelFile(modelPath, engine, expectPreset);
  try {
    const statePath = join(dir, metadata.train_state ?? '');
    if (!metadata.train_state || !existsSync(statePath)) {
      throw new CheckpointError(`${modelPath}: its training state file ${metadata.train_state ?? '(none named)'} is missing, so the run cannot resume`);
    }
    const { tensors, metadata: sm } = decodeSafetensors(new Uint8Array(readFileSync(statePath)), statePath);
    if (sm.step !== metadata.step) throw new CheckpointError(`${statePath}: step ${sm.step} does not match the model's step ${metadata.step}`);
    const names = [...model.parameters().keys()];
    const pick = (k: string) => {
      const t = tensors.get(k);
      if (!t) throw new CheckpointError(`${statePath}: missing ${k}`);
      assertFinite(k, t.data, statePath);
      return t;
    };
    return {
      model,
      step: Number(metadata.step),
      t: Number(sm.t),
      moments: { m: names.map((n) => pick(`m.${n}`)), v: names.map((n) => pick(`v.${n}`)) },
      options: JSON.parse(sm.options ?? '{}'),
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
