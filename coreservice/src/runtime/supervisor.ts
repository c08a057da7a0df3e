// The supervisor: while CoreService serves, it watches every installed plugin whose desired state
// is running and restarts replicas that ended, as the manifest's lifecycle asks — `no`: never;
// `on-failure`: when the exit status is not 0 (an unknown status counts as a failure); `always` and
// `unless-stopped`: whenever it ends and the operator did not stop it. restart_max_retries caps the
// restarts of a replica (0: no cap); they back off 0.5 s, 1 s, 2 s … up to 10 s.
import type { RunOptions } from '../install';
import { listInstalled } from '../install';
import { isPluginLocked, withPluginLock } from '../lock';
import { recordValue } from '../records';
import type { ReplicaInfo } from './backend';
import { backendFor } from './backends';
import { loadRuntime, readRunState, withSandbox } from './runner';
import { pluginStart } from './settings';

export type SupervisorEvent =
  | {
      type: 'restart';
      plugin_id: string;
      version: string;
      replica: number;
      restarts: number;
      exit_code: number | null;
    }
  | { type: 'gave-up'; plugin_id: string; version: string; replica: number; restarts: number };

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

export const backoffMs = (restarts: number) => Math.min(10_000, 500 * 2 ** Math.min(restarts, 5));

export class Supervisor {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly gaveUp = new Set<string>();

  constructor(
    private readonly pluginsDir: string,
    private readonly run: RunOptions = {},
    private readonly opts: { intervalMs?: number; onEvent?: (e: SupervisorEvent) => void } = {},
  ) {}

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
      for (const receipt of listInstalled(this.pluginsDir)) {
        const id = receipt.plugin_id;
        try {
          if (await isPluginLocked(this.pluginsDir, id)) continue; // an operation owns it right now
          const rt = loadRuntime(this.pluginsDir, id, receipt.version, receipt.method ?? 'subprocess');
          // Absent or unreadable: nobody asked for it to run (status names an unreadable one).
          const state = recordValue(readRunState(rt.home));
          if (state?.desired !== 'running') continue;
          const backend = backendFor(rt.entry.method);
          if (backend.restartsItself) continue; // its engine (docker, systemd) applies the restart policy
          const replicas = await backend.status(rt);
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
