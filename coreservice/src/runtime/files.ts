// CoreService's own small files (receipts, run state, manifests it re-reads, its config): read only
// through the domain library's checked FileTree — a regular file, its real path inside its dir,
// the read bounded — because a running plugin can write where CoreService keeps them. Written
// whole through a temp file and a rename, so a reader or a crash never sees half of one.
import {
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FileTree } from '@magellon/hub-core/node';

const MAX_STATE_BYTES = 1024 * 1024;

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

/** A JSON state file, or undefined when it is absent, not a regular file, too large or torn. */
export function readJson<T>(path: string): T | undefined {
  const read = readSmallFile(path, MAX_STATE_BYTES);
  if (!read.ok) return undefined;
  try {
    return JSON.parse(read.text) as T;
  } catch {
    return undefined;
  }
}

/**
 * Opens a file CoreService writes into a dir a plugin can also write (its replica logs): whatever
 * stands at the name that is not a regular file (a planted FIFO, a link) is removed first, and the
 * open never follows a link or blocks.
 */
export function openOwnFile(path: string, mode: 'truncate' | 'append'): number {
  try {
    if (!lstatSync(path).isFile()) rmSync(path, { recursive: true, force: true });
  } catch {}
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
 * The one way CoreService writes its own files: an exclusive temp file beside the target (never
 * through a link), mode 0600, fsynced, renamed over the target, and the folder fsynced, so that a
 * reader or a crash sees the old file or the new one, never half of one.
 */
export function writeFileDurably(path: string, text: string, opts: { durable?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  const tmp = `${path}.tmp-${process.pid}-${seq++}`;
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    if (durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  if (durable) {
    try {
      const dir = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch {}
  }
}

/** A JSON state file, written whole (see {@link writeFileDurably}). */
export function writeJson(path: string, value: unknown, opts: { durable?: boolean } = {}): void {
  writeFileDurably(path, `${JSON.stringify(value, null, 2)}\n`, { durable: opts.durable ?? false });
}
