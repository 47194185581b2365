// Picks between kernel variants per adapter by timing them. Ops record work synchronously, and
// timing needs the GPU to finish, so a key seen for the first time runs the fallback variant and
// is queued; settle() (the trainer after its first step, the benches after a warm-up) times each
// queued key's candidates on zero-filled stand-ins of its operands and keeps the fastest for the
// rest of the process and, in Node, in a JSON file shared by later runs (src/gpu/autotune-file.ts).
// Nothing here reads files, so browsers keep their picks in memory.
import { GpuMarks } from './marks.js';

export const CONV_VARIANTS = ['register', 'tiled'] as const;
export type ConvVariant = (typeof CONV_VARIANTS)[number];
/** 'auto': the autotune's pick. */
export type ConvChoice = ConvVariant | 'auto';

/** Checks a variant named by a flag, option or environment variable; the error names `what`. */
export function parseConvChoice(what: string, value: string): ConvChoice {
  if (value === 'auto' || (CONV_VARIANTS as readonly string[]).includes(value)) return value as ConvChoice;
  throw new Error(`${what} must be ${CONV_VARIANTS.join(', ')} or auto, got "${value}"`);
}

/** Bumped when a variant's kernels change enough to make older timings misleading. */
const VERSION = 1;

export interface TuneEntry {
  pick: string;
  /** Best time of each candidate in ms (null: it failed to run). */
  ms: Record<string, number | null>;
  /** 'timestamps' (GPU) or 'wall' (around a sync). */
  clock: string;
  date: string;
}

/** Where picks persist between processes. */
export interface TuneStore {
  readonly where: string;
  load(): Record<string, TuneEntry>;
  save(entries: Record<string, TuneEntry>): void;
}

/** What the timing needs from the engine (an interface: the engine imports this file). */
export interface TuneDevice {
  device: GPUDevice;
  flush(): void;
  sync(): Promise<void>;
}

/** One queued key's operands: run(c) records candidate c's work and returns what to dispose after it. */
export interface TuneTrial {
  run(candidate: string): { dispose(): void };
  dispose(): void;
}

interface Pending {
  candidates: readonly string[];
  prepare: () => TuneTrial;
}

const REPEATS = 3;

export class Autotune {
  private entries: Record<string, TuneEntry>;
  private pending = new Map<string, Pending>();
  /** The variant each key ran with most recently in this process, tuned or not, for reports. */
  readonly used = new Map<string, string>();

  constructor(
    private readonly adapter: string,
    private readonly gpu: TuneDevice,
    private readonly store: TuneStore | null = null,
  ) {
    this.entries = store?.load() ?? {};
  }

  private fullKey(key: string): string {
    return `v${VERSION} ${this.adapter} | ${key}`;
  }

  /** The stored pick for key, or the fallback with the key queued for settle(). */
  pick(key: string, candidates: readonly string[], fallback: string, prepare: () => TuneTrial): string {
    const hit = this.entries[this.fullKey(key)]?.pick;
    if (hit !== undefined && candidates.includes(hit)) {
      this.used.set(key, hit);
      return hit;
    }
    if (!this.pending.has(key)) this.pending.set(key, { candidates, prepare });
    this.used.set(key, `${fallback} (not yet tuned)`);
    return fallback;
  }

  /** The stored result for a key, if any. */
  entry(key: string): TuneEntry | undefined {
    return this.entries[this.fullKey(key)];
  }

  get queued(): number {
    return this.pending.size;
  }

  /** Times every queued key's candidates and keeps the fastest. */
  async settle(log?: (line: string) => void): Promise<void> {
    if (!this.pending.size) return;
    await this.gpu.sync();
    const found: Record<string, TuneEntry> = {};
    for (const [key, p] of [...this.pending]) {
      this.pending.delete(key);
      const entry = await this.measure(p);
      found[this.fullKey(key)] = entry;
      this.entries[this.fullKey(key)] = entry;
      this.used.set(key, entry.pick);
      const times = Object.entries(entry.ms).map(([c, ms]) => `${c} ${ms === null ? 'failed' : `${ms.toFixed(2)} ms`}`);
      log?.(`autotune ${key}: ${entry.pick} (${times.join(', ')})`);
    }
    if (this.store) {
      // Merged into what the file holds now: another process may have tuned other keys meanwhile.
      this.store.save({ ...this.store.load(), ...found });
    }
  }

  private async measure(p: Pending): Promise<TuneEntry> {
    const trial = p.prepare();
    const marks = GpuMarks.available(this.gpu.device) ? new GpuMarks(this.gpu.device, 2) : null;
    const best: Record<string, number | null> = {};
    try {
      // A first run of each compiles its pipelines; a candidate that fails there drops out.
      for (const c of p.candidates) {
        try {
          trial.run(c).dispose();
          await this.gpu.sync();
          best[c] = Infinity;
        } catch {
          best[c] = null;
        }
      }
      // Candidates interleaved, so that a change of load mid-way costs them alike.
      for (let r = 0; r < REPEATS; r++) {
        for (const c of p.candidates) {
          if (best[c] === null) continue;
          best[c] = Math.min(best[c]!, await this.time(trial, c, marks));
        }
      }
    } finally {
      trial.dispose();
      marks?.destroy();
    }
    const ok = p.candidates.filter((c) => best[c] !== null);
    const pick = ok.reduce((a, c) => (best[c]! < best[a]! ? c : a), ok[0] ?? p.candidates[0]!);
    return { pick, ms: best, clock: marks ? 'timestamps' : 'wall', date: new Date().toISOString() };
  }

  private async time(trial: TuneTrial, c: string, marks: GpuMarks | null): Promise<number> {
    if (marks) {
      this.gpu.flush();
      marks.mark();
      const out = trial.run(c);
      this.gpu.flush();
      marks.mark();
      await this.gpu.sync();
      out.dispose();
      const [, end] = await marks.collect();
      return end!;
    }
    const t0 = performance.now();
    const out = trial.run(c);
    await this.gpu.sync();
    const ms = performance.now() - t0;
    out.dispose();
    return ms;
  }
}
