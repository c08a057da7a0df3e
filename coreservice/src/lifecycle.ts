// The lifecycle of an installed plugin's active version: start, stop, restart, pause, unpause,
// scale, status, logs, and its data dir's snapshots (list, restore), each holding the plugin's lock like installs do. The desired state is
// written first, so the supervisor and a CoreService restart honour what the operator asked.

import { rmSync } from 'node:fs';
import { InstallError } from './errors';
import { newStaging, type Receipt, type RunOptions, readReceipt, tidyStaging } from './install';
import { withPluginLock } from './lock';
import { type RunState, recordValue, unreadable } from './records';
import type { PluginRuntime, ReplicaInfo } from './runtime/backend';
import { backendFor } from './runtime/backends';
import {
  type Heartbeat,
  type PluginHealth,
  pluginHealth,
  replicaHealthy,
  replicaHeartbeats,
  withBrokerState,
} from './runtime/health';
import { readIdentity } from './runtime/identity';
import { applyHomeModes, type IsolationLevel, resolveIsolation, runsUnderOwnUid } from './runtime/isolation';
import { earliestStart, type LivenessStatus, livenessStatus } from './runtime/liveness';
import type { FollowOptions, LogLine } from './runtime/log-follow';
import {
  defaultReplicas,
  launch,
  loadRuntime,
  readRunState,
  replicaBounds,
  replicaStatus,
  stopWholePlugin,
  writeRunState,
} from './runtime/runner';
import { type EffectiveSetting, heartbeatSeconds } from './runtime/settings';
import { listSnapshots, type SnapshotInfo, snapshotDirOf, snapshotInfos, swapInSnapshot } from './snapshots';

function installed(pluginsDir: string, id: string): { receipt: Receipt; rt: PluginRuntime } {
  const receipt = readReceipt(pluginsDir, id);
  if (!receipt) throw new InstallError('not-found', `${id} is not installed`);
  return { receipt, rt: loadRuntime(pluginsDir, id, receipt.version, receipt.method ?? 'subprocess') };
}

/** The run state; when absent or unreadable, the default (running, the manifest's replicas). */
const stateOf = (rt: PluginRuntime): RunState =>
  recordValue(readRunState(rt.home)) ?? { desired: 'running', replicas: defaultReplicas(rt) };

/** One replica in a plugin's status. */
export type ReplicaStatus = Omit<ReplicaInfo, 'given'> & {
  /** The backend (install method) that runs it. */
  backend: string;
  /** Running, not paused, answering /health, and its heartbeat not stale. */
  healthy: boolean;
  /** fresh, stale (older than twice the interval plugins are given), none (none seen since this CoreService started). */
  heartbeat: Heartbeat;
  heartbeat_age_seconds?: number;
};

export interface PluginStatus {
  plugin_id: string;
  version: string;
  method: string;
  desired: RunState['desired'];
  /** running: every replica healthy · degraded: some · starting · stopped · failed: none healthy while wanted. */
  state: 'running' | 'degraded' | 'starting' | 'stopped' | 'failed';
  /** healthy: every wanted replica running and healthy · degraded: some healthy · down: none (stopped too). */
  health: PluginHealth;
  /** health is healthy (Magellon shows it as a chip). */
  healthy: boolean;
  /** Replicas wanted (the run state), allowed (the manifest's resources.replicas) and running. */
  scale: { desired: number; min: number; max: number; live: number };
  /** Always true (Magellon's field: the route answers only for installed plugins). */
  installed: true;
  /** Some replica runs (or is starting; paused ones too). */
  running: boolean;
  /**
   * Magellon's summary: running, paused, stopped (none, or all ended), unknown (starting, or its
   * record unreadable), partial (replicas in different ones of these).
   */
  status: 'running' | 'stopped' | 'paused' | 'partial' | 'unknown';
  /** Its backend can pause and unpause it (containers, Slurm jobs). */
  supports_pause: boolean;
  /** Its manifest allows more than one replica. */
  supports_scale: boolean;
  replicas: ReplicaStatus[];
  /**
   * The settings the running plugin was given when it was started (from its replica's run record,
   * not from the caller's config or environment), secrets masked; empty when none is recorded.
   */
  settings: EffectiveSetting[];
  /** The environment that replica was started with, secrets masked (the heartbeat secret among them). */
  environment: Record<string, string>;
  /** Which replica's run record `settings` come from, and when it was started; null when none has one. */
  settings_from: { replica: number; started_at?: string } | null;
  snapshots: string[];
  receipt: Receipt;
  /**
   * What CoreService could not read about it, each naming the file and why (`unreadable record
   * <path>: …`): its run state, a replica's run record. Empty when all is well.
   */
  problems: string[];
  /**
   * How the plugin is kept from CoreService and other plugins: what its replicas run with (or,
   * stopped, what they would get), its own uid when it has one, and why (none: what is exposed).
   */
  isolation: { level: IsolationLevel; uid?: number; why: string };
  /**
   * How its liveness is known: from the broker (which announce matched it, and how), or, when no
   * broker is configured and its manifest expects an announce, from its READY line and /health.
   * Absent for a plugin that announces nothing and no broker.
   */
  liveness?: LivenessStatus;
}

