// The training progress line. Steps are queued on the GPU faster than it runs them until a log
// step reads the losses back, so a step count only says how far the GPU has got at a log step:
// the rate and the ETA are measured between those, over the last few minutes.
import cliProgress from 'cli-progress';

/** Steps per second between the completed steps of the recent past, and the time left at that rate. */
export class StepRate {
  private samples: { step: number; t: number }[] = [];

  constructor(readonly total: number, readonly windowSeconds = 300) {}

  /** `step` steps are finished on the GPU at time t (seconds). Steps that do not advance are ignored. */
  completed(step: number, t: number): void {
    const last = this.samples.at(-1);
    if (last && step <= last.step) return;
    this.samples.push({ step, t });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= this.windowSeconds) this.samples.shift();
  }

  /** Steps per second, once two samples exist. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.t <= first.t) return undefined;
    return (last.step - first.step) / (last.t - first.t);
  }

  /** Seconds to the last step from time t. */
  eta(t: number): number | undefined {
    const rate = this.rate();
    const last = this.samples.at(-1);
    if (!rate || !last) return undefined;
    return Math.max(0, (this.total - last.step) / rate - (t - last.t));
  }
}

/** 42s, 23m55s, 1h01m. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface TrainProgress {
  /** Step `step` is queued (every step). */
  step(step: number): void;
  /** Step `step`'s losses are read back: the GPU has finished it. */
  log(step: number, lossPerImage: number, kind: string): void;
  stop(): void;
}

const now = () => performance.now() / 1000;

/**
 * A bar redrawn in place on a terminal; elsewhere (a pipe, a log file) one line per log step at
 * most every `quietSeconds`, and none while nothing has changed.
 */
export function trainProgress(total: number, start: number, tty: boolean, quietSeconds = 10, clock = now): TrainProgress {
  const rate = new StepRate(total);
  let loss = '-';
  let kind = '-';
  // `left`, not `eta`: cli-progress fills {eta} with its own estimate.
  const fields = () => ({ rate: rate.rate()?.toFixed(2) ?? '-', left: formatDuration(rate.eta(clock())), loss, kind });
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: 'step {value}/{total} |{bar}| {rate} steps/s, eta {left}, loss/image {loss} ({kind})', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, fields());
    return {
      step: (s) => bar.update(s, fields()),
      log: (s, l, k) => {
        rate.completed(s, clock());
        [loss, kind] = [l.toFixed(1), k];
        bar.update(fields());
      },
      stop: () => bar.stop(),
    };
  }
  let printed = -Infinity;
  return {
    step: () => {},
    log: (s, l, k) => {
      rate.completed(s, clock());
      [loss, kind] = [l.toFixed(1), k];
      if (clock() - printed < quietSeconds && s < total) return;
      printed = clock();
      const f = fields();
      console.error(`step ${s}/${total}, ${f.rate} steps/s, eta ${f.left}, loss/image ${f.loss} (${f.kind})`);
    },
    stop: () => {},
  };
}
