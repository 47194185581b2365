// Tracing a step of ours for `npm run bench -- step`: trainStep's calls run with every layer's
// forward and every backward rule naming itself in a context, the buffer pool followed (requested
// and bucketed bytes, what is live at the peak and who made it), and --profile's dispatches each
// timed alone between GPU timestamps and summed by where they ran and their kernel.
import type { Engine } from '../src/node.js';
import { bucketSize } from '../src/gpu/pool.js';
import { tidy, keep, type Tensor } from '../src/tensor.js';
import { backward, topoSort, zeroGrad } from '../src/autograd/tape.js';
import type { Dcign } from '../src/model/dcign.js';
import type { RMSProp } from '../src/train/optim.js';
import { forwardLosses, type StepOptions as TrainStepOptions } from '../src/train/step.js';
import type { BatchKind } from '../src/train/schedule.js';
import type { Network } from '../src/model/network.js';
import { sumBy, type Context } from './dispatch-profile.js';

// Context: where the instrumented step is, what allocations and dispatches are charged to.
export { profileDispatches, sumBy, type Context, type ProfileEntry } from './dispatch-profile.js';

/**
 * Wraps every layer's forward (and Conv2d's forwardUpsampled, which the decoder calls) so the
 * context names the layer while it runs, and tags the graph nodes the call made (everything
 * between its output and its input: for a decoder layer the weight fold and the folded
 * convolution) with the layer, for instrumentGraph. Returns the undo.
 */
function instrumentLayers(model: Dcign, ctx: Context, layerOf: Map<Tensor, string>): () => void {
  const undo: (() => void)[] = [];
  type Forward = (x: Tensor, ...rest: unknown[]) => Tensor;
  for (const [part, layers] of [['encoder', model.encoder], ['decoder', model.decoder]] as const) {
    for (const [name, layer] of Object.entries(layers) as unknown as [string, Record<string, unknown>][]) {
      const label = `${part}.${name}`;
      for (const method of ['forward', 'forwardPooled', 'forwardUpsampled'] as const) {
        const f = layer[method];
        if (typeof f !== 'function') continue;
        // Every argument passes through: the decoder's layers take their activation as the second.
        layer[method] = (x: Tensor, ...rest: unknown[]) => {
          const prev = ctx.label;
          ctx.label = `forward ${label}`;
          try {
            const y = (f as Forward).call(layer, x, ...rest);
            const stack = [y];
            while (stack.length) {
              const t = stack.pop()!;
              if (t === x || !t.node || layerOf.has(t)) continue;
              layerOf.set(t, label);
              stack.push(...t.node.inputs);
            }
            return y;
          } finally {
            ctx.label = prev;
          }
        };
        undo.push(() => delete layer[method]);
      }
    }
  }
  return () => undo.forEach((u) => u());
}

/**
 * Wraps every backward rule of root's graph so the context names the node whose rule runs: its
 * op and the layer whose forward made it, or else the parameter it reads, or else the
 * activations of its output's size.
 */
function instrumentGraph(root: Tensor | Tensor[], ctx: Context, layerOf: Map<Tensor, string>, paramNames: Map<Tensor, string>, net: Network, N: number): void {
  for (const t of topoSort(root)) {
    const node = t.node;
    if (!node) continue;
    const param = node.inputs.map((i) => paramNames.get(i)).find((n) => n !== undefined)?.replace(/\.(weight|bias)$/, '');
    const acts = net.activations.filter((a) => a.perImage * N === t.size).map((a) => a.name);
    const where = layerOf.get(t) ?? param;
    const label = `backward ${node.op}${where ? ` ${where}` : acts.length ? ` @ ${acts.join('/')}` : ''}`;
    const rule = node.backward;
    node.backward = (g: Tensor, into: readonly (Tensor | null)[], sum: readonly (Tensor | null)[]) => {
      ctx.label = label;
      try {
        return rule(g, into, sum);
      } finally {
        ctx.label = 'backward (gradient accumulation)';
      }
    };
  }
}

/**
 * trainStep's calls (forwardLosses, backward of bce + kl, optimizer.step, zeroGrad, in one tidy)
 * with the context set as they run and onPhase called after each phase.
 */
