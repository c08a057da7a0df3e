// The service's live plugin logs: per plugin, one follower (its backend's `follow`) shared by every
// listener (SSE streams, socket.io rooms). It starts with the first listener and stops LINGER_MS
// after the last one left, at once when the plugin is uninstalled or the service closes; an
// upgrade moves it to the new version. Lines are numbered per plugin (`id`, going on across an
// upgrade) and the last RING_LINES are kept, so a listener that reconnects with the last id it saw
// gets every line after it (or, when that one is no longer kept, `gap` first: how many were lost).
// Lines are escaped here, once for every transport: a plugin's ESC or CR never reaches a page.
import { escapeControl } from '@magellon/hub-core/text';
import { InstallError } from '../errors';
import { readReceipt } from '../install';
import { isPluginId } from '../plugin-id';
import { backendFor } from '../runtime/backends';
import { pause } from '../runtime/log-follow';
import { loadRuntime } from '../runtime/runner';

/** One line of a plugin's log as the service streams it. */
export interface StreamedLine {
  id: number;
  plugin_id: string;
  replica: number;
  line: string;
}

/** Where a listener's lines go. */
export interface LogSink {
  line(l: StreamedLine): void;
  /** `missed` lines after the one it asked to resume from are no longer kept. */
  gap(missed: number): void;
  /** The log source failed, or the plugin is gone: no more lines come. */
  end(why: string, failed: boolean): void;
}

export interface SubscribeOptions {
  /** How many of the last lines to start with (when not resuming). */
  tail: number;
  /** The last id the listener saw: it resumes after it. */
  after?: number;
}

/** How many lines each plugin's stream keeps for listeners that resume, and at most how many bytes. */
export const RING_LINES = 5000;
const RING_BYTES = 8 * 1024 * 1024;
/** How long a follower outlives its last listener (a reconnect within it resumes without loss). */
export const LINGER_MS = 30_000;
/** How often a followed plugin's receipt is read again (an upgrade, an uninstall by the CLI). */
const CHECK_MS = 2_000;

interface Listener {
  sink: LogSink;
  opts: SubscribeOptions;
  /** Its backlog was delivered: it now gets the live lines. */
  live: boolean;
}

interface Stream {
  pluginId: string;
  version?: string;
  ring: StreamedLine[];
  ringBytes: number;
  listeners: Set<Listener>;
  /** The current follower, and whether its first lines (its tail) are all in the ring. */
  ctl?: AbortController;
  caughtUp: boolean;
  linger?: NodeJS.Timeout;
  watch?: Promise<void>;
}

