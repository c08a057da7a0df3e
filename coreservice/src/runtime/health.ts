// The health check of the runtime contract: every replica must announce itself (the READY line,
// when the manifest expects one) and answer GET /health with {"status": "ok"} naming its plugin and
// version, within health_check.timeout_seconds. A replica that exits meanwhile fails it at once.
import { request } from 'undici';
import { InstallError } from '../errors';
import type { Backend, PluginRuntime, ReplicaInfo } from './backend';
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
  opts: { timeoutMs?: number; pollMs?: number } = {},
): Promise<ReplicaInfo[]> {
  const timeoutMs = opts.timeoutMs ?? Math.max(1, rt.manifest.health_check.timeout_seconds) * 1000;
  const deadline = Date.now() + timeoutMs;
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
      if (!healthy.has(r.replica) && r.host && r.port && (await probeHealth(r.host, r.port, rt))) {
        healthy.add(r.replica);
      }
    }
    if (replicas.length > 0 && healthy.size === replicas.length) return replicas;
    if (Date.now() >= deadline) {
      throw new InstallError(
        'unhealthy',
        `${label} did not pass its health check within ${Math.round(timeoutMs / 1000)} s (${healthy.size} of ${replicas.length} replicas healthy)`,
        await backend.logs(rt, 20),
      );
    }
    // Most plugins are up within a few hundred milliseconds: ask often at first, then less.
    polls++;
    await sleep(opts.pollMs ?? (polls < 40 ? 25 : 200));
  }
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
