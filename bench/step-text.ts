// The text of `npm run bench -- step`'s result: the rows as a table, the memory against the
// analytic model and the traced warm-up step, and --profile's dispatches by kernel and by layer.
import type { BatchKind } from '../src/train/schedule.js';
import { FLOPS_NOTE, type MemoryModel } from './dcign-costs.js';
import type { Load, LossCheck, StepRow } from './step-row.js';
import { sumBy, type OursMemory, type ProfileEntry } from './step-trace.js';
import { table } from './timing.js';

const MB = (bytes: number) => bytes / 1e6;
export const fmtMB = (bytes: number | null) => (bytes === null ? '-' : `${MB(bytes).toFixed(1)} MB`);
/** A line of a list of sizes: the MB right-aligned, then what. */
const mbLine = (bytes: number, what: string) => `    ${MB(bytes).toFixed(1).padStart(8)} MB  ${what}`;

function tracedText(title: string, mm: OursMemory): string[] {
  const out: string[] = [];
  out.push(
    `  ${title}: before ${MB(mm.persistent).toFixed(1)}, end of forward ${MB(mm.afterForward).toFixed(1)}, ` +
      `peak in backward ${MB(mm.peakBackward).toFixed(1)}, in the optimizer ${MB(mm.peakOptimizer).toFixed(1)} MB; ` +
      `peak requested ${MB(mm.requestedPeak).toFixed(1)} vs bucketed ${MB(mm.bucketedPeak).toFixed(1)} MB (bucketing +${((mm.bucketedPeak / mm.requestedPeak - 1) * 100).toFixed(0)}%)`,
  );
  const made = mm.liveAtPeak.reduce((x, l) => x + l.bucket, 0);
  out.push(
    `    at the peak: ${mm.liveAtPeak.length} buffers made during the step (${MB(made).toFixed(1)} MB bucketed) on top of ` +
      `the ${MB(mm.persistent).toFixed(1)} MB held before it; by the op that made them and their size (requested bytes):`,
  );
  for (const l of mm.liveAtPeakByOwner.slice(0, 24)) out.push(mbLine(l.bytes, `${String(l.buffers).padStart(3)} x  ${l.by}`));
  return out;
}

/** A peer's time against ours: "2.31x slower" or "1.75x faster". */
function versus(theirs: number, ours: number): string {
  return theirs >= ours ? `${(theirs / ours).toFixed(2)}x slower` : `${(ours / theirs).toFixed(2)}x faster`;
}

