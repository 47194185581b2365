// Atomic file writes for checkpoints and logs (Node only): write a temporary file in the same
// folder, fsync it, then rename over the target, so a crash leaves either the old or the new file.
import { closeSync, fsyncSync, openSync, renameSync, writeSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const fd = openSync(tmp, 'w');
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
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
