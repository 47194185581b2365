// A model's parameters as raw float32 bits, for bit-for-bit comparisons.
import type { Dcign } from '../../src/model/dcign.js';

export async function weights(model: Dcign): Promise<Map<string, Uint32Array>> {
  const out = new Map<string, Uint32Array>();
  for (const [k, t] of model.parameters()) out.set(k, new Uint32Array((await t.data()).buffer));
  return out;
}
