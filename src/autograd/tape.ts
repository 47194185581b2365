// Reverse-mode autodiff in the style of micrograd: each result remembers its op, inputs and a
// backward rule; backward() walks a topological order of that graph in reverse.
import { keep, shapeStr, Tensor } from '../tensor.js';
import { noGrad, type BackwardRule as Rule, type GradNode as Node } from './record.js';

export type BackwardRule = Rule<Tensor>;
export type GradNode = Node<Tensor>;
export { isGradEnabled, noGrad, record, recordMany } from './record.js';

/** Marks a tensor as a trainable leaf (cutting any graph that produced it). */
export function parameter(t: Tensor, name?: string): Tensor {
  t.requiresGrad = true;
  t.node = null;
  if (name) t.name = name;
  return keep(t);
}

/** The graph behind one or more roots, each tensor after every input it was computed from. */
export function topoSort(root: Tensor | readonly Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative post-order so deep graphs cannot overflow the stack.
  const stack: [Tensor, number][] = [];
  for (const r of Array.isArray(root) ? root : [root as Tensor]) {
    if (seen.has(r)) continue;
    seen.add(r);
    stack.push([r, 0]);
    walk(stack, seen, order);
  }
  return order;
}

function walk(stack: [Tensor, number][], seen: Set<Tensor>, order: Tensor[]): void {
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
}

// Gradient accumulation needs add, which lives in the kernels; injected to keep this file op-free.
let addFn: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let onesFn: ((shape: readonly number[], like: Tensor) => Tensor) | null = null;
export function setAutogradOps(add: (a: Tensor, b: Tensor) => Tensor, ones: (shape: readonly number[], like: Tensor) => Tensor): void {
  addFn = add;
  onesFn = ones;
}

/**
 * Accumulates d(root)/d(leaf) into every leaf's .grad (adding to what is there). The seed
 * defaults to ones, so a scalar loss needs none. Several roots (seeded with ones) act as their
 * sum, without a dispatch to add them. Intermediate gradients are freed as it goes.
 */
export function backward(root: Tensor | readonly Tensor[], seed?: Tensor): void {
  const roots: readonly Tensor[] = Array.isArray(root) ? root : [root as Tensor];
  if (!roots.length) throw new Error('backward: no root given');
  if (seed && roots.length > 1) throw new Error(`backward: a seed needs one root, got ${roots.length}`);
  for (const r of roots) {
    if (!r.requiresGrad) throw new Error(`backward: ${r} does not require grad (no parameter reaches it)`);
  }
  if (seed && seed.size !== roots[0]!.size) {
    throw new Error(`backward: seed ${shapeStr(seed.shape)} does not match output ${shapeStr(roots[0]!.shape)}`);
  }
  noGrad(() => {
    const order = topoSort(roots);
    const grads = new Map<Tensor, Tensor>();
    // Adds g to what t has gathered so far (taking ownership of g).
    const gather = (t: Tensor, g: Tensor) => {
      const prev = grads.get(t);
      if (prev) {
        grads.set(t, addFn!(prev, g));
        prev.dispose();
        g.dispose();
      } else grads.set(t, g);
    };
    for (const r of roots) gather(r, seed ? seed.view(r.shape) : onesFn!(r.shape, r));
    // A node of several outputs runs once, at the last of its outputs in this walk (by then every
    // use of every output has run): their gradients wait here until then.
    const waiting = new Map<GradNode, { grads: (Tensor | null)[]; left: number }>();
    for (const t of order) {
      const outs = t.node?.outputs;
      if (!outs) continue;
      const w = waiting.get(t.node!) ?? { grads: outs.map(() => null), left: 0 };
      w.left++;
      waiting.set(t.node!, w);
    }

    /** Runs node's rule on its incoming gradients and gathers what it gives each input. */
    const apply = (node: GradNode, incoming: Tensor[], run: (into: (Tensor | null)[], sum: (Tensor | null)[]) => (Tensor | null)[]) => {
      // The offers go to an input's first place in the list only (an op may list it twice). An
      // input with a gradient slot (a parameter's, in its optimizer's buffer; a fold's output's)
      // that has no gradient yet may get it written there: offered on a view of the slot, so that
      // disposing the gradient leaves the slot. One with a gradient gathered that nothing else
      // shares may get the rule's added into it.
      const inputs = node.inputs;
      const first = (input: Tensor, k: number) => inputs.indexOf(input) === k;
      const into = inputs.map((input, k) =>
        input.gradSlot && input.requiresGrad && !input.grad && !grads.has(input) && first(input, k) ? input.gradSlot.view(input.gradSlot.shape) : null,
      );
      const sum = inputs.map((input, k) => {
        const prev = grads.get(input);
        return prev && prev.isSoleOwner && first(input, k) ? prev : null;
      });
      const inputGrads = run(into, sum);
      into.forEach((v, k) => {
        if (v && inputGrads[k] !== v) v.dispose();
      });
      inputs.forEach((input, k) => {
        let gi = inputGrads[k];
        // Added into what the tape had gathered: already in place.
        if (gi && gi === sum[k]) return;
        if (!gi || !input.requiresGrad) {
          if (gi && !incoming.includes(gi)) gi.dispose();
          return;
        }
        if (incoming.includes(gi)) gi = gi.view(gi.shape);
        if (gi.size !== input.size) {
          throw new Error(`backward: rule of ${node.op} gave ${shapeStr(gi.shape)} for input ${shapeStr(input.shape)}`);
        }
        if (gi.shape.length !== input.shape.length || gi.shape.some((d, j) => d !== input.shape[j])) {
          const v = gi.view(input.shape);
          gi.dispose();
          gi = v;
        }
        gather(input, gi);
      });
      for (const g of incoming) g.dispose();
    };

    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (g) grads.delete(t);
      const node = t.node;
      if (node?.outputs) {
        const w = waiting.get(node)!;
        if (g) w.grads[node.outputs.indexOf(t)] = g;
        if (--w.left > 0) continue;
        const incoming = w.grads.filter((x): x is Tensor => x !== null);
        if (incoming.length) apply(node, incoming, (into, sum) => node.backwardMany!(w.grads, into, sum));
        continue;
      }
      if (!g) continue;
      if (!node) {
        t.buffer; // a disposed parameter cannot take a gradient: throws naming it
        if (t.grad) {
          const sum = keep(addFn!(t.grad, g));
          t.grad.dispose();
          g.dispose();
          t.grad = sum;
        } else t.grad = keep(g);
        continue;
      }
      apply(node, [g], (into, sum) => node.backward(g, into, sum));
    }
  });
}

export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
