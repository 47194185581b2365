// How every command ends on an error: one line `error: …` that names the flag or path involved,
// never a stack trace (DCIGN_DEBUG=1 adds it), and exit status 1.
import { NoAdapterError } from '../gpu/device.js';
import { CheckpointError } from '../model/safetensors.js';

export const ERROR_EXIT = 1;

/** A mistake in the command line or in the files it names; the message names the flag or path. */
export class UserError extends Error {}

// Node's file-system error codes a user can fix, in words.
const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  ENAMETOOLONG: 'name too long',
};

const FS_ACTIONS: Record<string, string> = {
  mkdir: 'cannot create folder',
  open: 'cannot open',
  read: 'cannot read',
  scandir: 'cannot list',
  rename: 'cannot write',
  write: 'cannot write',
  unlink: 'cannot remove',
  rmdir: 'cannot remove',
};

/** A file-system error's cause in words (its path left out), or undefined for other errors. */
export function fsReason(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code ? FS_REASONS[code] : undefined;
}

/**
 * The message to print for e: as it is for the errors that are written for a user (UserError,
 * a missing adapter, a bad checkpoint), Node's file-system errors in words with their path, and
 * the first line of anything else.
 */
export function describeError(e: unknown): string {
  if (e instanceof UserError || e instanceof NoAdapterError || e instanceof CheckpointError) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS_')) return `${err.message} (see --help)`;
  const reason = fsReason(e);
  if (reason && err.path) return `${FS_ACTIONS[err.syscall ?? ''] ?? 'cannot use'} ${err.path}: ${reason}`;
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/** Prints e as `error: …` and exits with ERROR_EXIT. */
export function exitWithError(e: unknown): never {
  console.error(`error: ${describeError(e)}`);
  if (process.env.DCIGN_DEBUG && e instanceof Error && e.stack) console.error(e.stack);
  process.exit(ERROR_EXIT);
}

/**
 * Runs a command's main. A number it returns is the exit code; undefined lets the process end on
 * its own (a server keeps running). Any error ends it through exitWithError.
 */
export function runCommand(main: () => Promise<number | void>): void {
  main().then((code) => {
    if (typeof code === 'number') process.exit(code);
  }, exitWithError);
}
