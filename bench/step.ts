// `npm run bench -- step`: one DC-IGN training step (forward, backward, RMSProp) of ours
// (src/train/step.ts's trainStep) and of the same network in tfjs-backend-webgpu (bench/tfjs-dcign.ts)
// and in jax-js (bench/jax-dcign.ts) from the same weights, images and eps, so that their losses
// agree step by step. bench/RESULTS.md says how each side is timed and what the FLOPs and the
// memory model (dcign-costs.ts) count.
import type { Engine } from '../src/node.js';
import { Tensor, tidy } from '../src/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { foldGeometry } from '../src/kernels/upconv.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset } from '../src/model/presets.js';
import { RMSProp } from '../src/train/optim.js';
import { trainStep, type StepOptions as TrainStepOptions } from '../src/train/step.js';
import { passThrough, type BatchKind } from '../src/train/schedule.js';
import { renderBatch } from '../src/data/batches.js';
import { FLOPS_NOTE, memoryModel, stepFlops } from './dcign-costs.js';
import { network, type Network } from '../src/model/network.js';
import { GpuMarks } from '../src/gpu/marks.js';
import { Rng } from '../src/data/rng.js';
import { loadAverage } from './timing.js';
import { compareLosses, emptyRow, perImage, readLosses, timeSteps, type Load, type LossCheck, type StepFlopCounts } from './step-row.js';
import { instrumentedStep, profileDispatches, summarise, tracePool, type Context, type ProfileEntry } from './step-trace.js';
import { runTfjs } from './step-tfjs.js';
import { runJax } from './step-jax.js';
import { runTorch } from './step-torch.js';
import type { BenchOptions } from './options.js';
import { fmtMB, stepText } from './step-text.js';

/** How many convolution op shapes (op and operand shapes) ran each variant, e.g. "register 10, tiled 8". */
function convVariantSummary(engine: Engine): string {
  const counts = new Map<string, number>();
  for (const v of engine.autotune.used.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([v, n]) => `${v} ${n}`).join(', ') || 'none';
}

