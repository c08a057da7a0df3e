// The live tail of replica log files, shared by the backends that keep logs in files (process, uv,
// systemd, slurm): the last lines first, then every line as it is written, until the caller aborts.
// A plugin can write where its logs are, so a file is opened without following a link, without
// blocking (a FIFO planted at the name never hangs it), and read only when it is a regular file.
// Files are polled (~250 ms): only what is new is read, at most READ_CHUNK bytes a read; a line
// still being written waits until it ends; a file that shrinks (truncated) or is replaced (another
// file at the name: a restart's new log, slurm's resubmit) is read again from its start, after what
// the old one still held. The text stays the plugin's: whoever shows a line escapes it.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';

/** One line of a plugin's log, and the replica that wrote it. */
export interface LogLine {
  replica: number;
  line: string;
}

/** What a follow needs: how many lines to start with, and when to stop. */
export interface FollowOptions {
  tail: number;
  signal: AbortSignal;
  /** Called once, when the first `tail` lines were delivered (what follows is new). */
  caughtUp?: () => void;
}

/** The longest line delivered whole (in UTF-8 bytes); a longer one is cut and says so. */
export const MAX_LINE_BYTES = 16 * 1024;
/** What ends a line that was cut. */
export const CUT_MARKER = ' … [line cut: longer than 16 KiB]';
/** The most one read takes from a file (more waits for the next one). */
export const READ_CHUNK = 256 * 1024;
/** How far back the first tail reads in each file. */
const TAIL_BYTES = 512 * 1024;
export const POLL_MS = 250;

/** A line's bytes as text: valid UTF-8 (anything else replaced), cut with a marker when too long. */
export function lineText(bytes: Buffer): string {
  let b = bytes;
  if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
  if (b.length <= MAX_LINE_BYTES) return b.toString('utf8');
  // Cut at a character boundary: back off continuation bytes (10xxxxxx) of a split character.
  let end = MAX_LINE_BYTES;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8') + CUT_MARKER;
}

/** A text line (docker's) bounded as `lineText` bounds bytes. */
export const boundLine = (line: string): string =>
  line.length * 3 <= MAX_LINE_BYTES ? line : lineText(Buffer.from(line, 'utf8'));

/** A promise that resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Opens a regular file for reading, never through a link and never blocking; undefined otherwise. */
function openRegular(
  path: string,
): { fd: number; dev: number; ino: number; size: number; mtimeMs: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return { fd, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    // not a file we can stat: closed below, and nothing is followed
  }
  closeSync(fd);
  return undefined;
}

