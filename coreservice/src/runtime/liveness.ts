// Plugin liveness over the broker, as Magellon's own CoreService hears it: a consumer on the
// `magellon.plugins` topic exchange (declared exactly as the SDK declares it) with a queue of its
// own (exclusive, auto-deleted) bound to every announce and heartbeat. Each message is checked
// (size, routing key, JSON body: @magellon/hub-core's liveness wire rules); a bad one is logged as
// a finding and dropped, never the end of the consumer. What is heard is kept in a liveness table
// (per announced plugin and instance: last announce, last heartbeat, name, category, backend id),
// which the health check (health.ts waitHealthy), status (lifecycle.ts) and the supervisor read.
// When the broker goes away the consumer reconnects with backoff; close() ends it cleanly.
//
// The broker URL may hold a password: it is only ever shown by `shownBrokerUrl` (password masked),
// and errors are scrubbed of it before they are logged.
import {
  LIVENESS_BINDING_KEYS,
  type LivenessMatch,
  type LivenessMessage,
  MAX_LIVENESS_MESSAGE_BYTES,
  matchesInstalled,
  PLUGINS_EXCHANGE,
  PLUGINS_EXCHANGE_OPTIONS,
  parseLivenessMessage,
} from '@magellon/hub-core';
import { escapeControl } from '@magellon/hub-core/text';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { connect } from 'amqplib';
import { replicaId, scrubBrokerSecret, shownBrokerUrl } from './settings';

/** One announcing instance of a plugin, as the broker told of it. */
export interface LivenessEntry {
  /** The plugin's name as it announced itself (a display name for real Magellon plugins). */
  plugin_id: string;
  plugin_version: string;
  category: string;
  backend_id?: string;
  /** Its instance (replica) id: MAGELLON_REPLICA_ID for the hub's runtime, a uuid for the SDK's. */
  instance_id: string;
  status?: string;
  /** When it was first heard, and its last announce and heartbeat (ms since epoch). */
  first_seen_ms: number;
  last_announce_ms?: number;
  last_heartbeat_ms?: number;
}

/** What an installed plugin is recognised by (see matchesInstalled in @magellon/hub-core). */
export interface InstalledIdentity {
  plugin_id: string;
  category: string;
  backend_id?: string;
  name?: string;
}

/** An entry that matched an installed plugin, and by which field. */
export interface LivenessHit {
  entry: LivenessEntry;
  matched_by: LivenessMatch;
  /** The later of its last announce and last heartbeat (ms). */
  last_seen_ms: number;
}

export type LivenessLog = (entry: {
  level: 'info' | 'warn' | 'error';
  msg: string;
  [k: string]: unknown;
}) => void;

/** At most this many instances are remembered (the oldest are forgotten first). */
const MAX_ENTRIES = 4096;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;

/** The liveness table and the consumer that fills it. */
export class Liveness {
  private readonly table = new Map<string, LivenessEntry>();
  private conn: ChannelModel | undefined;
  private closed = false;
  private backoffMs = BACKOFF_FIRST_MS;
  private timer: NodeJS.Timeout | undefined;
  private subscribed = false;
  private waiters: (() => void)[] = [];
  /** Messages dropped as malformed since the start. */
  rejected = 0;

  constructor(
    private readonly url: string,
    private readonly opts: { log?: LivenessLog; now?: () => number } = {},
  ) {}

  /** The broker, password masked. */
  get shownUrl(): string {
    return shownBrokerUrl(this.url);
  }

  /** Whether the consumer is connected and bound right now. */
  get connected(): boolean {
    return this.subscribed;
  }

  /** Starts consuming (and keeps reconnecting in the background until close). */
  start(): this {
    void this.connectOnce();
    return this;
  }