/** The step bench's result as text; memoryDetail (--memory): the traced step buffer by buffer and the model's terms one by one. */
export function stepText(
  a: {
    rows: StepRow[];
    batchKind: BatchKind;
    memoryModel: MemoryModel;
    oursMemory: OursMemory;
    lossChecks: { tfjs?: LossCheck; jax?: LossCheck };
    profile: ProfileEntry[] | null;
    profileTotalMs: number | null;
    loadDuring: { ours: Load; tfjs: Load | null; jax: Load | null; pytorch: Load | null };
  },
  memoryDetail = false,
): string {
  const oursRow = a.rows[0]!;
  const N = oursRow.batch;
  const out: string[] = [];
  out.push(
    `DC-IGN training step, preset ${oursRow.preset}, batch ${N} (${a.batchKind}), ${(oursRow.flopsPerStep / 1e9).toFixed(1)} GFLOP per step nominal ` +
      `(the paper's network run directly), ${(oursRow.executedFlopsPerStep / 1e9).toFixed(1)} GFLOP executed by ours (decoder convolutions folded).`,
  );
  out.push(
    table(
      ['framework', 'ms/step', 'GPU span ms', 'steps', 'dispatches / copies / submits', 'GFLOP/s nominal', 'GFLOP/s executed', 'peak bytes', 'allocated', 'bce/image', 'kl/image', 'vs ours', '1-min load'],
      a.rows.map((r) => {
        const ld = a.loadDuring[r.framework];
        return [
          r.framework,
          r.msPerStep ?? 'fails',
          r.gpuMsPerStep ?? '-',
          r.msPerStep === null ? '-' : `${r.stepMs.length}+${r.warmup}`,
          r.dispatchesPerStep === null ? '-' : `${r.dispatchesPerStep} / ${r.copiesPerStep} / ${r.submitsPerStep}`,
          r.gflops ?? '-',
          r.executedGflops ?? '-',
          fmtMB(r.peakBytes),
          fmtMB(r.allocatedBytes),
          r.bcePerImage === null ? '-' : r.bcePerImage.toFixed(1),
          r.klPerImage === null ? '-' : r.klPerImage.toFixed(3),
          r.framework === 'ours' || r.msPerStep === null || !oursRow.msPerStep ? '-' : versus(r.msPerStep, oursRow.msPerStep),
          ld ? `${ld[0]} -> ${ld[1]}` : '-',
        ];
      }),
    ),
  );
  for (const r of a.rows) if (r.error) out.push(`${r.framework} fails: ${r.error}`);
  const torch = a.rows.find((r) => r.framework === 'pytorch' && r.msPerStep !== null);
  if (torch && oursRow.msPerStep) {
    out.push(`ours / PyTorch CPU: ${(oursRow.msPerStep / torch.msPerStep!).toFixed(2)} (PyTorch trains from its own weights and images, so its losses are not shown)`);
  }
  for (const [peer, check] of Object.entries(a.lossChecks)) {
    out.push(`losses ours vs ${peer} (same weights, images, eps): max relative difference ${check.maxRelDiff.toExponential(1)} over ${check.steps} step(s)`);
  }
  out.push('peak bytes: ours, the buffer pool peakInUseBytes over a timed step; tfjs, its buffer manager peak numBytesUsed; jax-js, the live buffers of its device (its reuse pool included) at their peak over a timed step.');
  out.push(FLOPS_NOTE);

  const m = a.memoryModel;
  const mm = a.oursMemory;
  const peak = oursRow.peakBytes ?? mm.bucketedPeak;
  out.push('');
  out.push(`Memory at batch ${N} (MB = 1e6 bytes):`);
  out.push(
    `  analytic: weights ${MB(m.weights).toFixed(1)} + m, v ${MB(m.optimizer).toFixed(1)} + activations kept for backward ${MB(m.activationBytes).toFixed(1)} ` +
      `+ largest gradient (${m.largestGradient.name}) ${MB(m.largestGradient.bytes).toFixed(1)} = ${MB(m.total).toFixed(1)} MB`,
  );
  out.push(`  pool peak in a timed step ${MB(peak).toFixed(1)} MB = ${(peak / m.total).toFixed(2)}x the analytic sum (target: at most 1.5x)`);
  const unread = m.unread.reduce((x, t) => x + t.bytes, 0);
  out.push(
    `  not in the sum: the parameter gradients ${MB(m.parameterGradients).toFixed(1)} MB (built up during backward), ` +
      `${MB(unread).toFixed(1)} MB held to the step's end that no rule reads (below), the gradient beside the largest, ` +
      'conv weight-gradient scratch, bucketing',
  );
  if (memoryDetail) {
    out.push(...tracedText('warm-up step (trainStep\'s calls), traced', mm));
    out.push(
      `  the model against that trace: the forward made and still held at its end ${MB(mm.madeInForwardHeld).toFixed(1)} MB (requested bytes); ` +
        `analytic activations + unread, less the step's inputs made before it (images, eps), ${MB(m.activationBytes + unread - m.stepInputs).toFixed(1)} MB`,
    );
    out.push('  analytic activations kept for backward (read by a rule):');
    for (const t of m.activations) out.push(mbLine(t.bytes, t.name));
    out.push('  held to the step\'s end, read by no rule (not in the sum):');
    for (const t of m.unread) out.push(mbLine(t.bytes, t.name));
  } else out.push('  (--memory: the traced step buffer by buffer, and the model\'s terms one by one)');

  if (a.profile && a.profileTotalMs) {
    const total = a.profileTotalMs;
    out.push('');
    out.push(`Profile of one more step of ours: each dispatch submitted alone between GPU timestamps, ${total.toFixed(0)} ms in all.`);
    const layerOf = (e: ProfileEntry) =>
      /^(?:forward|backward \S+) ((?:encoder|decoder)\.\w+)/.exec(e.what)?.[1] ?? `${e.what.split(': ')[1]!.split(' ')[0]} (not in a layer)`;
    const byLayer = sumBy(a.profile, layerOf, (e) => e.ms);
    const pct = (ms: number) => `${((ms / total) * 100).toFixed(1)}%`;
    out.push(
      table(
        ['where: kernel', 'dispatches', 'ms', 'share'],
        a.profile.filter((e) => e.ms >= total * 0.003).map((e) => [e.what, String(e.dispatches), e.ms, pct(e.ms)]),
      ),
    );
    out.push(`by layer (forward, backward rule and bias): ${byLayer.map((g) => `${g.key} ${pct(g.total)}`).join(', ')}`);
  }
  return out.join('\n');
}
