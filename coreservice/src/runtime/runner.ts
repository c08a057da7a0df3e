// Runs installed versions through their backend (backends.ts says which serves a method): the
// per-plugin run state (desired running or stopped, replicas), starting with a health check,
// stopping, retiring, status and logs. The install pipeline uses launch() for a version that is not active yet; the lifecycle
// routes use the rest for the active one.
import { resolve } from 'node:path';
import type { InstallMethod } from '@magellon/hub-core';
import { MAX_MANIFEST_BYTES, readManifest } from '@magellon/hub-core/node';
import { InstallError, logCleanupFailure } from '../errors';
import {
  brokerSettingsFile,
  dataDir,
  homeParts,
  manifestFile,
  pluginHome,
  shownPath,
  stateFile,
  versionDir,
} from '../layout';
import { type RecordRead, type RunState, readRecord, runStateSchema, writeRecord } from '../records';
import type { Backend, PluginRuntime, ReplicaInfo, VersionRef } from './backend';
import { backendFor, knownBackend, removeEverywhere } from './backends';
import { readSmallFile } from './files';
import { probeHealth, waitHealthy } from './health';
import { ensureIdentity, killAllOf, readIdentity } from './identity';
import { applyHomeModes, type IsolationSetting, resolveIsolation, runsUnderOwnUid } from './isolation';
import type { Liveness } from './liveness';
import { effectiveSettings, pluginStart, type Settings } from './settings';

/** The per-plugin run state: absent, readable, or unreadable (a finding, never a cast). */
export function readRunState(home: string): RecordRead<RunState> {
  return readRecord(stateFile(home), runStateSchema);
}

export function writeRunState(home: string, state: RunState): void {
  writeRecord(stateFile(home), runStateSchema, state);
}

/** The runtime view of an installed version: its manifest (re-read from its files) and install entry. */
export function loadRuntime(
  pluginsDir: string,
  id: string,
  version: string,
  method: InstallMethod,
): PluginRuntime {
  const home = pluginHome(pluginsDir, id);
  const dir = versionDir(home, version);
  const file = manifestFile(dir);
  const read = readSmallFile(file, MAX_MANIFEST_BYTES);
  if (!read.ok) {
    throw new InstallError(
      'not-found',
      `${file} cannot be read (${read.why}); reinstall ${id} (coreservice uninstall ${id}, then install)`,
    );
  }
  const text = read.text;
  const parsed = readManifest(text, shownPath(pluginsDir, file));
  if (!parsed.ok)
    throw new InstallError(
      'bad-archive',
      `${id} ${version}: its manifest no longer reads: ${parsed.findings[0]?.message}`,
    );
  const entry = parsed.manifest.install.find((e) => e.method === method);
  if (!entry) throw new InstallError('bad-archive', `${id} ${version} has no ${method} install entry`);
  return { pluginId: id, version, home, dir, manifest: parsed.manifest, entry };
}

/** How replicas are started: their settings, heartbeat, isolation. */
export interface SandboxOptions {
  settings?: Settings;
  heartbeatUrl?: string;
  heartbeatSeconds?: number;
  /** How far plugins are kept from CoreService and each other (default auto). */
  isolation?: IsolationSetting;
  /** CoreService's config file: masked inside a namespace sandbox (it holds every plugin's settings). */
  configFile?: string;
  /** The broker plugins announce on (given to them as MAGELLON_BROKER_URL and a settings file). */
  brokerUrl?: string;
  /** What CoreService hears on that broker: health checks and status read it (liveness.ts). */
  liveness?: Liveness;
}

export interface LaunchOptions extends SandboxOptions {
  replicas: number;
  /** Overrides health_check.timeout_seconds (tests). */
  healthTimeoutMs?: number;
}

/**
 * The version with the sandbox its replicas run in (see isolation.ts): the isolation this
 * CoreService gives, the plugin's own uid when it has one (allocated on first use), and the paths
 * a replica may see. Under uid isolation the home's modes are set here, before anything starts.
 */
