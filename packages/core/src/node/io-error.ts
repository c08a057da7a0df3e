import type { FindingCode } from '../finding-codes';
import type { Finding } from '../findings';

/**
 * Something (a file, a git blob, a download) is larger than the byte limit it is read under: the
 * one "too large" type of the library, thrown before it is read (or as soon as a read passes the
 * limit), never after. Its message reads after the thing's name: `x.mpn is 9 bytes; the limit is 8`.
 */
export class TooLargeError extends Error {
  readonly code = 'too-large';
  constructor(
    /** The size, or (when the read stopped at the limit) the bytes read so far. */
    readonly size: number,
    readonly limit: number,
    /** True when the read stopped early: the thing is at least `size` bytes. */
    readonly atLeast = false,
  ) {
    super(tooLargeMessage(size, limit, atLeast));
  }
}

/** The words for a size over its limit: `is 9 bytes; the limit is 8` (`is over 8 bytes, the limit` when the read stopped early). */
export function tooLargeMessage(size: number, limit: number, atLeast = false): string {
  return atLeast ? `is over the limit of ${limit} bytes` : `is ${size} bytes; the limit is ${limit}`;
}

/** What an errno means for the user, and what they can do about it. */
const ERRNO: Record<string, { code: FindingCode; what: string; hint: string }> = {
  ENOENT: { code: 'io.not-found', what: 'does not exist', hint: 'check the path' },
  ENOTDIR: {
    code: 'io.not-a-directory',
    what: 'is not a directory (or a parent of it is a file)',
    hint: 'check the path',
  },
  EISDIR: {
    code: 'io.is-a-directory',
    what: 'is a directory where a file was expected',
    hint: 'name a file',
  },
  EACCES: {
    code: 'io.permission-denied',
    what: 'cannot be accessed: permission denied',
    hint: 'check its permissions',
  },
  EPERM: {
    code: 'io.permission-denied',
    what: 'cannot be accessed: operation not permitted',
    hint: 'check its permissions',
  },
  ELOOP: { code: 'io.link-loop', what: 'is a loop of symbolic links', hint: 'fix or remove the link' },
  ENAMETOOLONG: { code: 'io.error', what: 'has a name that is too long', hint: 'use a shorter path' },
  ENOSPC: {
    code: 'io.no-space',
    what: 'cannot be written: the disk is full',
    hint: 'free some space and retry',
  },
  EDQUOT: {
    code: 'io.no-space',
    what: 'cannot be written: disk quota exceeded',
    hint: 'free some space and retry',
  },
  EROFS: {
    code: 'io.not-writable',
    what: 'cannot be written: read-only file system',
    hint: 'choose a writable location',
  },
  EEXIST: { code: 'io.exists', what: 'already exists', hint: 'remove it or choose another path' },
  ENOTEMPTY: {
    code: 'io.exists',
    what: 'is a directory that is not empty',
    hint: 'remove it or choose another path',
  },
  EMFILE: {
    code: 'io.error',
    what: 'cannot be opened: too many open files',
    hint: 'raise the open-file limit (ulimit -n)',
  },
};

/** The errno string of an fs error (`ENOENT`, …), if it has one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * Turns a file-system error about `file` into one finding: a stable `io.*` code, what happened
 * in words, and what to do, e.g. `io.not-a-directory: plugins/x is not a directory …; check the path`.
 * Node's own message (which repeats the errno: "ENOTDIR: not a directory, scandir …") is not echoed.
 */
export function ioFinding(err: unknown, file: string): Finding {
  const errno = errnoOf(err);
  const known = errno ? ERRNO[errno] : undefined;
  if (known) {
    return { file, severity: 'error', code: known.code, message: `${known.what} (${errno}); ${known.hint}` };
  }
  const detail = err instanceof Error ? err.message : String(err);
  return { file, severity: 'error', code: 'io.error', message: `cannot be read or written: ${detail}` };
}