/** The isolation a plugin's replicas run with; a mismatch with what this CoreService gives is said. */
function isolationOf(
  rt: PluginRuntime,
  replicas: ReplicaInfo[],
  run: RunOptions | undefined,
): PluginStatus['isolation'] {
  let given: { level: IsolationLevel; why: string };
  try {
    given = resolveIsolation(run?.isolation);
  } catch (err) {
    given = { level: 'none', why: (err as Error).message };
  }
  const live = replicas.filter((r) => r.state === 'running' || r.state === 'starting');
  const levels = new Set(live.map((r) => r.isolation ?? 'none'));
  const uid = readIdentity(rt.home)?.uid;
  const ids = uid !== undefined ? { uid } : {};
  if (levels.size === 0 || (levels.size === 1 && levels.has(given.level)))
    return { level: given.level, ...ids, why: given.why };
  const weakest = levels.has('none') ? 'none' : levels.has('namespace') ? 'namespace' : 'uid';
  return {
    level: weakest,
    ...ids,
    why: `running replicas were started with isolation ${[...levels].join(', ')}; restart the plugin to give it ${given.level} (${given.why})`,
  };
}

/** Magellon's one-word status of a plugin from its replicas' states. */
function summary(replicas: Pick<ReplicaInfo, 'state' | 'paused'>[]): PluginStatus['status'] {
  const kinds = new Set(
    replicas.map((r) =>
      r.state === 'running'
        ? r.paused
          ? 'paused'
          : 'running'
        : r.state === 'stopped' || r.state === 'exited'
          ? 'stopped'
          : 'unknown',
    ),
  );
  if (kinds.size === 0) return 'stopped';
  return kinds.size === 1 ? [...kinds][0]! : 'partial';
}

/** What an installed plugin is doing; `heartbeats` maps replica ids to the last heartbeat time (ms). */
export async function pluginStatus(
  pluginsDir: string,
  id: string,
  opts: { run?: RunOptions; heartbeats?: Map<string, number> } = {},
): Promise<PluginStatus> {
  const { receipt, rt } = installed(pluginsDir, id);
  const stateRead = readRunState(rt.home);
  const state = recordValue(stateRead) ?? { desired: 'running' as const, replicas: defaultReplicas(rt) };
  const all = await replicaStatus(rt);
  const problems = [
    ...(stateRead.ok || stateRead.absent ? [] : [unreadable(stateRead.path, stateRead.why)]),
    ...all.flatMap((r) => (r.unreadable ? [unreadable(r.unreadable.path, r.unreadable.why)] : [])),
  ];
  // What the plugin got: a live replica's record first, else the one that was started last.
  const recorded =
    all.find((r) => r.given && (r.state === 'running' || r.state === 'starting')) ??
    all.filter((r) => r.given).sort((a, b) => (b.started_at ?? '').localeCompare(a.started_at ?? ''))[0];
  const interval = heartbeatSeconds(opts.run ?? {});
  const method = rt.entry.method;
  const liveness = opts.run?.liveness;
  const beatOf = replicaHeartbeats(rt, all, {
    liveness,
    heartbeats: opts.heartbeats,
    intervalSeconds: interval,
  });
  // A plugin that announces on the broker need not answer /health (Magellon SDK plugins do not).
  const byBroker = liveness !== undefined && rt.manifest.health_check.expected_announce;
  const replicas = all.map(({ given: _given, healthy: answers, ...seen }): ReplicaStatus => {
    const beat = beatOf(seen.replica, seen.started_at);
    const r = withBrokerState(seen, beat.heartbeat, byBroker);
    const ok = answers || (byBroker && beat.heartbeat === 'fresh');
    return { ...r, backend: method, healthy: replicaHealthy(r, beat.heartbeat, ok), ...beat };
  });
  const heard = livenessStatus(rt, liveness, {
    brokerUrl: opts.run?.brokerUrl,
    sinceMs: earliestStart(all.filter((r) => r.state === 'running' || r.state === 'starting')),
  });
  const healthy = replicas.filter((r) => r.healthy).length;
  const alive = replicas.filter((r) => r.state === 'running' || r.state === 'starting').length;
  const overall: PluginStatus['state'] =
    replicas.length > 0 && healthy === replicas.length
      ? 'running'
      : healthy > 0
        ? 'degraded'
        : alive > 0
          ? 'starting'
          : state.desired === 'stopped'
            ? 'stopped'
            : 'failed';
  const health = pluginHealth(healthy, replicas.length, state.desired === 'running' ? state.replicas : 0);
  const bounds = replicaBounds(rt);
  return {
    plugin_id: id,
    version: receipt.version,
    method: rt.entry.method,
    desired: state.desired,
    state: overall,
    health,
    healthy: health === 'healthy',
    scale: {
      desired: state.replicas,
      ...bounds,
      live: replicas.filter((r) => r.state === 'running').length,
    },
    installed: true,
    running: alive > 0,
    status: summary(replicas),
    supports_pause: backendFor(method).pause !== undefined,
    supports_scale: bounds.max > 1,
    replicas,
    settings: recorded?.given?.settings ?? [],
    environment: recorded?.given?.environment ?? {},
    settings_from: recorded ? { replica: recorded.replica, started_at: recorded.started_at } : null,
    snapshots: listSnapshots(rt.home),
    receipt,
    problems,
    isolation: isolationOf(rt, replicas, opts.run),
    ...(heard ? { liveness: heard } : {}),
  };
}

