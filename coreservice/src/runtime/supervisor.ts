// The supervisor: while CoreService serves, it watches every installed plugin whose desired state
// is running and restarts replicas that ended, as the manifest's lifecycle asks — `no`: never;
// `on-failure`: when the exit status is not 0 (an unknown status counts as a failure); `always` and
// `unless-stopped`: whenever it ends and the operator did not stop it. restart_max_retries caps the
// restarts of a replica (0: no cap); they back off 0.5 s, 1 s, 2 s … up to 10 s. Each pass also
// works out every running plugin's health from its backend's state and heartbeats, and says when
// it changes (a `status` event: healthy, degraded, down).
import type { Receipt, RunOptions } from '../install';
import { listInstalled } from '../install';
import { isPluginLocked, withPluginLock } from '../lock';
import { recordValue } from '../records';
import type { PluginRuntime, ReplicaInfo } from './backend';
import { backendFor } from './backends';
import {
  type PluginHealth,
  pluginHealth,
  replicaHealthy,
  replicaHeartbeats,
  withBrokerState,
} from './health';
import { loadRuntime, readRunState, withSandbox } from './runner';
import { heartbeatSeconds, pluginStart } from './settings';

export type SupervisorEvent =
  | {
      type: 'restart';
      plugin_id: string;
      version: string;
      replica: number;
      restarts: number;
      exit_code: number | null;
    }
  | { type: 'gave-up'; plugin_id: string; version: string; replica: number; restarts: number }
  | {
      type: 'status';
      plugin_id: string;
      version: string;
      health: PluginHealth;
      /** What the previous pass saw; absent the first time this CoreService sees the install. */
      previous?: PluginHealth;
    };

/** Whether a replica that ended should be started again, by policy and count. */
export function shouldRestart(
  policy: 'no' | 'on-failure' | 'always' | 'unless-stopped',
  maxRetries: number,
  r: Pick<ReplicaInfo, 'exit_code' | 'restarts'>,
): 'restart' | 'leave' | 'give-up' {
  if (policy === 'no') return 'leave';
  if (policy === 'on-failure' && r.exit_code === 0) return 'leave';
  if (maxRetries > 0 && r.restarts >= maxRetries) return 'give-up';
  return 'restart';
}

/** One install of a plugin version (a reinstall is another: its health is seen afresh). */
const healthKey = (r: Receipt) => `${r.plugin_id}@${r.version}@${r.installed_at}`;

export const backoffMs = (restarts: number) => Math.min(10_000, 500 * 2 ** Math.min(restarts, 5));

export class Supervisor {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly gaveUp = new Set<string>();
  /** Each plugin's health as the last pass saw it (`plugin@version`). */
  private readonly health = new Map<string, PluginHealth>();

  constructor(
    private readonly pluginsDir: string,
    private readonly run: RunOptions = {},
    private readonly opts: {
      intervalMs?: number;
      onEvent?: (e: SupervisorEvent) => void;
      /** Replica id → last heartbeat (ms), as the service records them. */
      heartbeats?: Map<string, number>;
    } = {},
  ) {}

  /**
   * A plugin's health from its backend's state and its heartbeats (no /health probe: status does
   * that when asked); a change from what the previous pass saw is a `status` event.
   */
  private noteHealth(
    receipt: Receipt,
    rt: Pick<PluginRuntime, 'pluginId' | 'manifest'>,
    replicas: ReplicaInfo[],
    wanted: number,
  ): void {
    const { plugin_id: id, version } = receipt;
    const beatOf = replicaHeartbeats(rt, replicas, {
      liveness: this.run.liveness,
      heartbeats: this.opts.heartbeats,
      intervalSeconds: heartbeatSeconds(this.run),
    });
    const byBroker = this.run.liveness !== undefined && rt.manifest.health_check.expected_announce;
    const healthy = replicas.filter((r) => {
      const beat = beatOf(r.replica, r.started_at).heartbeat;
      return replicaHealthy(withBrokerState(r, beat, byBroker), beat, true);
    }).length;
    const health = pluginHealth(healthy, replicas.length, wanted);
    const key = healthKey(receipt);
    const previous = this.health.get(key);
    this.health.set(key, health);
    if (previous === health) return;
    // First seen: said, unless it is a stopped plugin being down (nothing changed for anyone).
    if (previous === undefined && wanted === 0) return;
    this.opts.onEvent?.({
      type: 'status',
      plugin_id: id,
      version,
      health,
      ...(previous ? { previous } : {}),
    });
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.opts.intervalMs ?? 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over every installed plugin; public so tests and callers can drive it. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const installed = listInstalled(this.pluginsDir);
      const current = new Set(installed.map(healthKey));
      for (const key of this.health.keys()) if (!current.has(key)) this.health.delete(key);
      for (const receipt of installed) {
        const id = receipt.plugin_id;
        try {
          if (await isPluginLocked(this.pluginsDir, id)) continue; // an operation owns it right now
          const rt = loadRuntime(this.pluginsDir, id, receipt.version, receipt.method ?? 'subprocess');
          // Absent or unreadable: nobody asked for it to run (status names an unreadable one).
          const state = recordValue(readRunState(rt.home));
          if (state?.desired === 'stopped') this.noteHealth(receipt, rt, [], 0);
          if (state?.desired !== 'running') continue;
          const backend = backendFor(rt.entry.method);
          const replicas = await backend.status(rt);
          this.noteHealth(receipt, rt, replicas, state.replicas);
          if (backend.restartsItself) continue; // its engine (docker, systemd) applies the restart policy
          const { restart_policy, restart_max_retries } = rt.manifest.lifecycle;
          for (const r of replicas) {
            if (r.state !== 'exited') continue;
            const key = `${id}@${receipt.version}#${r.replica}:${r.started_at}`;
            const verdict = shouldRestart(restart_policy, restart_max_retries, r);
            if (verdict === 'give-up' && !this.gaveUp.has(key)) {
              this.gaveUp.add(key);
              this.opts.onEvent?.({
                type: 'gave-up',
                plugin_id: id,
                version: receipt.version,
                replica: r.replica,
                restarts: r.restarts,
              });
            }
            if (verdict !== 'restart') continue;
            const since = r.exited_at ? Date.now() - Date.parse(r.exited_at) : Number.POSITIVE_INFINITY;
            if (since < backoffMs(r.restarts)) continue;
            await withPluginLock(this.pluginsDir, id, async () => {
              const boxed = await withSandbox(rt, this.run);
              const { env, settings } = pluginStart(boxed, this.run);
              await backend.restartReplica(boxed, r.replica, {
                replicas: state.replicas,
                env,
                settings,
                restarts: r.restarts + 1,
              });
            });
            this.opts.onEvent?.({
              type: 'restart',
              plugin_id: id,
              version: receipt.version,
              replica: r.replica,
              restarts: r.restarts + 1,
              exit_code: r.exit_code ?? null,
            });
          }
        } catch {
          // One plugin's trouble (a lock taken meanwhile, a manifest gone) never stops the others.
        }
      }
    } finally {
      this.ticking = false;
    }
  }
}