/** Reads up to `max` bytes at `pos`. */
function readAt(fd: number, pos: number, max: number): Buffer {
  const buf = Buffer.alloc(max);
  let got = 0;
  while (got < max) {
    const n = readSync(fd, buf, got, max - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** One file being followed: where it is read up to, and the line it has not finished yet. */
class Tailer {
  private file: { fd: number; dev: number; ino: number } | undefined;
  private pos = 0;
  private partial: Buffer[] = [];
  private partialLen = 0;
  /** Within a line that was cut: the rest of it is skipped up to its end. */
  private skipping = false;

  constructor(
    readonly replica: number,
    readonly path: string,
    private readonly onLine: (l: LogLine) => void,
    /** Set for a file first seen after the follow began: when it began (ms). */
    private oldBefore?: number,
  ) {}

  /**
   * Starts at the file's end: answers its last complete lines (read from at most TAIL_BYTES back);
   * a line still being written is left to `poll`.
   */
  openAtEnd(): string[] {
    const f = openRegular(this.path);
    if (!f) return [];
    this.file = f;
    const from = Math.max(0, f.size - TAIL_BYTES);
    const bytes = readAt(f.fd, from, f.size - from);
    const lastNl = bytes.lastIndexOf(0x0a);
    this.pos = from + lastNl + 1;
    if (lastNl < 0) return [];
    const lines = splitLines(bytes.subarray(0, lastNl));
    // Read from the middle of the file: its first piece is the end of a line, not one.
    return from > 0 ? lines.slice(1) : lines;
  }

  /** Reads what is new (one bounded read); answers whether more is waiting. */
  poll(): boolean {
    const at = this.statPath();
    if (this.file && at && (at.dev !== this.file.dev || at.ino !== this.file.ino)) {
      // Another file at the name: what the old one still holds first, then the new one from 0.
      while (this.readNew()) {}
      this.flushPartial();
      this.close();
    }
    if (!this.file) {
      const f = openRegular(this.path);
      if (!f) return false;
      this.file = f;
      // A file seen for the first time that was last written before the follow began holds
      // nothing new (an old log a scaled-up replica appends to): it is read from its end.
      // (The file clock is coarse: a margin keeps a line written as the follow began.)
      this.pos = this.oldBefore !== undefined && f.mtimeMs < this.oldBefore - 50 ? f.size : 0;
    }
    this.oldBefore = undefined;
    return this.readNew();
  }

  private statPath(): { dev: number; ino: number } | undefined {
    try {
      // The name itself, never where a link there leads: a link planted at it is another file.
      const st = lstatSync(this.path, { throwIfNoEntry: false });
      return st ? { dev: st.dev, ino: st.ino } : undefined;
    } catch {
      return undefined;
    }
  }

  private readNew(): boolean {
    const f = this.file;
    if (!f) return false;
    let size: number;
    try {
      size = fstatSync(f.fd).size;
    } catch {
      return false;
    }
    if (size < this.pos) {
      // Truncated: it starts again.
      this.pos = 0;
      this.partial = [];
      this.partialLen = 0;
      this.skipping = false;
    }
    if (size === this.pos) return false;
    const chunk = readAt(f.fd, this.pos, Math.min(READ_CHUNK, size - this.pos));
    this.pos += chunk.length;
    this.take(chunk);
    return this.pos < size;
  }

  /** Splits new bytes into lines, keeping the unfinished end (bounded: a line too long is cut). */
  private take(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      this.push(chunk.subarray(start, nl));
      this.endLine();
      start = nl + 1;
    }
    if (start < chunk.length) this.push(chunk.subarray(start));
  }

  private push(bytes: Buffer): void {
    if (this.skipping || bytes.length === 0) return;
    this.partial.push(bytes);
    this.partialLen += bytes.length;
    if (this.partialLen > MAX_LINE_BYTES) {
      this.emit(Buffer.concat(this.partial));
      this.partial = [];
      this.partialLen = 0;
      this.skipping = true;
    }
  }

  private endLine(): void {
    if (!this.skipping) this.emit(Buffer.concat(this.partial));
    this.partial = [];
    this.partialLen = 0;
    this.skipping = false;
  }

  /** A file that is gone or replaced ends its last line, finished or not. */
  private flushPartial(): void {
    if (this.partialLen > 0) this.endLine();
    this.skipping = false;
  }

  private emit(bytes: Buffer): void {
    const line = lineText(bytes);
    if (line.length > 0) this.onLine({ replica: this.replica, line });
  }

  close(): void {
    if (this.file) {
      try {
        closeSync(this.file.fd);
      } catch {
        // already closed: nothing to release
      }
      this.file = undefined;
    }
  }
}

/** Lines of `bytes` (no trailing newline), each made text; blank ones dropped. */
function splitLines(bytes: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  while (start <= bytes.length) {
    let nl = bytes.indexOf(0x0a, start);
    if (nl < 0) nl = bytes.length;
    const line = lineText(bytes.subarray(start, nl));
    if (line.length > 0) out.push(line);
    start = nl + 1;
  }
  return out;
}

/** A replica's log file, and the files before it (a resubmitted job's previous log) the tail reads too. */
export interface FollowedFile {
  replica: number;
  path: string;
  before?: string[];
}

/**
 * Follows the files `list` names (asked again at every poll: replicas that appear later are
 * followed from their start): first the last `tail` lines of all of them (replica by replica,
 * oldest first, as `logs` answers), then every new line. Resolves when `signal` aborts.
 */
export async function followFiles(
  list: () => FollowedFile[],
  opts: FollowOptions,
  onLine: (l: LogLine) => void,
): Promise<void> {
  const { signal } = opts;
  const began = Date.now();
  const tailers = new Map<string, Tailer>();
  const deliver = (l: LogLine) => {
    if (!signal.aborted) onLine(l);
  };
  try {
    const first: LogLine[] = [];
    for (const f of safeList(list)) {
      const t = new Tailer(f.replica, f.path, deliver);
      tailers.set(f.path, t);
      const earlier = (f.before ?? []).flatMap((p) => {
        const old = new Tailer(f.replica, p, () => {});
        try {
          return old.openAtEnd();
        } finally {
          old.close();
        }
      });
      for (const line of [...earlier, ...t.openAtEnd()]) first.push({ replica: f.replica, line });
    }
    for (const l of first.slice(first.length - Math.max(0, Math.min(opts.tail, first.length)))) deliver(l);
    opts.caughtUp?.();
    while (!signal.aborted) {
      for (const f of safeList(list)) {
        if (!tailers.has(f.path)) tailers.set(f.path, new Tailer(f.replica, f.path, deliver, began));
      }
      let more = false;
      for (const t of tailers.values()) if (t.poll()) more = true;
      await pause(more ? 0 : POLL_MS, signal);
    }
  } finally {
    for (const t of tailers.values()) t.close();
  }
}

/** The list, or none while it cannot be read (records being rewritten). */
function safeList(list: () => FollowedFile[]): FollowedFile[] {
  try {
    return list();
  } catch {
    return [];
  }
}
