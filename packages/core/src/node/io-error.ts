import { isAbsolute, relative, sep } from 'node:path';
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

/** A path as the user would want to read it: relative to the cwd when inside it or above it, else absolute. */
export function shownPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(process.cwd(), path);
  if (rel === '') return '.';
  const above = rel.split(sep).every((part) => part === '..');
  return isAbsolute(rel) || (rel.startsWith('..') && !above) ? path : rel;
}

interface ParserError extends Error {
  mark?: { name?: string | null; line?: number; column?: number };
  reason?: string;
  linePos?: Array<{ line: number; col: number }>;
}

/** A finding for an error thrown by a file-system call or a YAML/JSON parser; undefined for anything else. */
export function errorFinding(err: unknown, fallbackFile: string): Finding | undefined {
  if (errnoOf(err)) {
    const e = err as NodeJS.ErrnoException;
    return ioFinding(err, shownPath(e.path ?? fallbackFile));
  }
  if (!(err instanceof Error)) return undefined;
  const e = err as ParserError;
  if (e.name === 'YAMLException' && e.mark) {
    // js-yaml: 0-based mark, a `reason` without the code excerpt.
    return {
      file: shownPath(e.mark.name || fallbackFile),
      line: (e.mark.line ?? 0) + 1,
      column: (e.mark.column ?? 0) + 1,
      severity: 'error',
      code: 'yaml.syntax',
      message: `${e.reason ?? e.message}; fix the YAML`,
    };
  }
  if (e.name === 'YAMLParseError' || e.name === 'YAMLWarning') {
    const at = e.linePos?.[0];
    return {
      file: shownPath(fallbackFile),
      ...(at ? { line: at.line, column: at.col } : {}),
      severity: 'error',
      code: 'yaml.syntax',
      message: `${e.message.split('\n')[0]}; fix the YAML`,
    };
  }
  if (e instanceof SyntaxError && /JSON/.test(e.message)) {
    return {
      file: shownPath(fallbackFile),
      severity: 'error',
      code: 'json.syntax',
      message: `${e.message}; fix the JSON`,
    };
  }
  return undefined;
}

/** The finding for any error that escaped a command: an io/parser finding, else `cli.internal` (a bug). */
export function findingForError(err: unknown, target: string): Finding & { internal?: true } {
  const known = errorFinding(err, target);
  if (known) return known;
  const message = err instanceof Error ? err.message : String(err);
  return { file: target, severity: 'error', code: 'cli.internal', message, internal: true };
}
