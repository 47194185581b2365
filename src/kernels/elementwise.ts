// Elementwise unary and broadcasting binary ops, each op's gradient beside it; the raw kernels
// they dispatch are in map.ts.
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { mapBinary, mapUnary } from './map.js';
import { sumTo } from './reduce.js';

// Raw kernels, re-exported for the callers that take them from here.
export { broadcastShapes, expand, mapBinary, mapUnary } from './map.js';

// ---- differentiable ops -------------------------------------------------------------------

export function add(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a + b', 'add');
  return record(out, 'add', [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a - b', 'sub');
  return record(out, 'sub', [a, b], (g) => [sumTo(g, a.shape), b.requiresGrad ? sumTo(mapUnary(g, '-x', 'neg'), b.shape, true) : null]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a * b', 'mul');
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? sumTo(mapBinary(g, b, 'a * b', 'mul'), a.shape, true) : null,
    b.requiresGrad ? sumTo(mapBinary(g, a, 'a * b', 'mul'), b.shape, true) : null,
  ]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a / b', 'div');
  return record(out, 'div', [a, b], (g) => {
    const ga = a.requiresGrad ? sumTo(mapBinary(g, b, 'a / b', 'div'), a.shape, true) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      const q = mapBinary(out, b, 'a / b', 'div'); // a / b^2
      gb = sumTo(mapBinary(g, q, '-a * b', 'mul'), b.shape, true);
      q.dispose();
    }
    return [ga, gb];
  });
}

function unary(x: Tensor, op: string, expr: string, grad: (g: Tensor, x: Tensor, y: Tensor) => Tensor, params?: number[]): Tensor {
  const y = mapUnary(x, expr, op, params);
  return record(y, op, [x], (g) => [grad(g, x, y)]);
}

export const neg = (x: Tensor) => unary(x, 'neg', '-x', (g) => mapUnary(g, '-x', 'neg'));
export const exp = (x: Tensor) => unary(x, 'exp', 'exp(x)', (g, _x, y) => mapBinary(g, y, 'a * b', 'exp.grad'));
export const log = (x: Tensor) => unary(x, 'log', 'log(x)', (g, x) => mapBinary(g, x, 'a / b', 'log.grad'));
// The rule reads the output (y > 0 exactly where x > 0), so a caller may free the input.
// NaN passes through, as in PyTorch, so the trainer's non-finite loss check sees it (lavapipe's
// max(NaN, 0) is 0; isNan is activation.wgsl's bit test).
export const relu = (x: Tensor) => unary(x, 'relu', 'select(max(x, 0.0), x, isNan(x))', (g, _x, y) => activationGrad(g, y, 'relu'));
export const sigmoid = (x: Tensor) => unary(x, 'sigmoid', '1.0 / (1.0 + exp(-x))', (g, _x, y) => activationGrad(g, y, 'sigmoid'));

/** An activation other kernels apply in their epilogue (shaders/activation.wgsl), as relu and sigmoid above. */
export type Activation = 'relu' | 'sigmoid';

/** The defines that select an epilogue activation in shaders/activation.wgsl. */
export function activationDefines(op: string, activation: Activation | null | undefined): { ACT_RELU: boolean; ACT_SIGMOID: boolean } {
  if (activation != null && activation !== 'relu' && activation !== 'sigmoid') throw new Error(`${op}: activation must be 'relu' or 'sigmoid', got ${JSON.stringify(activation)}`);
  return { ACT_RELU: activation === 'relu', ACT_SIGMOID: activation === 'sigmoid' };
}

/** The gradient at an activation's input from g and the activation's output y: one dispatch. */
export function activationGrad(g: Tensor, y: Tensor, activation: Activation): Tensor {
  return activation === 'relu' ? mapBinary(g, y, 'select(0.0, a, b > 0.0)', 'relu.grad') : mapBinary(g, y, 'a * b * (1.0 - b)', 'sigmoid.grad');
}
export const square = (x: Tensor) => unary(x, 'square', 'x * x', (g, x) => mapBinary(g, x, '2.0 * a * b', 'square.grad'));
export const sqrt = (x: Tensor) => unary(x, 'sqrt', 'sqrt(x)', (g, _x, y) => mapBinary(g, y, '0.5 * a / b', 'sqrt.grad'));
export const tanh = (x: Tensor) => unary(x, 'tanh', 'tanh(x)', (g, _x, y) => mapBinary(g, y, 'a * (1.0 - b * b)', 'tanh.grad'));

/** x * s (a JS number). */
export const mulScalar = (x: Tensor, s: number) =>
  unary(x, 'mulScalar', 'x * u.p.x', (g) => mapUnary(g, 'x * u.p.x', 'mulScalar', [s]), [s]);
/** x + s (a JS number). */
export const addScalar = (x: Tensor, s: number) => unary(x, 'addScalar', 'x + u.p.x', (g) => g, [s]);
/** x ^ p for a JS number p (x > 0 where p is not an integer). */
export const powScalar = (x: Tensor, p: number) =>
  unary(x, 'powScalar', 'pow(x, u.p.x)', (g, x) => mapBinary(g, x, 'a * u.p.x * pow(b, u.p.x - 1.0)', 'powScalar.grad', [p]), [p]);

/** A copy in new storage (no shared buffer). */
export function clone(x: Tensor): Tensor {
  return unary(x, 'clone', 'x', (g) => g);
}
