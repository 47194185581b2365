// The DC-IGN objective's two terms as fused, summed losses. The original trains with
// nn.BCECriterion and modules/KLDCriterion.lua, both with sizeAverage = false (main.lua,
// monovariant_main.lua): sums over every pixel / latent and over the batch, not divided by the
// batch size (the scripts divide by it only to print).
import source from '../../shaders/losses.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { checkF32, chunks, opError, rangeBinding, sameShape, wholeBinding } from './util.js';
import { sum } from './reduce.js';
import { full } from './fill.js';

const PER_THREAD = 16;
const PER_GROUP = 256 * PER_THREAD;

/** Default probability clamp of bceLoss: log(1e-7) = -16.1 bounds each pixel's loss. */
export const BCE_EPS = 1e-7;

type Kind = 'BCE' | 'KL';

function checkPair(op: string, a: Tensor, b: Tensor, names: [string, string]): void {
  checkF32(op, names[0], a);
  checkF32(op, names[1], b);
  if (!sameShape(a.shape, b.shape)) throw opError(op, `${names[0]} and ${names[1]} differ in shape`, [names[0], a], [names[1], b]);
}

// Per-workgroup partial sums on the GPU, then reduce.ts's sum: a scalar tensor of shape [].
function forward(kind: Kind, a: Tensor, b: Tensor, eps: number): Tensor {
  const engine = a.engine;
  if (a.size === 0) return full([], 0, engine);
  const parts = chunks(engine, a.size);
  const groups = parts.map(([, count]) => Math.ceil(count / PER_GROUP));
  const total = groups.reduce((x, y) => x + y, 0);
  const partial = Tensor.empty([total], 'f32', engine);
  const kernel = engine.kernel({ name: 'losses', wgsl: source, defines: { KL: kind === 'KL' }, overrides: { PER_THREAD } });
  let wgBase = 0;
  parts.forEach(([start, count], k) => {
    if (!count) return;
    const part = (t: Tensor) => rangeBinding(t, start, count);
    engine.dispatch(kernel, {
      uniforms: new Uniforms(16).u32(count, wgBase).f32(eps).u32(0).build(),
      bindings: [part(a), part(b), wholeBinding(partial)],
      workgroups: grid1d(groups[k]!, 1),
    });
    wgBase += groups[k]!;
  });
  const out = sum(partial);
  partial.dispose();
  return out;
}

// The elementwise gradients, scaled by the scalar incoming gradient g.
function backward(kind: Kind, a: Tensor, b: Tensor, g: Tensor, eps: number): Tensor[] {
  const engine = a.engine;
  const outs = kind === 'KL' ? [Tensor.empty(a.shape, 'f32', engine), Tensor.empty(b.shape, 'f32', engine)] : [Tensor.empty(a.shape, 'f32', engine)];
  const kernel = engine.kernel({ name: 'losses', wgsl: source, defines: { KL: kind === 'KL', BACKWARD: true }, overrides: { PER_THREAD } });
  for (const [start, count] of chunks(engine, a.size)) {
    if (!count) continue;
    const part = (t: Tensor) => rangeBinding(t, start, count);
    engine.dispatch(kernel, {
      uniforms: new Uniforms(16).u32(count, 0).f32(eps).u32(0).build(),
      bindings: [part(a), part(b), rangeBinding(g, 0, 1), ...outs.map(part)],
      workgroups: grid1d(count, 256),
    });
  }
  return outs;
}

/**
 * Binary cross-entropy summed over all elements (pixels and batch; not divided by the batch),
 * -sum(t log p + (1 - t) log(1 - p)) with p clamped to [eps, 1 - eps]. A scalar tensor (shape []).
 * Gradient to pred only (the target is data): (p - t) / (p (1 - p)) at the clamped p.
 */
export function bceLoss(pred: Tensor, target: Tensor, options: { eps?: number } = {}): Tensor {
  checkPair('bceLoss', pred, target, ['pred', 'target']);
  const eps = options.eps ?? BCE_EPS;
  if (!(eps > 0 && eps < 0.5)) throw opError('bceLoss', `eps must lie in (0, 0.5), got ${eps}`, ['pred', pred]);
  const out = forward('BCE', pred, target, eps);
  return record(out, 'bceLoss', [pred, target], (g) => [pred.requiresGrad ? backward('BCE', pred, target, g, eps)[0]! : null, null]);
}

/**
 * KL(N(mu, exp(logvar)) || N(0, 1)) summed over all elements (latents and batch):
 * 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar), a scalar tensor (shape []). This is the negative
 * of what KLDCriterion.lua returns (the original ascends the lower bound); no clamp of logvar.
 * Gradients: mu, and 0.5 (exp(logvar) - 1).
 */
export function klLoss(mu: Tensor, logvar: Tensor): Tensor {
  checkPair('klLoss', mu, logvar, ['mu', 'logvar']);
  const out = forward('KL', mu, logvar, 0);
  return record(out, 'klLoss', [mu, logvar], (g) => {
    const [gm, gl] = backward('KL', mu, logvar, g, 0);
    if (!mu.requiresGrad) gm!.dispose();
    if (!logvar.requiresGrad) gl!.dispose();
    return [mu.requiresGrad ? gm! : null, logvar.requiresGrad ? gl! : null];
  });
}
