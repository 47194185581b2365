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

export interface GradNode<T> {
  op: string;
  inputs: T[];
  backward: BackwardRule<T>;
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

/** Called by every differentiable op after its forward dispatch. */
export function record<T extends Recordable<T>>(out: T, op: string, inputs: T[], backward: BackwardRule<T>): T {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}
