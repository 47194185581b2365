// Optimizers that update parameters in place on the GPU, no readback, so a training step stays
// one submit. RMSProp packs its parameters into one buffer (and their gradients and moments into
// three more of the same layout), so one dispatch steps them all; SGD dispatches per tensor.
import source from '../../shaders/optim.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { Tensor } from '../tensor.js';
import { chunks, opError, rangeBinding } from '../kernels/util.js';
import { zeros } from '../kernels/fill.js';

function checkParams(op: string, params: Tensor[]): void {
  params.forEach((p, k) => {
    if (p.dtype !== 'f32') throw opError(op, `parameter ${k} is ${p.dtype}, not f32`, [`param ${k}`, p]);
    if (new Set(params).size !== params.length) throw new Error(`${op}: a parameter is listed twice`);
  });
}

function checkGrad(op: string, p: Tensor, k: number): Tensor | null {
  const g = p.grad;
  if (g && (g.size !== p.size || g.dtype !== 'f32')) throw opError(op, `gradient of parameter ${k} does not match it`, ['param', p], ['grad', g]);
  return g;
}

export interface RMSPropOptions {
  /** Step size; the original's 0.0005 (its sign flipped there because it ascends the bound). */
  lr?: number;
  /** b1, the weight of the new gradient in the first moment (the original's momentumDecay). */
  momentumDecay?: number;
  /** b2, the weight of the new squared gradient in the second moment (updateDecay). */
  updateDecay?: number;
  /** Added to v under the square root. */
  eps?: number;
}

export interface RMSPropState {
  t: number;
  m: Tensor[];
  v: Tensor[];
}

/**
 * The RMSProp variant of the original rmsprop.lua, for gradients of a loss to minimise:
 *   m <- (1 - b1) m + b1 g;   v <- (1 - b2) v + b2 g^2;
 *   x <- x - lr * sqrt(1 - (1 - b2)^t) / (1 - (1 - b1)^t) * m / sqrt(v + 1e-8)
 * with t the number of steps taken (1 on the first). (The original negates both the gradient
 * and lr to ascend the lower bound; m flips sign with g and v does not, so the update is the same.)
 * A parameter without a gradient is stepped with a zero gradient, as in the original's flat
 * gradient vector. m, v and t are the state a checkpoint saves: `state()`, `loadState()`.
 */
export class RMSProp {
  readonly params: readonly Tensor[];
  lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  /** Steps taken so far; the next step uses t + 1 in its bias correction. */
  t = 0;
  /** Per parameter, its part of the packed moments. */
  readonly m: readonly Tensor[];
  readonly v: readonly Tensor[];
  /**
   * Per parameter, its part of the packed gradient buffer the update reads. Backward rules
   * write a parameter's gradient here when the tape offers it (autograd/tape.ts); any other
   * .grad is copied in before the update.
   */
  readonly gradSlots: readonly Tensor[];
  private readonly flat: { x: Tensor; g: Tensor; m: Tensor; v: Tensor };
  // The slots another optimizer over the same parameters had set, given back on dispose.
  private readonly previousSlots: (Tensor | null)[];

  constructor(params: Tensor[], o: RMSPropOptions = {}) {
    checkParams('RMSProp', params);
    this.params = [...params];
    this.lr = o.lr ?? 5e-4;
    this.b1 = o.momentumDecay ?? 0.1;
    this.b2 = o.updateDecay ?? 0.01;
    this.eps = o.eps ?? 1e-8;
    if (!(this.b1 > 0 && this.b1 <= 1 && this.b2 > 0 && this.b2 <= 1)) {
      throw new Error(`RMSProp: momentumDecay and updateDecay must lie in (0, 1], got ${this.b1}, ${this.b2}`);
    }
    const engine = params[0]?.engine;
    if (params.some((p) => p.engine !== engine)) throw new Error('RMSProp: parameters live on different engines');
    const { flat: x, offsets } = Tensor.pack(params, engine);
    this.flat = { x, g: zeros(x.shape, engine), m: zeros(x.shape, engine), v: zeros(x.shape, engine) };
    const slots = (flat: Tensor) => params.map((p, k) => flat.slot(offsets[k]!, p.shape));
    this.m = slots(this.flat.m);
    this.v = slots(this.flat.v);
    this.gradSlots = slots(this.flat.g);
    this.previousSlots = params.map((p) => p.gradSlot);
    params.forEach((p, k) => (p.gradSlot = this.gradSlots[k]!));
  }

