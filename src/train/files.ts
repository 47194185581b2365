// Atomic file writes for checkpoints and logs (Node only): write a temporary file in the same
// folder, fsync it, then rename over the target, so a crash leaves either the old or the new file.
import { closeSync, fsyncSync, openSync, renameSync, writeSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';

/**
 * Test hook (armed by src/train/faults.ts): the next write to a file of this name stops halfway
 * with ENOSPC, as a full disk would stop it.
 */
export const writeFaults: { enospcAt: string | null } = { enospcAt: null };

function injectedEnospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const fd = openSync(tmp, 'w');
  try {
    let at = 0;
    const fault = writeFaults.enospcAt === basename(path);
    if (fault) writeFaults.enospcAt = null;
    const stop = fault ? bytes.length >> 1 : bytes.length;
    while (at < stop) at += writeSync(fd, bytes, at, stop - at);
    if (fault) throw injectedEnospc();
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    // The target stays as it was; the temporary copy would otherwise be left beside it.
    rmSync(tmp, { force: true });
    throw e;
  }
  // The rename itself is durable once the folder's entry is on disk.
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* some filesystems refuse fsync on folders */
  }
}