/** Ours: a traced warm-up step, the timed steps, and with profile one more step with every dispatch timed alone. */
async function runOurs(
  engine: Engine,
  model: Dcign,
  images: Tensor,
  eps: Tensor,
  net: Network,
  { kind, seed, steps, profile, flops, log }: { kind: BatchKind; seed: number; steps: number; profile: boolean; flops: StepFlopCounts; log: (l: string) => void },
) {
  const N = images.shape[0]!;
  const params = [...model.parameters()];
  const optimizer = new RMSProp(params.map(([, p]) => p));
  const o = (step: number): TrainStepOptions => ({ procedure: 'clamped', seed, step, eps });
  await engine.sync();

  // The step's pipelines, compiled in parallel by a dry run, as the trainer does before its first step.
  const tc = performance.now();
  const compiled = await engine.precompile(() =>
    tidy(() => {
      const standIn = new RMSProp(params.map(([, p]) => p));
      const { bce, kl } = trainStep(model, standIn, images, kind, o(0));
      bce.dispose();
      kl.dispose();
      standIn.dispose();
    }),
  );
  log(`  ours precompile: ${compiled} pipelines in ${((performance.now() - tc) / 1000).toFixed(1)} s`);

  // Warm-up: trainStep's calls one by one, with the pool traced.
  const persistent = engine.pool.stats.inUseBytes;
  const held = [...params.map(([, p]) => p), ...optimizer.m, ...optimizer.v, images, eps];
  const ctx: Context = { label: 'idle' };
  const t0 = performance.now();
  const trace = tracePool(engine, held.reduce((a, t) => a + Math.max(4, t.size * 4), 0), () => ctx.label);
  let warm: { bce: Tensor; kl: Tensor };
  try {
    warm = instrumentedStep(model, optimizer, images, kind, o(0), ctx, net, (phase) => trace.mark(phase));
  } finally {
    trace.restore();
  }
  await engine.sync();
  const warmMs = performance.now() - t0;
  // Losses of the warm-up and timed steps go on record (compared with tfjs's); the profile step's does not.
  const losses = [await readLosses(warm)];
  log(`  ours warm-up: ${(warmMs / 1000).toFixed(1)} s, ${perImage(losses[0]!, N)}`);
  const sizeName = (bytes: number) => {
    const acts = net.activations.filter((a) => a.perImage * N * 4 === bytes).map((a) => a.name);
    const names = acts.length ? acts : params.filter(([, p]) => p.size * 4 === bytes).map(([name]) => name);
    return names.length ? ` [${names.join('/')} sized]` : '';
  };
  const memory = summarise(trace, persistent, sizeName);
  // With convVariant auto the warm-up ran untuned convolution shapes with the fallback: time the
  // candidates now, so that the timed steps run the picks.
  await engine.autotune.settle((l) => log(`  ${l}`));
  const convVariants = convVariantSummary(engine);
  log(`  convolution variants: ${convVariants}`);

  // Timed steps: trainStep itself, the pool's peak over each.
  const row = emptyRow('ours', model.config.preset, N, steps, flops);
  row.peakBytes = 0;
  let counted = { ...engine.stats };
  const settle = async () => {
    await engine.sync();
    engine.pool.resetPeak();
    counted = { ...engine.stats };
  };
  const step = (i: number) => trainStep(model, optimizer, images, kind, o(i));
  const note = () => {
    row.peakBytes = Math.max(row.peakBytes!, engine.pool.stats.peakInUseBytes);
    // The step alone (its losses are read after): the same every step.
    row.dispatchesPerStep = engine.stats.dispatches - counted.dispatches;
    row.copiesPerStep = engine.stats.copies - counted.copies;
    row.submitsPerStep = engine.stats.submits - counted.submits;
    return `${row.dispatchesPerStep} dispatches, ${row.copiesPerStep} copies, ${row.submitsPerStep} submits, pool peak ${fmtMB(engine.pool.stats.peakInUseBytes)}, `;
  };
  losses.push(...(await timeSteps(row, { device: engine.device, settle, step, submit: () => engine.flush(), note }, log)));
  row.allocatedBytes = engine.pool.stats.allocatedBytes;

  // What an encode of one image records (the browser's job): no gradient, one flush.
  const S = model.config.imageSize;
  const one = Tensor.fromData(new Float32Array(S * S), [1, 1, S, S], 'f32', engine);
  await engine.sync();
  const before = { ...engine.stats };
  const code = noGrad(() => model.encode(one));
  engine.flush();
  const encodeDispatches = engine.stats.dispatches - before.dispatches;
  log(`  ours encode of one image: ${encodeDispatches} dispatches, ${engine.stats.submits - before.submits} submit`);
  for (const t of [one, code.mu, code.logvar]) t.dispose();

  // Profile: one more step, every dispatch submitted alone between two timestamps.
  let prof: { entries: ProfileEntry[]; totalMs: number } | null = null;
  if (profile && !GpuMarks.available(engine.device)) log('  profile: skipped (no timestamp-query on this device)');
  else if (profile) {
    const p = await profileDispatches(engine, ctx, () => instrumentedStep(model, optimizer, images, kind, o(steps + 1), ctx, net, () => {}));
    await readLosses(p.result);
    log(`  ours profile step: ${p.dispatches} dispatches, ${p.totalMs.toFixed(0)} ms GPU in all`);
    prof = p;
  }
  optimizer.dispose();
  return { row, losses, memory, profile: prof?.entries ?? null, profileTotalMs: prof?.totalMs ?? null, convVariants, encodeDispatches };
}