/** How replicas are run, and the heartbeats the service has seen (for the status an action answers). */
export type LifecycleOptions = RunOptions & { heartbeats?: Map<string, number> };

/**
 * One lifecycle action on the installed version, holding the plugin's lock; answers the status
 * after it. The desired state the action implies is written first.
 */
function act(
  pluginsDir: string,
  id: string,
  run: LifecycleOptions,
  action: (rt: PluginRuntime) => Promise<void>,
): Promise<PluginStatus> {
  return withPluginLock(pluginsDir, id, async () => {
    await action(installed(pluginsDir, id).rt);
    return pluginStatus(pluginsDir, id, { run, heartbeats: run.heartbeats });
  });
}

/** The run state with `desired` set, written before anything is done about it. */
function want(rt: PluginRuntime, change: Partial<RunState>): RunState {
  const state = { ...stateOf(rt), ...change };
  writeRunState(rt.home, state);
  return state;
}

/** Starts the active version (a no-op when every replica is already up) and waits until it is healthy. */
export function startPlugin(
  pluginsDir: string,
  id: string,
  run: LifecycleOptions = {},
): Promise<PluginStatus> {
  return act(pluginsDir, id, run, (rt) => ensureRunning(rt, want(rt, { desired: 'running' }), run));
}

/**
 * Brings a version up to its desired replicas: replicas that are gone are started again, those
 * beyond the count are stopped, and those that run are kept (a scale up or down leaves them be).
 */
async function ensureRunning(rt: PluginRuntime, state: RunState, run: RunOptions): Promise<void> {
  const backend = backendFor(rt.entry.method);
  const replicas = await backend.status(rt);
  const up = replicas.filter((r) => r.state === 'running' || r.state === 'starting').length;
  if (up === state.replicas && replicas.length === state.replicas) return;
  if (up === 0) {
    await stopWholePlugin(rt, { graceMs: 3_000 });
    await launch(rt, { ...run, replicas: state.replicas });
    return;
  }
  // A failed scale up goes back to the replicas it had; what ran before keeps running.
  await launch(rt, { ...run, replicas: state.replicas, fallBackTo: Math.min(up, state.replicas) });
}

export function stopPlugin(
  pluginsDir: string,
  id: string,
  run: LifecycleOptions = {},
): Promise<PluginStatus> {
  return act(pluginsDir, id, run, async (rt) => {
    want(rt, { desired: 'stopped' });
    await stopWholePlugin(rt);
  });
}

export function restartPlugin(
  pluginsDir: string,
  id: string,
  run: LifecycleOptions = {},
): Promise<PluginStatus> {
  return act(pluginsDir, id, run, async (rt) => {
    const state = want(rt, { desired: 'running' });
    await stopWholePlugin(rt);
    await launch(rt, { ...run, replicas: state.replicas });
  });
}

