// The recording half of autograd: whether ops record, and how a result remembers its op. It
// imports nothing, so Tensor (whose view() records) and the tape (which walks tensors backwards)
// both build on it without importing each other.

/**
 * Gradients for each input, given the gradient of the output; null where an input needs none.
 * Rules may use two offers, or ignore them:
 * - `into[k]`: where the optimizer reads input k's gradient from. A rule may write the gradient
 *   there and return it, saving a copy.
 * - `sum[k]`: input k's gradient gathered so far from its other uses, held by nothing else. A
 *   rule may add its gradient into it and return it, saving the tape an add.
 */
export type BackwardRule<T> = (grad: T, into: readonly (T | null)[], sum: readonly (T | null)[]) => (T | null)[];

/** A rule of a node of several outputs: their gradients in order, null where none arrived. */
export type ManyRule<T> = (grads: (T | null)[], into: readonly (T | null)[], sum: readonly (T | null)[]) => (T | null)[];

export interface GradNode<T> {
  op: string;
  inputs: T[];
  backward: BackwardRule<T>;
  /** A node of several outputs (recordMany): they, in order, and its rule, run once for all. */
  outputs?: T[];
  backwardMany?: ManyRule<T>;
}

/** What record() reads and sets on a tensor. */
export interface Recordable<T> {
  requiresGrad: boolean;
  node: GradNode<T> | null;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording: results have no gradient graph. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * record() for an op of several outputs whose backward is one rule, run once after every use of
 * every output (so that it can treat their gradients in one dispatch).
 */
export function recordMany<T extends Recordable<T>>(outs: T[], op: string, inputs: T[], backward: ManyRule<T>): T[] {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    const single: BackwardRule<T> = () => {
      throw new Error(`${op}: a node of several outputs runs its backwardMany`);
    };
    const node: GradNode<T> = { op, inputs, backward: single, outputs: outs, backwardMany: backward };
    for (const o of outs) {
      o.requiresGrad = true;
      o.node = node;
    }
  }
  return outs;
}

/** Called by every differentiable op after its forward dispatch. */
export function record<T extends Recordable<T>>(out: T, op: string, inputs: T[], backward: BackwardRule<T>): T {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}