export async function withSandbox(rt: PluginRuntime, run: SandboxOptions = {}): Promise<PluginRuntime> {
  const { level } = resolveIsolation(run.isolation);
  const { pluginsDir } = homeParts(rt.home);
  const needsIdentity = runsUnderOwnUid(run.isolation);
  const identity = needsIdentity ? await ensureIdentity(pluginsDir, rt.pluginId, rt.home) : undefined;
  if (identity) applyHomeModes(pluginsDir, rt.home, identity);
  const data =
    effectiveSettings(rt.pluginId, rt.home, run.settings).find((s) => s.key === 'data_dir')?.value ??
    dataDir(rt.home);
  return {
    ...rt,
    sandbox: {
      level,
      ...(identity ? { identity } : {}),
      pluginsDir,
      readOnly: [
        rt.dir,
        ...(backendFor(rt.entry.method).readablePaths?.(rt) ?? []),
        ...(run.brokerUrl ? [brokerSettingsFile(rt.home)] : []),
      ],
      writable: [data],
      masked: run.configFile ? [resolve(run.configFile)] : [],
    },
  };
}

/** Replicas to run: the manifest's desired count unless the run state says otherwise. */
export function defaultReplicas(rt: PluginRuntime): number {
  return Math.max(1, rt.manifest.resources?.replicas?.desired ?? 1);
}

/** How many replicas the manifest allows (resources.replicas; one when it says nothing). */
export function replicaBounds(rt: PluginRuntime): { min: number; max: number } {
  const r = rt.manifest.resources?.replicas;
  return { min: Math.max(1, r?.min ?? 1), max: Math.max(1, r?.max ?? 1) };
}

/**
 * Starts a version (the replicas it lacks: those that run are kept) and waits until it is healthy.
 * On failure it is stopped again, or, given `fallBackTo` (a scale up of a running plugin), brought
 * back to that many replicas; the error is rethrown.
 */
export async function launch(
  rt: PluginRuntime,
  opts: LaunchOptions & { fallBackTo?: number },
): Promise<ReplicaInfo[]> {
  const backend = backendFor(rt.entry.method);
  const boxed = await withSandbox(rt, opts);
  const { env, settings } = pluginStart(boxed, opts);
  try {
    await backend.start(boxed, { replicas: opts.replicas, env, settings });
    return await waitHealthy(backend, boxed, { timeoutMs: opts.healthTimeoutMs, liveness: opts.liveness });
  } catch (err) {
    const label = `${rt.pluginId} ${rt.version}`;
    if (opts.fallBackTo)
      await backend
        .start(boxed, { replicas: opts.fallBackTo, env, settings })
        .catch((e: unknown) =>
          logCleanupFailure(`bringing ${label} back to ${opts.fallBackTo} replica(s)`, e),
        );
    else
      await backend
        .stop(boxed, { graceMs: 2_000 })
        .catch((e: unknown) => logCleanupFailure(`stopping ${label} after it failed to start`, e));
    throw err;
  }
}

/**
 * Stops every replica of the plugin's active version and, when the plugin has a uid of its own,
 * every other process of that uid: a daemon a replica left in a session of its own does not
 * outlive its plugin. Only for a plugin with no other version running (not the retired side of an
 * upgrade, whose successor shares the uid).
 */
export async function stopWholePlugin(rt: PluginRuntime, opts: { graceMs?: number } = {}): Promise<void> {
  await backendFor(rt.entry.method).stop(rt, opts);
  killAllOf(readIdentity(rt.home));
}

/**
 * Stops a version and has its backend remove everything it made besides its files (a venv, run
 * records). Without its manifest or method (a crash left the version half-made), every backend
 * removes whatever it holds of that version, stopping what it recorded as running.
 */
export async function retire(rt: VersionRef & Partial<PluginRuntime>, method?: InstallMethod): Promise<void> {
  const backend: Backend | undefined = method ? knownBackend(method) : undefined;
  if (!backend) {
    await removeEverywhere(rt);
    return;
  }
  const label = `${rt.pluginId} ${rt.version}`;
  if (rt.manifest && rt.entry)
    await backend.stop(rt as PluginRuntime).catch((e: unknown) => logCleanupFailure(`stopping ${label}`, e));
  await backend.remove(rt).catch((e: unknown) => logCleanupFailure(`removing ${label}`, e));
}

/** The state of a version's replicas, each probed for health when it has an address (and is not paused). */
export async function replicaStatus(rt: PluginRuntime): Promise<(ReplicaInfo & { healthy: boolean })[]> {
  const replicas = await backendFor(rt.entry.method).status(rt);
  return Promise.all(
    replicas.map(async (r) => ({
      ...r,
      healthy:
        r.state === 'running' &&
        !r.paused &&
        r.host !== undefined &&
        r.port !== undefined &&
        (await probeHealth(r.host, r.port, rt, 500)),
    })),
  );
}