/** Pause or unpause: only a backend that can freeze a plugin (containers) does; otherwise 409. */
export function pausePlugin(
  pluginsDir: string,
  id: string,
  pause: boolean,
  run: LifecycleOptions = {},
): Promise<PluginStatus> {
  return act(pluginsDir, id, run, async (rt) => {
    const backend = backendFor(rt.entry.method);
    const fn = pause ? backend.pause : backend.unpause;
    if (!fn) {
      throw new InstallError(
        'unsupported',
        `${id} runs on the ${rt.entry.method} backend, which cannot ${pause ? 'pause' : 'unpause'} a plugin (only containers can)`,
      );
    }
    await fn.call(backend, rt);
  });
}

/** Sets the number of replicas (within the manifest's min..max) and applies it when the plugin runs. */
export function scalePlugin(
  pluginsDir: string,
  id: string,
  desired: number,
  run: LifecycleOptions = {},
): Promise<PluginStatus> {
  return act(pluginsDir, id, run, async (rt) => {
    const bounds = replicaBounds(rt);
    if (!Number.isInteger(desired) || desired < bounds.min || desired > bounds.max) {
      throw new InstallError(
        'bad-request',
        `${id} runs between ${bounds.min} and ${bounds.max} replicas (its manifest's resources.replicas); ${String(desired)} is outside`,
      );
    }
    const before = stateOf(rt);
    const state = want(rt, { replicas: desired });
    if (state.desired !== 'running') return;
    try {
      await ensureRunning(rt, state, run);
    } catch (err) {
      // It did not take: the run state says what runs again.
      writeRunState(rt.home, before);
      throw err;
    }
  });
}

/** The plugin's snapshots of its data dir, oldest first. */
export function pluginSnapshots(pluginsDir: string, id: string): SnapshotInfo[] {
  return snapshotInfos(installed(pluginsDir, id).rt.home);
}

/** What a restore did: the snapshot put back, the name the replaced data was kept under, the status after. */
export interface RestoreResult {
  restored: string;
  /** The snapshot the data dir as it was became (restore this one to undo); absent when there was none. */
  kept_as?: string;
  status: PluginStatus;
}

/**
 * Puts snapshot `name` back as the plugin's data dir, holding its lock: the name is checked before
 * anything is touched; a running plugin is stopped, the current data kept as a snapshot of its
 * own, the snapshot's copy renamed into place, given to the plugin's uid when it has one, and the
 * plugin started again (healthy) if it was running.
 */
export function restoreSnapshot(
  pluginsDir: string,
  id: string,
  name: string,
  run: LifecycleOptions = {},
): Promise<RestoreResult> {
  return withPluginLock(pluginsDir, id, async () => {
    const { receipt, rt } = installed(pluginsDir, id);
    snapshotDirOf(rt.home, name);
    const running = (await backendFor(rt.entry.method).status(rt)).some(
      (r) => r.state === 'running' || r.state === 'starting',
    );
    if (running) await stopWholePlugin(rt);
    const staging = newStaging(pluginsDir, id);
    let kept: string | undefined;
    try {
      kept = swapInSnapshot(rt.home, name, staging, receipt.version).kept;
    } finally {
      rmSync(staging, { recursive: true, force: true });
      tidyStaging(pluginsDir);
    }
    const identity = runsUnderOwnUid(run.isolation) ? readIdentity(rt.home) : undefined;
    if (identity) applyHomeModes(pluginsDir, rt.home, identity);
    if (running) await launch(rt, { ...run, replicas: stateOf(rt).replicas });
    return {
      restored: name,
      ...(kept ? { kept_as: kept } : {}),
      status: await pluginStatus(pluginsDir, id, { run, heartbeats: run.heartbeats }),
    };
  });
}

export async function pluginLogs(pluginsDir: string, id: string, tail: number): Promise<string[]> {
  const { rt } = installed(pluginsDir, id);
  return backendFor(rt.entry.method).logs(rt, tail);
}

/**
 * The installed version's logs as they are written (its backend's `follow`), until `opts.signal`
 * aborts. `several`: the version has (or had, since) more than one replica, so a line shown
 * should say its replica (`[n] `), as `pluginLogs` does.
 */
export async function followPluginLogs(
  pluginsDir: string,
  id: string,
  opts: FollowOptions,
  onLine: (l: LogLine, several: boolean) => void,
): Promise<void> {
  const { rt } = installed(pluginsDir, id);
  const backend = backendFor(rt.entry.method);
  let several = (await backend.status(rt)).length > 1;
  await backend.follow(rt, opts, (l) => {
    if (l.replica !== 0) several = true;
    onLine(l, several);
  });
}