export class LogStreams {
  private readonly streams = new Map<string, Stream>();
  /** The last id given per plugin: ids go on when a stream is made again, never repeat. */
  private readonly lastId = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly pluginsDir: string,
    private readonly opts: { lingerMs?: number; log?: (entry: Record<string, unknown>) => void } = {},
  ) {}

  /**
   * Adds a listener to a plugin's stream: its backlog (the last `tail` lines, or every kept line
   * after `after`), then each new line. Answers how to leave. Not a plugin id, or not installed:
   * `not-found`, and nothing is started.
   */
  subscribe(pluginId: string, opts: SubscribeOptions, sink: LogSink): () => void {
    if (this.closed) throw new InstallError('unsupported', 'CoreService is shutting down');
    if (!isPluginId(pluginId) || !readReceipt(this.pluginsDir, pluginId)) {
      throw new InstallError(
        'not-found',
        `no plugin ${JSON.stringify(escapeControl(pluginId.slice(0, 100)))} is installed`,
      );
    }
    let s = this.streams.get(pluginId);
    if (!s) {
      s = { pluginId, ring: [], ringBytes: 0, listeners: new Set(), caughtUp: false };
      this.streams.set(pluginId, s);
    }
    clearTimeout(s.linger);
    s.linger = undefined;
    const listener: Listener = { sink, opts, live: false };
    s.listeners.add(listener);
    if (!s.ctl) this.startFollower(s);
    // (A follower that reads files catches up as it starts: the listener may have its backlog already.)
    if (s.caughtUp && !listener.live) this.sendBacklog(s, listener);
    const stream = s;
    return () => {
      if (!stream.listeners.delete(listener) || stream.listeners.size > 0) return;
      stream.linger = setTimeout(() => this.drop(stream.pluginId), this.opts.lingerMs ?? LINGER_MS);
      stream.linger.unref();
    };
  }

  /** Stops a plugin's stream at once (it was uninstalled): its listeners are told. */
  stopPlugin(pluginId: string, why = `${pluginId} was uninstalled`): void {
    const s = this.streams.get(pluginId);
    if (!s) return;
    for (const l of s.listeners) l.sink.end(why, false);
    s.listeners.clear();
    this.drop(pluginId);
  }

  /** Stops every stream (the service closes), waiting for their followers to end. */
  async close(): Promise<void> {
    this.closed = true;
    const watches = [...this.streams.values()].flatMap((s) => (s.watch ? [s.watch] : []));
    for (const id of [...this.streams.keys()]) this.stopPlugin(id, 'CoreService is shutting down');
    await Promise.all(watches);
  }

  /** Whether a plugin's follower runs (for tests and status). */
  following(pluginId: string): boolean {
    return this.streams.get(pluginId)?.ctl !== undefined;
  }

  private drop(pluginId: string): void {
    const s = this.streams.get(pluginId);
    if (!s) return;
    clearTimeout(s.linger);
    s.ctl?.abort();
    s.ctl = undefined;
    this.streams.delete(pluginId);
  }

  /**
   * Follows the installed version until the stream is dropped; when the receipt names another
   * version (an upgrade) the follower moves to it; when there is none any more, the stream ends.
   */
  private startFollower(s: Stream): void {
    const ctl = new AbortController();
    s.ctl = ctl;
    s.watch = this.follow(s, ctl.signal).catch((err) => {
      const why = (err as Error).message;
      this.opts.log?.({ level: 'warn', msg: 'plugin log stream failed', plugin_id: s.pluginId, error: why });
      for (const l of s.listeners) l.sink.end(`the log of ${s.pluginId} cannot be read: ${why}`, true);
      s.listeners.clear();
      if (s.ctl === ctl) this.drop(s.pluginId);
    });
  }

  private async follow(s: Stream, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const receipt = readReceipt(this.pluginsDir, s.pluginId);
      if (!receipt) return this.stopPlugin(s.pluginId);
      const { version } = receipt;
      const moved = s.version !== undefined;
      s.version = version;
      const rt = loadRuntime(this.pluginsDir, s.pluginId, version, receipt.method ?? 'subprocess');
      const one = new AbortController();
      const stop = () => one.abort();
      signal.addEventListener('abort', stop);
      let failed: unknown;
      const following = backendFor(rt.entry.method)
        .follow(
          rt,
          {
            // A new version's log is all new: after an upgrade it is read from its start.
            tail: RING_LINES,
            signal: one.signal,
            caughtUp: () => {
              if (moved || s.caughtUp) return;
              s.caughtUp = true;
              for (const l of s.listeners) if (!l.live) this.sendBacklog(s, l);
            },
          },
          (l) => this.add(s, l.replica, l.line),
        )
        .catch((err) => {
          failed = err;
          one.abort();
        });
      // Until the version changes, the plugin goes, or the stream is dropped.
      while (!one.signal.aborted) {
        await pause(CHECK_MS, one.signal);
        let now: ReturnType<typeof readReceipt> | 'unreadable';
        try {
          now = readReceipt(this.pluginsDir, s.pluginId);
        } catch {
          now = 'unreadable'; // being rewritten, or broken: doctor says which; the follower goes on
        }
        if (!now || (now !== 'unreadable' && now.version !== version)) one.abort();
      }
      await following;
      signal.removeEventListener('abort', stop);
      if (failed) throw failed;
    }
  }

  /** A new line: numbered, kept, and given to every listener that is live. */
  private add(s: Stream, replica: number, raw: string): void {
    const id = (this.lastId.get(s.pluginId) ?? 0) + 1;
    this.lastId.set(s.pluginId, id);
    const l: StreamedLine = { id, plugin_id: s.pluginId, replica, line: escapeControl(raw) };
    s.ring.push(l);
    s.ringBytes += l.line.length;
    while (s.ring.length > RING_LINES || s.ringBytes > RING_BYTES) s.ringBytes -= s.ring.shift()!.line.length;
    if (!s.caughtUp) return;
    for (const listener of s.listeners) if (listener.live) listener.sink.line(l);
  }

  /** What a new listener gets first: the kept lines after its id (a gap when some are lost), or the tail. */
  private sendBacklog(s: Stream, listener: Listener): void {
    const { after, tail } = listener.opts;
    const last = this.lastId.get(s.pluginId) ?? 0;
    let backlog: StreamedLine[];
    if (after !== undefined && after <= last) {
      const oldest = s.ring[0]?.id ?? last + 1;
      if (after < oldest - 1) listener.sink.gap(oldest - 1 - after);
      backlog = s.ring.filter((l) => l.id > after);
    } else {
      backlog = s.ring.slice(s.ring.length - Math.min(s.ring.length, Math.max(0, tail)));
    }
    for (const l of backlog) listener.sink.line(l);
    listener.live = true;
  }
}
