// The health check of the runtime contract: every replica must announce itself (the READY line,
// when the manifest expects one) and answer GET /health with {"status": "ok"} naming its plugin and
// version, within health_check.timeout_seconds. A replica that exits meanwhile fails it at once.
// With a broker (liveness.ts) and health_check.expected_announce, the broker's announce is a second
// way to prove it: a replica is healthy once it passes the runtime contract above (the hub's own
// plugins, whose published archives print a READY line and announce nothing on the broker) or once
// the broker hears it: as many instances as there are replicas must announce or beat, matching the
// installed plugin by Magellon's rule (matchesInstalled), after the wait began (an instance heard
// before then, such as the old version's during an upgrade, must announce again). Magellon SDK
// plugins print no READY line and may serve no /health: for them the broker is the only proof.
import { request } from 'undici';
import { InstallError } from '../errors';
import type { Backend, PluginRuntime, ReplicaInfo } from './backend';
import { installedIdentity, type Liveness, lastBeats, SDK_HEARTBEAT_SECONDS } from './liveness';
import { sleep } from './proc';

/** One GET /health; true when it answers 200 with status ok for this plugin and version. */
export async function probeHealth(
  host: string,
  port: number,
  rt: Pick<PluginRuntime, 'pluginId' | 'version'>,
  timeoutMs = 1_000,
): Promise<boolean> {
  try {
    const res = await request(`http://${host.includes(':') ? `[${host}]` : host}:${port}/health`, {
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 || text.length > 64 * 1024) return false;
    const body = JSON.parse(text) as Record<string, unknown>;
    return body.status === 'ok' && body.plugin_id === rt.pluginId && body.version === rt.version;
  } catch {
    return false;
  }
}

/**
 * Waits until every replica of `rt` is healthy. Throws `unhealthy` (with the last log lines) when
 * one exits or the time runs out; the caller stops and removes what it started.
 */
export async function waitHealthy(
  backend: Backend,
  rt: PluginRuntime,
  opts: { timeoutMs?: number; pollMs?: number; liveness?: Liveness } = {},
): Promise<ReplicaInfo[]> {
  const timeoutMs = opts.timeoutMs ?? Math.max(1, rt.manifest.health_check.timeout_seconds) * 1000;
  const began = Date.now();
  const deadline = began + timeoutMs;
  const broker = rt.manifest.health_check.expected_announce ? opts.liveness : undefined;
  /** Replicas that passed the runtime contract (READY line and /health): that proof stays. */
  const answered = new Set<number>();
  const healthy = new Set<number>();
  let polls = 0;
  const label = `${rt.pluginId} ${rt.version}`;
  for (;;) {
    const replicas = await backend.status(rt);
    for (const r of replicas) {
      if (r.state === 'exited' || r.state === 'stopped') {
        throw new InstallError(
          'unhealthy',
          `${label} exited (status ${r.exit_code ?? 'unknown'}) before it was healthy`,
          await backend.logs(rt, 20),
        );
      }
      if (!answered.has(r.replica) && r.host && r.port && (await probeHealth(r.host, r.port, rt))) {
        answered.add(r.replica);
      }
    }
    healthy.clear();
    for (const n of answered) healthy.add(n);
    if (broker) {
      // An instance known from before (the old version, still serving through an upgrade, beats under
      // the same replica ids) counts only once it announces again.
      const heard = new Set(
        broker
          .matching(installedIdentity(rt), began)
          .filter((h) => h.entry.first_seen_ms >= began || (h.entry.last_announce_ms ?? 0) >= began)
          .map((h) => h.entry.instance_id),
      );
      // An instance that names its replica (the hub's runtime: MAGELLON_REPLICA_ID) proves that one;
      // an SDK instance (a fresh uuid) proves one of the replicas not proven yet. Without a READY
      // line a backend knows no address, so a live replica stays `starting`.
      let anonymous = 0;
      for (const instance of heard) {
        const n = replicaOfInstance(rt.pluginId, instance);
        if (n !== undefined && replicas.some((r) => r.replica === n)) healthy.add(n);
        else anonymous++;
      }
      for (const r of replicas) {
        if (anonymous === 0) break;
        if (healthy.has(r.replica) || (r.state !== 'running' && r.state !== 'starting')) continue;
        healthy.add(r.replica);
        anonymous--;
      }
    }
    if (replicas.length > 0 && healthy.size === replicas.length) return replicas;
    if (Date.now() >= deadline) {
      throw new InstallError(
        'unhealthy',
        broker
          ? `${label} did not announce itself on the broker ${broker.shownUrl} nor pass its READY and /health check within ${Math.round(timeoutMs / 1000)} s (${healthy.size} of ${replicas.length} replicas heard or healthy${broker.connected ? '' : '; CoreService is not connected to the broker'})`
          : `${label} did not pass its health check within ${Math.round(timeoutMs / 1000)} s (${healthy.size} of ${replicas.length} replicas healthy)`,
        await backend.logs(rt, 20),
      );
    }
    // Most plugins are up within a few hundred milliseconds: ask often at first, then less.
    polls++;
    await sleep(opts.pollMs ?? (polls < 40 ? 25 : 200));
  }
}

/** The replica an instance id names (`<plugin_id>-<n>`, MAGELLON_REPLICA_ID), if it names one. */
function replicaOfInstance(pluginId: string, instance: string): number | undefined {
  if (!instance.startsWith(`${pluginId}-`)) return undefined;
  const rest = instance.slice(pluginId.length + 1);
  return /^\d{1,4}$/.test(rest) ? Number(rest) : undefined;
}

/** How recent a replica's last heartbeat is: `none` when this CoreService has seen none. */
export type Heartbeat = 'fresh' | 'stale' | 'none';

/** A plugin's health: every wanted replica healthy, some of them, or none (stopped included). */
export type PluginHealth = 'healthy' | 'degraded' | 'down';

/**
 * A replica's heartbeat as status shows it: stale once older than twice the interval plugins are
 * given, with its age in seconds (one decimal) when there is one. A beat from before the replica's
 * current run began (`startedAt`: a previous run of the same replica id) counts as none.
 */
export function heartbeatOf(
  lastMs: number | undefined,
  intervalSeconds: number,
  startedAt?: string,
  now = Date.now(),
): { heartbeat: Heartbeat; heartbeat_age_seconds?: number } {
  const since = startedAt === undefined ? Number.NaN : Date.parse(startedAt);
  if (lastMs === undefined || lastMs < since) return { heartbeat: 'none' };
  const age = Math.max(0, now - lastMs);
  return {
    heartbeat: age > 2 * intervalSeconds * 1000 ? 'stale' : 'fresh',
    heartbeat_age_seconds: Math.round(age / 100) / 10,
  };
}

/**
 * The heartbeat of each of a plugin's replicas (see heartbeatOf), from its HTTP heartbeats and what
 * the broker heard (liveness.ts lastBeats). A beat from an SDK instance is judged by the SDK's own
 * interval (15 s) when that is longer than the one plugins are given.
 */
export function replicaHeartbeats(
  rt: Pick<PluginRuntime, 'pluginId' | 'manifest'>,
  replicas: Pick<ReplicaInfo, 'replica' | 'started_at'>[],
  opts: { liveness?: Liveness; heartbeats?: Map<string, number>; intervalSeconds: number },
): (replica: number, startedAt?: string) => ReturnType<typeof heartbeatOf> {
  const beats = lastBeats(rt, replicas, opts);
  return (replica, startedAt) => {
    const beat = beats.get(replica);
    const interval = beat?.sdk ? Math.max(opts.intervalSeconds, SDK_HEARTBEAT_SECONDS) : opts.intervalSeconds;
    return heartbeatOf(beat?.ms, interval, startedAt);
  };
}

/**
 * A replica as status sees it: one a backend calls `starting` (it printed no READY line, so no
 * address is known) runs once the broker has heard from it, when its plugin announces there.
 */
export function withBrokerState<R extends Pick<ReplicaInfo, 'state'>>(
  r: R,
  heartbeat: Heartbeat,
  byBroker: boolean,
): R {
  return byBroker && r.state === 'starting' && heartbeat !== 'none' ? { ...r, state: 'running' } : r;
}

/**
 * Whether a replica counts as healthy: running, not paused, its heartbeat not stale, and answering
 * /health (`answers`; the supervisor, which does not probe, passes true).
 */
export const replicaHealthy = (
  r: Pick<ReplicaInfo, 'state' | 'paused'>,
  heartbeat: Heartbeat,
  answers: boolean,
): boolean => r.state === 'running' && r.paused !== true && heartbeat !== 'stale' && answers;

/** The plugin's health from its replicas' (`healthy` of `total`) and how many are wanted. */
export function pluginHealth(healthy: number, total: number, wanted: number): PluginHealth {
  if (healthy === 0) return 'down';
  return healthy >= wanted && healthy === total ? 'healthy' : 'degraded';
}