  /** Resolves true once the consumer is bound, or false after `timeoutMs` without it. */
  waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.subscribed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.subscribed), timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Every instance heard of, oldest first. */
  entries(): LivenessEntry[] {
    return [...this.table.values()];
  }

  /** The instances that match an installed plugin, heard from at `sinceMs` or later. */
  matching(installed: InstalledIdentity, sinceMs = 0): LivenessHit[] {
    const hits: LivenessHit[] = [];
    for (const entry of this.table.values()) {
      const last = Math.max(entry.last_announce_ms ?? 0, entry.last_heartbeat_ms ?? 0);
      if (last < sinceMs) continue;
      const matched_by = matchesInstalled(installed, entry);
      if (matched_by) hits.push({ entry, matched_by, last_seen_ms: last });
    }
    return hits;
  }

  /** Stops consuming and closes the connection; nothing reconnects after it. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.subscribed = false;
    const conn = this.conn;
    this.conn = undefined;
    // Closing a connection that is being left: whatever it says no longer matters.
    if (conn) await conn.close().catch(() => {});
  }

  /** Takes one message in: the table learns it, or the log says why it was dropped. */
  receive(
    routingKey: string,
    content: Buffer,
    headers: Record<string, unknown> = {},
  ): LivenessMessage | undefined {
    const parsed =
      content.length > MAX_LIVENESS_MESSAGE_BYTES
        ? { ok: false as const, why: `body larger than ${MAX_LIVENESS_MESSAGE_BYTES} bytes` }
        : parseLivenessMessage(routingKey, content.toString('utf8'), headers);
    if (!parsed.ok) {
      this.rejected++;
      this.opts.log?.({
        level: 'warn',
        msg: 'broker: dropped a malformed liveness message',
        routing_key: escapeControl(routingKey.slice(0, 256)),
        why: escapeControl(parsed.why.slice(0, 300)),
      });
      return undefined;
    }
    const m = parsed.message;
    const now = (this.opts.now ?? Date.now)();
    const key = `${m.plugin_id}\u0000${m.instance_id}`;
    const entry = this.table.get(key) ?? {
      plugin_id: m.plugin_id,
      plugin_version: m.plugin_version,
      category: m.category,
      instance_id: m.instance_id,
      first_seen_ms: now,
    };
    entry.plugin_version = m.plugin_version;
    entry.category = m.category;
    if (m.backend_id !== undefined) entry.backend_id = m.backend_id;
    if (m.status !== undefined) entry.status = m.status;
    if (m.kind === 'announce') entry.last_announce_ms = now;
    else entry.last_heartbeat_ms = now;
    this.table.delete(key);
    this.table.set(key, entry);
    while (this.table.size > MAX_ENTRIES) this.table.delete(this.table.keys().next().value as string);
    return m;
  }

  private async connectOnce(): Promise<void> {
    if (this.closed) return;
    let conn: ChannelModel | undefined;
    try {
      conn = await connect(this.url, { timeout: 10_000 });
      if (this.closed) {
        // closed meanwhile: the new connection is dropped, whatever it says
        await conn.close().catch(() => {});
        return;
      }
      this.conn = conn;
      conn.on('error', () => {});
      conn.on('close', () => this.lost(conn!, 'the broker closed the connection'));
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.assertExchange(PLUGINS_EXCHANGE, PLUGINS_EXCHANGE_OPTIONS.type, {
        durable: PLUGINS_EXCHANGE_OPTIONS.durable,
        autoDelete: PLUGINS_EXCHANGE_OPTIONS.autoDelete,
        internal: PLUGINS_EXCHANGE_OPTIONS.internal,
      });
      const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      for (const key of LIVENESS_BINDING_KEYS) await ch.bindQueue(q.queue, PLUGINS_EXCHANGE, key);
      await ch.consume(
        q.queue,
        (msg: ConsumeMessage | null) => {
          if (msg === null) return;
          try {
            this.receive(
              msg.fields.routingKey,
              msg.content,
              (msg.properties.headers ?? {}) as Record<string, unknown>,
            );
          } catch (err) {
            this.opts.log?.({
              level: 'error',
              msg: 'broker: a liveness message failed',
              error: this.scrub(err),
            });
          }
        },
        { noAck: true },
      );
      this.subscribed = true;
      this.backoffMs = BACKOFF_FIRST_MS;
      this.opts.log?.({
        level: 'info',
        msg: 'broker: listening for plugin announces and heartbeats',
        broker: this.shownUrl,
      });
      for (const w of this.waiters.splice(0)) w();
    } catch (err) {
      // the failure that counts is err, reported just below
      if (conn) await conn.close().catch(() => {});
      this.lost(conn, this.scrub(err));
    }
  }

  private lost(conn: ChannelModel | undefined, why: string): void {
    if (conn !== undefined && this.conn !== undefined && conn !== this.conn) return;
    this.conn = undefined;
    this.subscribed = false;
    if (this.closed || this.timer !== undefined) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.opts.log?.({
      level: 'warn',
      msg: `broker: not connected; trying again in ${wait / 1000} s`,
      broker: this.shownUrl,
      why,
    });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connectOnce();
    }, wait);
  }

  private scrub(err: unknown): string {
    return escapeControl(scrubBrokerSecret(String((err as Error)?.message ?? err), this.url).slice(0, 500));
  }
}

/** What an installed plugin is recognised by on the broker: its id, category, backend id and name. */
export const installedIdentity = (rt: {
  pluginId: string;
  manifest: { category: string; backend_id?: string | null; name: string };
}): InstalledIdentity => ({
  plugin_id: rt.pluginId,
  category: rt.manifest.category,
  ...(rt.manifest.backend_id ? { backend_id: rt.manifest.backend_id } : {}),
  name: rt.manifest.name,
});

/** How often the Magellon SDK's plugins beat (HeartbeatLoop's default), in seconds. */
export const SDK_HEARTBEAT_SECONDS = 15;

/** A replica's last beat (ms), and whether it came from an SDK instance (one not named by a replica id). */
export interface LastBeat {
  ms: number;
  sdk: boolean;
}

