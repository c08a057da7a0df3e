import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { FindingCode } from '../../finding-codes';
import type { Finding } from '../../findings';
import { ioFinding, tooLargeMessage } from '../io-error';

/** Why a path inside a tree was not read; callers turn it into the finding that fits their file. */
export type TreeRefusal =
  | { kind: 'outside'; message: string }
  | { kind: 'not-regular'; message: string }
  | { kind: 'too-large'; size: number; limit: number; message: string }
  | { kind: 'io'; error: unknown; message: string };

export type TreeRead = { ok: true; bytes: Buffer; real: string } | { ok: false; refusal: TreeRefusal };
export type TreeResolve = { ok: true; real: string; stats: Stats } | { ok: false; refusal: TreeRefusal };

// O_NONBLOCK: opening a FIFO that replaced a file between our check and the open must not hang.
// O_NOFOLLOW: a link planted at the last component after the check fails instead of being followed.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/** What kind of thing a non-regular, non-directory file is, for messages. */
export function describeFileType(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** True when `real` is `root` or lies below it (both already real paths). */
export function isInside(root: string, real: string): boolean {
  const rel = relative(root, real);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * A directory tree whose files are read only through checks: every file must be a regular file,
 * its real path must stay inside the tree, and reads are bounded in bytes. Nothing here follows a
 * link out of the tree, opens a FIFO or device, or reads more than it was allowed to.
 */
export class FileTree {
  /** The tree's real path (symbolic links in it resolved). */
  readonly real: string;

  constructor(root: string) {
    this.real = realpathSync.native(root);
  }

  /**
   * Where `abs` really is and what it is, without opening it: symbolic links are resolved and must
   * land inside the tree; `want` says which type is acceptable.
   */
  resolve(abs: string, want: 'file' | 'dir' = 'file'): TreeResolve {
    let stats: Stats;
    let real = abs;
    try {
      stats = lstatSync(abs);
      if (stats.isSymbolicLink()) {
        real = realpathSync.native(abs);
        if (!isInside(this.real, real)) {
          return {
            ok: false,
            refusal: {
              kind: 'outside',
              message: 'is a symbolic link to a place outside the tree; its target was not read',
            },
          };
        }
        stats = lstatSync(real);
      } else {
        // The last component is no link, but a folder on the way may be one: judge where it really is.
        real = join(realpathSync.native(dirname(abs)), basename(abs));
        if (!isInside(this.real, real)) {
          return {
            ok: false,
            refusal: {
              kind: 'outside',
              message: 'lies under a symbolic link to a place outside the tree; it was not read',
            },
          };
        }
      }
    } catch (error) {
      return { ok: false, refusal: { kind: 'io', error, message: String((error as Error).message) } };
    }
    const fits = want === 'file' ? stats.isFile() : stats.isDirectory();
    if (!fits) {
      const expected = want === 'file' ? 'a regular file' : 'a directory';
      return {
        ok: false,
        refusal: {
          kind: 'not-regular',
          message: `is ${describeFileType(stats)}, not ${expected}; it was not opened`,
        },
      };
    }
    return { ok: true, real, stats };
  }

  /**
   * Reads a whole file of at most `maxBytes` bytes after {@link resolve} accepted it.
   * `direntIsFile` (readdir said it is a plain file, not a link) skips the lstat and the fstat: the
   * open refuses links anyway and cannot block. `scratch` (at least maxBytes + 1 bytes) is read into
   * instead of a new buffer; the returned bytes are then only valid until the next read into it.
   */
  read(abs: string, maxBytes: number, opts: { direntIsFile?: boolean; scratch?: Buffer } = {}): TreeRead {
    let real = abs;
    if (!opts.direntIsFile) {
      const where = this.resolve(abs, 'file');
      if (!where.ok) return where;
      if (where.stats.size > maxBytes) return tooLargeRefusal(where.stats.size, maxBytes);
      real = where.real;
    }
    let fd: number;
    try {
      fd = openSync(real, OPEN_FLAGS);
    } catch (error) {
      return { ok: false, refusal: { kind: 'io', error, message: String((error as Error).message) } };
    }
    try {
      let want = maxBytes + 1;
      // readdir's word that this is a plain file saves an fstat per file (25,000 in a large catalog).
      // Should the file be swapped for a FIFO in between, the non-blocking open makes it read as
      // empty rather than hang; and the read is bounded all the same.
      if (!opts.direntIsFile) {
        const stats = fstatSync(fd);
        if (!stats.isFile()) {
          return {
            ok: false,
            refusal: { kind: 'not-regular', message: `is ${describeFileType(stats)}; it was not read` },
          };
        }
        if (stats.size > maxBytes) return tooLargeRefusal(stats.size, maxBytes);
        // One byte more than allowed tells a file that grew since the stat from one that did not.
        want = Math.min(stats.size, maxBytes) + 1;
      }
      const buffer = opts.scratch && opts.scratch.length >= want ? opts.scratch : Buffer.allocUnsafe(want);
      let length = 0;
      while (length < want) {
        const n = readSync(fd, buffer, length, want - length, length);
        length += n;
        // A regular file reads short only at its end: no second read just to be told so.
        if (n < want - (length - n)) break;
      }
      if (length > maxBytes) {
        // Unstatted (direntIsFile), only the limit is known so far: say the file's real size.
        return tooLargeRefusal(opts.direntIsFile ? Math.max(length, fstatSync(fd).size) : length, maxBytes);
      }
      return { ok: true, bytes: buffer.subarray(0, length), real };
    } catch (error) {
      return { ok: false, refusal: { kind: 'io', error, message: String((error as Error).message) } };
    } finally {
      closeSync(fd);
    }
  }

  /** Opens a file for streaming reads after {@link resolve} accepted it; the caller closes the fd. */
  open(
    abs: string,
  ): { ok: true; fd: number; real: string; stats: Stats } | { ok: false; refusal: TreeRefusal } {
    const where = this.resolve(abs, 'file');
    if (!where.ok) return where;
    let fd: number;
    try {
      fd = openSync(where.real, OPEN_FLAGS);
    } catch (error) {
      return { ok: false, refusal: { kind: 'io', error, message: String((error as Error).message) } };
    }
    const stats = fstatSync(fd);
    if (!stats.isFile()) {
      closeSync(fd);
      return {
        ok: false,
        refusal: { kind: 'not-regular', message: `is ${describeFileType(stats)}; it was not read` },
      };
    }
    return { ok: true, fd, real: where.real, stats };
  }
}

/** The refusal for a file over its byte limit (it was not read or parsed). */
export function tooLargeRefusal(size: number, limit: number): { ok: false; refusal: TreeRefusal } {
  return {
    ok: false,
    refusal: {
      kind: 'too-large',
      size,
      limit,
      message: `${tooLargeMessage(size, limit)}, so it was not parsed`,
    },
  };
}

/** The finding for a refused path: `path.outside-tree`, `path.not-regular-file`, the caller's too-large code, or `io.*`. */
export function refusalFinding(refusal: TreeRefusal, file: string, tooLargeCode: FindingCode): Finding {
  switch (refusal.kind) {
    case 'outside':
      return { file, severity: 'error', code: 'path.outside-tree', message: refusal.message };
    case 'not-regular':
      return { file, severity: 'error', code: 'path.not-regular-file', message: refusal.message };
    case 'too-large':
      return { file, severity: 'error', code: tooLargeCode, message: refusal.message };
    case 'io':
      return ioFinding(refusal.error, file);
  }
}
