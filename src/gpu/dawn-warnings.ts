// Dawn prints two warnings whenever it discovers a Vulkan adapter whose dynamic-buffer limits are
// above its own (lavapipe's are), from native code straight to file descriptor 2: the `webgpu`
// package exposes no logging callback to catch them. They say nothing a user can act on, so the
// engine drops them here and lets everything else Dawn prints through.
import { closeSync, constants, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const KNOWN = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;

/** The text without Dawn's two known warning lines. */
export function dropKnownWarnings(text: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((line) => !KNOWN.test(line.replace(/\n$/, '')))
    .join('');
}

/**
 * Runs fn, a synchronous call into Dawn (adapter discovery happens inside requestAdapter() before
 * it returns), with file descriptor 2 pointed at a temporary file, then writes what fn printed
 * there, less the known warnings, to the real stderr. Node cannot dup a descriptor, so the real
 * stderr is reopened through /proc: that works for a terminal and a pipe (Linux only). A socket
 * cannot be reopened (a Node parent's pipes, such as vitest's workers: vitest.config.ts filters
 * those), and a regular file may share its offset with stdout (`> log 2>&1`): both keep the lines.
 */
export function withoutKnownWarnings<T>(fn: () => T): T {
  if (process.platform !== 'linux') return fn();
  let kind;
  try {
    kind = fstatSync(2);
  } catch {
    return fn();
  }
  if (!kind.isCharacterDevice() && !kind.isFIFO()) return fn();
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY;
  let dir: string | undefined;
  let saved = -1;
  let capture = -1;
  try {
    saved = openSync('/proc/self/fd/2', flags);
    dir = mkdtempSync(join(tmpdir(), 'dcign-dawn-'));
    capture = openSync(join(dir, 'stderr'), 'w+');
  } catch {
    if (saved >= 0) closeSync(saved);
    if (dir) rmSync(dir, { recursive: true, force: true });
    return fn();
  }
  let swapped = false;
  try {
    closeSync(2);
    // The lowest free descriptor, 2, is the one open() returns.
    const fd = openSync(`/proc/self/fd/${capture}`, flags);
    swapped = fd === 2;
    if (!swapped) closeSync(fd);
    return fn();
  } finally {
    if (swapped) closeSync(2);
    const back = openSync(`/proc/self/fd/${saved}`, flags);
    // Not 2 only if another thread took 2 between the close and the open above: nothing to restore.
    if (back !== 2) closeSync(back);
    closeSync(saved);
    const printed = readFileSync(join(dir, 'stderr'), 'utf8');
    closeSync(capture);
    rmSync(dir, { recursive: true, force: true });
    const rest = dropKnownWarnings(printed);
    if (rest) writeSync(2, rest);
  }
}
