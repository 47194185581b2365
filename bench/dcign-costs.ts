// The DC-IGN network's shapes for `npm run bench -- step`: its FLOPs per training step, nominal
// and executed (FLOPS_NOTE), and an analytic model of the memory a step must hold (memoryModel).
import type { DcignConfig } from '../src/model/presets.js';
import { network, type ConvShape, type Network } from '../src/model/network.js';

/** One convolution pass (fwd, dx or dw) of the paper's network: the direct conv, on the upsampled map in the decoder. */
export const convFlops = (l: ConvShape, N: number) => 2 * N * l.O * l.Ho * l.Ho * l.C * l.k * l.k;
/** The same pass as our kernels run it: the decoder's folded conv, 4*O channels of (Ho/2)^2 pixels with kF x kF taps. */
export const convFlopsExecuted = (l: ConvShape, N: number) =>
  l.kFolded === null ? convFlops(l, N) : 2 * N * (4 * l.O) * (l.Ho / 2) * (l.Ho / 2) * l.C * l.kFolded * l.kFolded;

/** Per layer FLOPs of one step's fwd, dx and dw, nominal and (`executed`) as our kernels run them; see FLOPS_NOTE. */
export function stepFlops(net: Network, N: number) {
  const conv = (l: ConvShape, f: (l: ConvShape, N: number) => number) => ({ fwd: f(l, N), dx: l.needsDx ? f(l, N) : 0, dw: f(l, N) });
  const perLayer = [
    ...net.convs.map((l) => ({ name: l.name, ...conv(l, convFlops), executed: conv(l, convFlopsExecuted) })),
    ...net.linears.map((l) => {
      const f = 2 * N * l.inF * l.outF;
      return { name: l.name, fwd: f, dx: f, dw: f, executed: { fwd: f, dx: f, dw: f } };
    }),
  ];
  const sum = (x: { fwd: number; dx: number; dw: number }) => x.fwd + x.dx + x.dw;
  return {
    total: perLayer.reduce((a, r) => a + sum(r), 0),
    executedTotal: perLayer.reduce((a, r) => a + sum(r.executed), 0),
    perLayer,
  };
}

export const FLOPS_NOTE =
  'FLOPs per step, nominal: the paper network run directly (as tfjs and PyTorch run it): every convolution forward, input ' +
  'gradient (not for the first: the images need none) and weight gradient at 2*N*O*Ho*Wo*C*kh*kw each, the decoder\'s on ' +
  'the upsampled map; every linear layer forward, dx and dW at 2*N*in*out each. Executed: the same, except the decoder ' +
  'convolutions as our kernels run them (upsampleConv2d: one conv of the un-upsampled input with 4*O folded kernels, ' +
  '2*N*(4*O)*(Ho/2)*(Wo/2)*C*kF*kF each of fwd, dx, dw). Neither counts biases, pooling, upsampling, weight folding, ' +
  'depth-to-space, activations, losses or the optimizer. GFLOP/s nominal = nominal FLOPs / time (the same work for every ' +
  'framework, so comparable across them); GFLOP/s executed = executed FLOPs / time (the arithmetic rate of our kernels).';

type MemoryTerm = { name: string; bytes: number };
export type MemoryModel = ReturnType<typeof memoryModel>;

/**
 * What a step must hold at once, at least: the weights, RMSProp's m and v, the activations that a
 * backward rule reads (held until trainStep's tidy ends) and the largest activation gradient.
 * bench/RESULTS.md lists the terms and what is left out; checked against src/model/dcign.ts (which
 * frees what no rule reads), src/train/step.ts and the rules in src/kernels. Why each is held:
 * pooling's rule reads its argmax, not its input, and ReLU's its output, so the conv output and
 * the pooled map are freed; the next conv's weight gradient reads the ReLU output (stage 3's
 * through the flattening view the heads' weight gradients read); the folded conv's input gradient
 * reads the folded weights, and its weight gradient the un-upsampled input (no upsampled map
 * exists); the folded conv writes the layer's output, interleaved and through its ReLU, directly. Each tensor of the graph gets a gradient of its own size, so the largest is that of the
 * largest tensor other than the images and encoder.conv1's output, whose gradient is never made
 * (its weight gradient reads the pooled gradient and the argmax; at the paper preset that of
 * decoder.conv3's output or its stacked form, the same size).
 */
export function memoryModel(c: DcignConfig, N: number) {
  const net = network(c);
  const b = (perImage: number) => 4 * N * perImage;
  const byName = new Map(net.activations.map((a) => [a.name, a.perImage]));
  const acts: MemoryTerm[] = [{ name: 'images', bytes: b(byName.get('images')!) }];
  for (let i = 1; i <= 3; i++) {
    const p = byName.get(`encoder.pool${i} out`)!;
    acts.push({ name: `encoder.pool${i} argmax`, bytes: b(p) }, { name: `encoder.relu${i} out`, bytes: b(p) });
  }
  const L = c.latents;
  const fcOut = byName.get('decoder.fc out')!;
  acts.push({ name: 'mu, logvar after the clamp, eps, z', bytes: b(4 * L) });
  acts.push({ name: 'decoder.fc relu out', bytes: b(fcOut) });
  const decoder = net.convs.filter((l) => l.kFolded !== null);
  decoder.forEach((l, k) => {
    acts.push({ name: `${l.name} folded weights [${4 * l.O},${l.C},${l.kFolded},${l.kFolded}]`, bytes: 4 * 4 * l.O * l.C * l.kFolded! * l.kFolded! });
    acts.push({ name: k < decoder.length - 1 ? `decoder.relu${k + 1} out` : 'sigmoid out', bytes: b(byName.get(`${l.name} out`)!) });
  });
  const unread: MemoryTerm[] = [
    { name: 'encoder.mu, encoder.logvar matmul outputs (before the bias add)', bytes: b(2 * L) },
    { name: 'mu, logvar before the clamp', bytes: b(2 * L) },
    { name: 'decoder.fc matmul output (before the bias add)', bytes: b(fcOut) },
    { name: 'decoder folded biases', bytes: decoder.reduce((a, l) => a + 4 * 4 * l.O, 0) },
  ];
  const grads = net.activations.filter((a) => a.name !== 'images' && a.name !== 'encoder.conv1 out');
  const big = grads.reduce((x, y) => (y.perImage > x.perImage ? y : x));
  const weights = 4 * net.params;
  const activationBytes = acts.reduce((a, t) => a + t.bytes, 0);
  const largestGradient = { name: `d ${big.name}`, bytes: b(big.perImage) };
  return {
    weights, optimizer: 2 * weights, activations: acts, activationBytes, largestGradient,
    total: 3 * weights + activationBytes + largestGradient.bytes,
    // Not in the total: held to the step's end though no rule reads them, and the parameter
    // gradients, which fill up to the weights' size during backward.
    unread, parameterGradients: weights,
    // Of the activations, the step's inputs made before it (images, eps).
    stepInputs: acts[0]!.bytes + b(L),
  };
}
