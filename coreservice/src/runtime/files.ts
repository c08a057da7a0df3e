// CoreService's own small files (receipts, run state, manifests it re-reads, its config): read only
// through the domain library's checked FileTree — a regular file, its real path inside its dir,
// the read bounded — because a running plugin can write where CoreService keeps them. Written
// whole through one durable writer, so a reader or a crash never sees half of one. JSON records
// go through records.ts, which checks them against their schemas both ways.
import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FileTree } from '@magellon/hub-core/node';
import { tempPath } from '../layout';

/**
 * Reads a small file safely: its text, or why it could not be read (ENOENT, "is a FIFO…", too
 * large). A link is refused unless `followLink` (a path the operator named, such as --config): then
 * the checks apply where it leads.
 */
export function readSmallFile(
  path: string,
  maxBytes: number,
  opts: { followLink?: boolean } = {},
): { ok: true; text: string } | { ok: false; why: string } {
  let abs = resolve(path);
  let tree: FileTree;
  try {
    if (opts.followLink) abs = realpathSync.native(abs);
    tree = new FileTree(dirname(abs));
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
  const read = tree.read(abs, maxBytes);
  if (read.ok) return { ok: true, text: read.bytes.toString('utf8') };
  const r = read.refusal;
  return {
    ok: false,
    why: r.kind === 'io' ? ((r.error as NodeJS.ErrnoException).code ?? r.message) : r.message,
  };
}

/**
 * Opens a file CoreService writes into a dir a plugin can also write (its replica logs): whatever
 * stands at the name that is not a regular file (a planted FIFO, a link) is removed first, and the
 * open never follows a link or blocks.
 */
export function openOwnFile(path: string, mode: 'truncate' | 'append'): number {
  try {
    if (!lstatSync(path).isFile()) rmSync(path, { recursive: true, force: true });
  } catch {
    // nothing there (the usual case): the open below makes it
  }
  const flags =
    constants.O_WRONLY |
    constants.O_CREAT |
    constants.O_NOFOLLOW |
    constants.O_NONBLOCK |
    (mode === 'append' ? constants.O_APPEND : constants.O_TRUNC);
  return openSync(path, flags, 0o600);
}

let seq = 0;

/**
 * The one way CoreService writes its own files (receipts, run state, run records, identities, lock
 * holders, uid claims, the admin token, heartbeat keys): an exclusive temp file beside the target
 * (O_EXCL, never through a link), mode 0600, fsynced, renamed over the target, and the folder
 * fsynced, so that a reader or a crash sees the old file or the new one, never half of one.
 * `exclusive`: the target must not exist yet (it is linked into place instead of renamed: EEXIST
 * when another writer got there first).
 */
export function writeFileDurably(path: string, text: string, opts: { exclusive?: boolean } = {}): void {
  const tmp = tempPath(path, process.pid, seq++);
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  if (opts.exclusive) {
    try {
      linkSync(tmp, path);
    } finally {
      rmSync(tmp, { force: true });
    }
  } else {
    renameSync(tmp, path);
  }
  try {
    const dir = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // best effort: a file system that cannot fsync a folder still has the file written
  }
}