/**
 * Each replica's last beat: the later of its HTTP heartbeat (`heartbeats`, by replica id) and what
 * the broker heard. A broker instance named by a replica's id (the hub's runtime) is that replica;
 * other instances (the SDK's per-process uuids) fill the replicas left, the most recently heard first.
 */
export function lastBeats(
  rt: { pluginId: string; manifest: { category: string; backend_id?: string | null; name: string } },
  replicas: { replica: number; started_at?: string }[],
  opts: { liveness?: Liveness; heartbeats?: Map<string, number> },
): Map<number, LastBeat> {
  const out = new Map<number, LastBeat>();
  const put = (replica: number, ms: number | undefined, sdk: boolean) => {
    if (ms !== undefined && ms > (out.get(replica)?.ms ?? -1)) out.set(replica, { ms, sdk });
  };
  for (const { replica: n } of replicas) put(n, opts.heartbeats?.get(replicaId(rt.pluginId, n)), false);
  if (!opts.liveness) return out;
  // Instances of earlier runs (stopped replicas, a previous install) take no replica's place.
  const hits = opts.liveness
    .matching(installedIdentity(rt), earliestStart(replicas))
    .sort((a, b) => b.last_seen_ms - a.last_seen_ms);
  const left = replicas.map((r) => r.replica).sort((a, b) => a - b);
  const others: LivenessHit[] = [];
  for (const hit of hits) {
    const n = left.find((r) => replicaId(rt.pluginId, r) === hit.entry.instance_id);
    if (n === undefined) others.push(hit);
    else {
      put(n, hit.last_seen_ms, false);
      left.splice(left.indexOf(n), 1);
    }
  }
  for (const [i, hit] of others.entries()) if (i < left.length) put(left[i]!, hit.last_seen_ms, true);
  return out;
}

/** When the earliest of these replicas started (ms), or 0 when none says. */
export function earliestStart(replicas: { started_at?: string }[]): number {
  const starts = replicas.map((r) => Date.parse(r.started_at ?? '')).filter((t) => Number.isFinite(t));
  return starts.length > 0 ? Math.min(...starts) : 0;
}

/** How a plugin's liveness is known, as status shows it. */
export type LivenessStatus =
  | {
      source: 'broker';
      /** The broker, password masked. */
      broker: string;
      connected: boolean;
      /** How the latest matching announce or heartbeat recognised the plugin (absent: none heard). */
      matched_by?: LivenessMatch;
      /** The name it announced itself under, its category and backend id as it said them. */
      announced_as?: string;
      category?: string;
      backend_id?: string;
      /** Its instances heard from since its replicas started. */
      instances: number;
      /** Seconds since the last announce (absent: none heard since this CoreService listens). */
      announce_age_seconds?: number;
      /** Said when this command does not listen (only `coreservice serve` and installs do). */
      note?: string;
    }
  | { source: 'ready'; note: string };

/** The status document's `liveness` for a plugin; undefined when there is nothing to say. */
export function livenessStatus(
  rt: {
    pluginId: string;
    manifest: {
      category: string;
      backend_id?: string | null;
      name: string;
      health_check: { expected_announce: boolean };
    };
  },
  liveness: Liveness | undefined,
  opts: { brokerUrl?: string; sinceMs?: number; now?: number } = {},
): LivenessStatus | undefined {
  const { brokerUrl, sinceMs = 0, now = Date.now() } = opts;
  if (!liveness && brokerUrl) {
    return {
      source: 'broker',
      broker: shownBrokerUrl(brokerUrl),
      connected: false,
      instances: 0,
      note: 'this command does not listen on the broker; coreservice serve does (ask its /admin/plugins/<id>/status)',
    };
  }
  if (!liveness) {
    return rt.manifest.health_check.expected_announce
      ? {
          source: 'ready',
          note: 'no broker is configured (broker.url, MAGELLON_BROKER_URL): its READY line and GET /health are checked instead of an announce on the broker',
        }
      : undefined;
  }
  const hits = liveness
    .matching(installedIdentity(rt), sinceMs)
    .sort((a, b) => b.last_seen_ms - a.last_seen_ms);
  const last = hits[0];
  const announced = Math.max(0, ...hits.map((h) => h.entry.last_announce_ms ?? 0));
  return {
    source: 'broker',
    broker: liveness.shownUrl,
    connected: liveness.connected,
    ...(last
      ? {
          matched_by: last.matched_by,
          announced_as: last.entry.plugin_id,
          category: last.entry.category,
          ...(last.entry.backend_id ? { backend_id: last.entry.backend_id } : {}),
        }
      : {}),
    instances: new Set(hits.map((h) => h.entry.instance_id)).size,
    ...(announced > 0 ? { announce_age_seconds: Math.round(Math.max(0, now - announced) / 100) / 10 } : {}),
  };
}
