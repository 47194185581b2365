// The autotune's picks on disk, for Node only (browsers keep them in memory): one JSON file per
// user, keyed by adapter, so that a training run or bench on the same machine skips the timing.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TuneEntry, TuneStore } from './autotune.js';

/** DCIGN_AUTOTUNE, else $XDG_CACHE_HOME (default ~/.cache)/dcign-webgpu/autotune.json. */
export function autotunePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DCIGN_AUTOTUNE) return env.DCIGN_AUTOTUNE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'dcign-webgpu', 'autotune.json');
}

export function fileTuneStore(path: string): TuneStore {
  return {
    where: path,
    load() {
      // A missing or damaged file is an empty cache: it only costs a new timing.
      try {
        const parsed = JSON.parse(readFileSync(path, 'utf8')) as { entries?: Record<string, TuneEntry> };
        return parsed.entries && typeof parsed.entries === 'object' ? parsed.entries : {};
      } catch {
        return {};
      }
    },
    save(entries) {
      // Written whole beside the file and renamed over it, so a reader never sees half a file.
      try {
        mkdirSync(dirname(path), { recursive: true });
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify({ entries }, null, 2) + '\n');
        renameSync(tmp, path);
      } catch (e) {
        console.warn(`autotune: could not save ${path}: ${(e as Error).message}`);
      }
    },
  };
}