  /** Bias-corrected step size of step t (host float64, rounded once to float32 in the uniform). */
  stepSize(t: number): number {
    return (this.lr * Math.sqrt(1 - Math.pow(1 - this.b2, t))) / (1 - Math.pow(1 - this.b1, t));
  }

  /** Applies one update to every parameter from its .grad (left in place). */
  step(): void {
    this.t++;
    const lrGamma = this.stepSize(this.t);
    const { x, g: flatG, m, v } = this.flat;
    const engine = x.engine;
    // Gradients the rules did not write into their slots go there now; a parameter no gradient
    // reached steps with a zero one, as in the original's flat gradient vector.
    this.params.forEach((p, k) => {
      const g = checkGrad('RMSProp', p, k);
      const slot = this.gradSlots[k]!;
      if (!g) engine.clear(slot.buffer, slot.offset, slot.size * 4);
      else if (!g.aliases(slot)) engine.copy(g.buffer, g.offset, slot.buffer, slot.offset, slot.size * 4);
    });
    const kernel = engine.kernel({ name: 'optim', wgsl: source, defines: { RMSPROP: true } });
    for (const [start, count] of chunks(engine, x.size)) {
      if (!count) continue;
      engine.dispatch(kernel, {
        uniforms: new Uniforms(32).u32(count, 0, 0, 0).f32(lrGamma, this.b1, this.b2, this.eps).build(),
        bindings: [x, flatG, m, v].map((t) => rangeBinding(t, start, count)),
        workgroups: grid1d(count, 256),
      });
    }
  }

  /** The live state tensors (not copies): read them to save a checkpoint. */
  state(): RMSPropState {
    return { t: this.t, m: [...this.m], v: [...this.v] };
  }

  /** Restores a checkpoint: t, and m and v per parameter as tensors or float32 data. */
  loadState(s: { t: number; m: (Tensor | ArrayLike<number>)[]; v: (Tensor | ArrayLike<number>)[] }): void {
    if (!Number.isInteger(s.t) || s.t < 0) throw new Error(`RMSProp.loadState: t must be a non-negative integer, got ${s.t}`);
    if (s.m.length !== this.params.length || s.v.length !== this.params.length) {
      throw new Error(`RMSProp.loadState: ${s.m.length} m and ${s.v.length} v for ${this.params.length} parameters`);
    }
    const put = (dst: Tensor, src: Tensor | ArrayLike<number>, what: string) => {
      const n = src instanceof Tensor ? src.size : src.length;
      if (n !== dst.size) throw opError('RMSProp.loadState', `${what} has ${n} values, the parameter ${dst.size}`, [what, dst]);
      if (src instanceof Tensor) {
        if (!src.aliases(dst) && n) dst.engine.copy(src.buffer, src.offset, dst.buffer, dst.offset, n * 4);
      } else if (n) dst.engine.upload(dst.buffer, dst.offset, Float32Array.from(src));
    };
    this.params.forEach((_, k) => {
      put(this.m[k]!, s.m[k]!, `m[${k}]`);
      put(this.v[k]!, s.v[k]!, `v[${k}]`);
    });
    this.t = s.t;
  }

  dispose(): void {
    this.params.forEach((p, k) => {
      const prev = this.previousSlots[k];
      if (p.gradSlot === this.gradSlots[k]) p.gradSlot = prev && !prev.isDisposed ? prev : null;
    });
    for (const t of [...this.m, ...this.v, ...this.gradSlots, ...Object.values(this.flat)]) t.dispose();
  }
}

/** Plain stochastic gradient descent, x <- x - lr * g, in place; parameters without a gradient stay. */
export class SGD {
  readonly params: readonly Tensor[];
  lr: number;

  constructor(params: Tensor[], o: { lr?: number } = {}) {
    checkParams('SGD', params);
    this.params = [...params];
    this.lr = o.lr ?? 1e-3;
  }

  step(): void {
    this.params.forEach((p, k) => {
      const g = checkGrad('SGD', p, k);
      if (!g) return;
      const engine = p.engine;
      const kernel = engine.kernel({ name: 'optim', wgsl: source, defines: { RMSPROP: false } });
      for (const [start, count] of chunks(engine, p.size)) {
        if (!count) continue;
        engine.dispatch(kernel, {
          uniforms: new Uniforms(32).u32(count, 0, 0, 0).f32(this.lr, 0, 0, 0).build(),
          bindings: [p, g].map((t) => rangeBinding(t, start, count)),
          workgroups: grid1d(count, 256),
        });
      }
    });
  }
}