export async function benchStep(engine: Engine, opts: BenchOptions = {}) {
  const { log = () => {}, preset = 'paper', batch: N = 20, steps = 3, kind = 'az' } = opts;
  const seed = 1;
  const c = getPreset(preset);
  // tfjs takes minutes a step on a software adapter: one timed step there unless asked for more.
  const tfjsSteps = opts.tfjsSteps ?? (engine.software ? 1 : steps);
  const net = network(c);
  const flops = stepFlops(net, N);
  const wantTfjs = opts.tfjs !== false;
  const wantJax = opts.jax !== false;
  const jaxSteps = opts.jaxSteps ?? steps;
  const wantTorch = opts.torch === true;
  const torchSteps = opts.torchSteps ?? Math.max(2 * steps, 5);
  log(
    `step: preset ${preset}, batch ${N} (${kind} batch: latents [${passThrough(kind, c.latents).join(', ')}) pass through), ` +
      `${(flops.total / 1e9).toFixed(1)} GFLOP per step nominal, ${(flops.executedTotal / 1e9).toFixed(1)} executed by ours; ours ${steps} timed step(s), ` +
      (wantTfjs ? `tfjs ${tfjsSteps}` : 'tfjs off') + ', ' + (wantJax ? `jax-js ${jaxSteps}` : 'jax-js off') +
      (wantTorch ? `, PyTorch CPU ${torchSteps}` : '') + ', one warm-up each',
  );

  // One fixed batch of rendered faces and one fixed eps, shared by every side.
  const images = renderBatch({ type: kind, seed, count: N }, { size: c.imageSize }, engine).images;
  const epsData = Float32Array.from(Rng.fromSeed(seed + 7).normals(N * c.latents));
  const eps = Tensor.fromData(epsData, [N, c.latents], 'f32', engine);
  const model = new Dcign(c, seed, engine);
  const kF = foldGeometry('bench step', model.decoder.conv1.weight, c.decoderPadding).KF;
  if (net.convs.some((l) => l.kFolded !== null && l.kFolded !== kF)) throw new Error(`bench step: the folded kernel side is ${kF}, not what network() assumes`);
  await engine.sync();
  const weights = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  const peers = wantTfjs || wantJax;
  if (peers) for (const [name, p] of model.parameters()) weights.set(name, { data: await p.data(), shape: p.shape });
  const imageData = peers ? await images.data() : null;

  const oursLoad = loadAverage();
  const ours = await runOurs(engine, model, images, eps, net, { kind, seed, steps, profile: opts.profile ?? false, flops: { nominal: flops.total, executed: flops.executedTotal }, log });
  const loadDuring: { ours: Load; tfjs: Load | null; jax: Load | null; pytorch: Load | null } = { ours: [oursLoad, loadAverage()], tfjs: null, jax: null, pytorch: null };
  model.dispose();
  images.dispose();
  eps.dispose();
  engine.pool.trim();
  await engine.sync();

  const rows = [ours.row];
  const lossChecks: { tfjs?: LossCheck; jax?: LossCheck } = {};
  const setup = { config: c, batch: N, images: imageData!, eps: epsData, pass: passThrough(kind, c.latents), weights, rms: { lr: 5e-4, b1: 0.1, b2: 0.01, eps: 1e-8 } };
  // The peers run the paper's network directly: they execute the nominal FLOPs.
  const peerFlops = { nominal: flops.total, executed: flops.total };
  const peer = async (name: 'tfjs' | 'jax', run: () => Promise<{ row: (typeof rows)[number]; losses: typeof ours.losses; loaded: boolean }>) => {
    const start = loadAverage();
    const r = await run();
    if (r.loaded) loadDuring[name] = [start, loadAverage()];
    rows.push(r.row);
    const check = compareLosses(ours.losses, r.losses);
    if (check) lossChecks[name] = check;
  };
  if (wantTfjs) await peer('tfjs', () => runTfjs(setup, tfjsSteps, peerFlops, opts.tfjsSteps !== undefined, log));
  if (wantJax) await peer('jax', () => runJax(setup, jaxSteps, peerFlops, log));
  if (wantTorch) {
    // Its own weights and images: its time is compared, its losses are not.
    const start = loadAverage();
    const r = runTorch({ preset, batch: N, steps: torchSteps, kind }, peerFlops, log);
    if (r.loaded) loadDuring.pytorch = [start, loadAverage()];
    rows.push(r.row);
  }

  const result = {
    rows, preset, batch: N, batchKind: kind,
    timing:
      'wall-clock ms per step with a sync per step (no readback inside), median of the timed steps after one warm-up; ' +
      'GPU span: timestamps written before and after the step on the device queue (idle gaps included)',
    flopsNote: FLOPS_NOTE, flopsPerLayer: flops.perLayer, memoryModel: memoryModel(c, N), oursMemory: ours.memory, lossChecks,
    profile: ours.profile, profileTotalMs: ours.profileTotalMs, loadDuring,
    convVariant: engine.convVariant, convVariants: ours.convVariants, encodeDispatches: ours.encodeDispatches,
  };
  return { ...result, text: `${stepText(result, opts.memory)}\nConvolutions of ours (${engine.convVariant}): ${ours.convVariants}` };
}