export function instrumentedStep(
  model: Dcign,
  optimizer: RMSProp,
  images: Tensor,
  kind: BatchKind,
  o: TrainStepOptions,
  ctx: Context,
  net: Network,
  onPhase: (phase: 'forward' | 'backward' | 'optimizer') => void,
): { bce: Tensor; kl: Tensor } {
  const params = [...model.parameters().values()];
  const paramNames = new Map([...model.parameters()].map(([n, t]) => [t, n]));
  const N = images.shape[0]!;
  const layerOf = new Map<Tensor, string>();
  const undo = instrumentLayers(model, ctx, layerOf);
  try {
    return tidy(() => {
      ctx.label = 'forward';
      const { bce, kl } = forwardLosses(model, images, kind, o);
      onPhase('forward');
      ctx.label = 'backward';
      instrumentGraph([bce, kl], ctx, layerOf, paramNames, net, N);
      backward([bce, kl]);
      onPhase('backward');
      ctx.label = 'optimizer';
      optimizer.step();
      zeroGrad(params);
      onPhase('optimizer');
      return { bce: keep(bce), kl: keep(kl) };
    });
  } finally {
    undo();
    ctx.label = 'idle';
  }
}

type PoolTrace = ReturnType<typeof tracePool>;

/** Wraps pool.acquire/release to follow requested bytes, and what is live at the peak and who made it. */
export function tracePool(engine: Engine, persistentRequested: number, who: () => string) {
  const pool = engine.pool;
  const acquire = pool.acquire;
  const release = pool.release;
  const live = new Map<GPUBuffer, { bytes: number; by: string }>();
  let phasePeak = pool.stats.inUseBytes;
  const trace = {
    // Bytes asked for (Tensor.empty), in use, and its peak; the pool rounds each up to a bucket.
    requestedInUse: persistentRequested,
    requestedPeak: persistentRequested,
    // Pool inUseBytes (bucketed) peak and the buffers live at that moment: requested bytes, who asked.
    bucketedPeak: pool.stats.inUseBytes,
    liveAtPeak: [] as { bytes: number; by: string }[],
    // Pool inUseBytes at each phase mark, the peak since the previous mark, and the requested bytes
    // of the buffers made during the step and still held at the mark.
    marks: [] as { phase: string; inUse: number; peakSincePrevious: number; madeHeld: number }[],
    restore: () => {
      pool.acquire = acquire;
      pool.release = release;
    },
    mark: (phase: string) => {
      const madeHeld = [...live.values()].reduce((a, l) => a + l.bytes, 0);
      trace.marks.push({ phase, inUse: pool.stats.inUseBytes, peakSincePrevious: phasePeak, madeHeld });
      phasePeak = pool.stats.inUseBytes;
    },
  };
  pool.acquire = (bytes: number, label?: string) => {
    const buf = acquire.call(pool, bytes, label);
    live.set(buf, { bytes, by: who() });
    trace.requestedInUse += bytes;
    trace.requestedPeak = Math.max(trace.requestedPeak, trace.requestedInUse);
    phasePeak = Math.max(phasePeak, pool.stats.inUseBytes);
    if (pool.stats.inUseBytes > trace.bucketedPeak) {
      trace.bucketedPeak = pool.stats.inUseBytes;
      trace.liveAtPeak = [...live.values()];
    }
    return buf;
  };
  pool.release = (buf: GPUBuffer) => {
    const req = live.get(buf);
    if (req !== undefined) {
      live.delete(buf);
      trace.requestedInUse -= req.bytes;
    } else trace.requestedInUse -= buf.size;
    release.call(pool, buf);
  };
  return trace;
}

/**
 * The traced step's numbers: pool bytes in use before the step (weights, m, v, the images and eps)
 * and at the end of the forward; the requested bytes the forward made and still held at its end;
 * each phase's peak; the peaks of the bytes kernels asked for and of the pool's bucketed bytes; the
 * buffers made during the step and live at the bucketed peak, largest first, and summed by who
 * asked.
 */
export function summarise(trace: PoolTrace, persistent: number, sizeName: (bytes: number) => string) {
  const [fwd, bwd, opt] = trace.marks;
  const live = [...trace.liveAtPeak].sort((a, b) => b.bytes - a.bytes).map((l) => ({ bytes: l.bytes, bucket: bucketSize(l.bytes), by: `${l.by}${sizeName(l.bytes)}` }));
  return {
    persistent,
    afterForward: fwd.inUse,
    madeInForwardHeld: fwd.madeHeld,
    peakForward: fwd.peakSincePrevious,
    peakBackward: bwd.peakSincePrevious,
    peakOptimizer: opt.peakSincePrevious,
    requestedPeak: trace.requestedPeak,
    bucketedPeak: trace.bucketedPeak,
    liveAtPeak: live,
    liveAtPeakByOwner: sumBy(live, (l) => l.by, (l) => l.bytes).map((g) => ({ by: g.key, bytes: g.total, buffers: g.count })),
  };
}

export type OursMemory = ReturnType<typeof summarise>;
