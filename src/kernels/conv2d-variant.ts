// Which kernel variant runs one convolution op: the call's, else the engine's, else (auto) the
// autotune's pick for the op and its shapes, timed on zero-filled operands of those shapes.
import { shapeStr, type Tensor } from '../tensor.js';
import type { Engine } from '../gpu/engine.js';
import { CONV_VARIANTS, type ConvVariant } from '../gpu/autotune.js';
import { zeros } from './fill.js';
import { opError } from './util.js';

/** Runs the op with the given variant on stand-ins of its operands (in the order of `shapes`); returns what to dispose. */
export type ConvTuneRun = (variant: ConvVariant, operands: Tensor[]) => { dispose(): void };

/**
 * The variant for op on operands of these shapes; `detail` adds what else changes the work
 * (stride, padding, the store's shuffle). Register is the fallback while a key is untuned.
 */
export function convVariant(engine: Engine, op: string, forced: ConvVariant | undefined, shapes: (readonly number[])[], detail: string, run: ConvTuneRun): ConvVariant {
  const choice = forced ?? engine.convVariant;
  if (!(CONV_VARIANTS as readonly string[]).includes(choice) && (forced || choice !== 'auto')) {
    const allowed = forced ? CONV_VARIANTS.join(' or ') : `${CONV_VARIANTS.join(', ')} or auto`;
    throw opError(op, `${forced ? 'the variant option' : 'Engine.convVariant'} must be ${allowed}, got "${choice}"`);
  }
  const key = `${op} ${shapes.map(shapeStr).join(' ')} ${detail}`;
  if (choice !== 'auto') {
    engine.autotune.used.set(key, choice);
    return choice;
  }
  const picked = engine.autotune.pick(key, CONV_VARIANTS, 'register', () => {
    const operands = shapes.map((s) => zeros(s, engine));
    return { run: (c) => run(c as ConvVariant, operands), dispose: () => operands.forEach((t) => t.dispose()) };
  });
  return picked as ConvVariant;
}
