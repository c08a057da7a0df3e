// Replicas of process and uv plugins supervised by systemd instead of CoreService's supervisor
// (config `supervisor: systemd`): the process or uv backend still prepares the version (checks
// main.py, makes the venv) and owns its run dir; each replica is a unit (systemd-unit.ts) written to
// the manager's runtime unit dir and driven with `systemctl [--user]`. systemd restarts replicas
// by the manifest's policy, so the supervisor leaves them alone (`restartsItself`). The replica's
// stdout and stderr still go to `replica-<n>.out` / `.log` in the run dir (no journal needed), and
// its environment to `replica-<n>.env` (0600, readable only by the manager's user).
//
// The run record (`replica-<n>.json`) keeps what CoreService gave the replica (its port, settings)
// and whether the operator stopped it; what runs is systemd's to say (`systemctl show`).
import { execFile } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { InstallMethod } from '@magellon/hub-core';
import { InstallError } from '../errors';
import { dataDir, replicaFile, runDir, venvDir, venvPython } from '../layout';
import { type ReplicaRecord, readRecord, replicaRecordSchema, writeRecord } from '../records';
import type { Backend, PluginRuntime, Prepared, ReplicaInfo, StartOptions, VersionRef } from './backend';
import { openOwnFile, writeFileDurably } from './files';
import { findPython, type HostFacts } from './host';
import { type FollowOptions, followFiles, type LogLine } from './log-follow';
import { isAlive, processStart } from './proc';
import { freePort, readAnnounce, readBounded } from './process';
import { shownEnvironment, shownSettings } from './settings';
import { renderEnvironmentFile, renderUnit, replicaArgv, UnitRefusal, unitName } from './systemd-unit';

/** A systemd manager CoreService can reach with systemctl. */
export interface SystemdManager {
  /** `user`: a `systemd --user` (systemctl --user); `system`: PID 1 (CoreService as root). */
  scope: 'user' | 'system';
  /** Where units go: the manager's runtime unit dir (`$XDG_RUNTIME_DIR/systemd/user`, `/run/systemd/system`). */
  unitDir: string;
  /** Run systemctl as this user, and give it the files the manager opens (a user manager of another user). */
  runAs?: { uid: number; gid: number };
  /** The environment systemctl needs (XDG_RUNTIME_DIR for a user manager). */
  env?: Record<string, string>;
}

/** The manager CoreService's own user has: the system manager for root, else its user manager. */
export function ownManager(env: NodeJS.ProcessEnv = process.env): SystemdManager {
  if (process.getuid?.() === 0) return { scope: 'system', unitDir: '/run/systemd/system' };
  const runtime = env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.()}`;
  return {
    scope: 'user',
    unitDir: join(runtime, 'systemd', 'user'),
    env: { XDG_RUNTIME_DIR: runtime, PATH: env.PATH ?? '/usr/bin:/bin' },
  };
}

type Ran = { code: number; stdout: string; stderr: string };

/** `systemctl [--user] <args>` against the manager; never throws. */
export function systemctl(m: SystemdManager, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      'systemctl',
      [...(m.scope === 'user' ? ['--user'] : []), '--no-pager', ...args],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: m.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        ...(m.runAs ? { uid: m.runAs.uid, gid: m.runAs.gid } : {}),
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? err.message : '') });
      },
    );
  });
}

/** Why the manager cannot run units, or undefined when it answers. */
export async function managerUnavailable(m: SystemdManager): Promise<string | undefined> {
  const r = await systemctl(m, ['show', '--property=Version']);
  if (r.code === 0 && /^Version=/m.test(r.stdout)) return undefined;
  const why = (r.stderr || r.stdout).trim().split('\n')[0] || `exit status ${r.code}`;
  return `no systemd ${m.scope} manager answers systemctl${m.scope === 'user' ? ' --user' : ''} (${why})`;
}

export const SUPERVISORS = ['coreservice', 'systemd'] as const;
export type SupervisorSetting = (typeof SUPERVISORS)[number];

/**
 * Makes process and uv replicas run as units of `manager` (CoreService's own by default) when the
 * setting is `systemd`; refuses (`incompatible`) when no manager answers. `coreservice`: CoreService
 * supervises them (the default).
 */
export async function applySupervisor(
  setting: SupervisorSetting,
  manager: SystemdManager = ownManager(),
): Promise<void> {
  const { superviseWithSystemd } = await import('./backends');
  if (setting !== 'systemd') {
    superviseWithSystemd(undefined);
    return;
  }
  const why = await managerUnavailable(manager);
  if (why) throw new InstallError('incompatible', `supervisor "systemd" is not available: ${why}`);
  superviseWithSystemd(manager);
}

const PROPS = [
  'ActiveState',
  'SubState',
  'MainPID',
  'ExecMainPID',
  'NRestarts',
  'ExecMainCode',
  'ExecMainStatus',
];

/** A written unit: its name, and the run record to write once it runs (its pid is known then). */
type Made = { name: string; record: string; given: Omit<ReplicaRecord, 'pid'> };

/** `systemctl show` of several units, each as an object (missing units: LoadState=not-found). */
async function show(m: SystemdManager, units: string[]): Promise<Record<string, string>[]> {
  if (units.length === 0) return [];
  const r = await systemctl(m, ['show', ...units, ...PROPS.flatMap((p) => ['-p', p])]);
  return r.stdout
    .trim()
    .split(/\n\n/)
    .map((block) =>
      Object.fromEntries(
        block
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ),
    );
}

/** A unit whose process runs, or is being started or stopped (not one waiting to be restarted). */
const activeUnit = (s: Record<string, string>) =>
  s.ActiveState === 'active' ||
  s.ActiveState === 'deactivating' ||
  (s.ActiveState === 'activating' && s.SubState !== 'auto-restart');

/** Process or uv backend, its replicas run as systemd units. */
export class SystemdSupervised implements Backend {
  readonly method: InstallMethod;
  /** systemd restarts its replicas: CoreService's supervisor must not. */
  readonly restartsItself = true;

  constructor(
    private readonly inner: Backend,
    private readonly manager: SystemdManager,
  ) {
    this.method = inner.method;
  }

  unavailable(host: HostFacts): string | undefined {
    return this.inner.unavailable(host);
  }

  readablePaths(rt: PluginRuntime): string[] {
    return this.inner.readablePaths?.(rt) ?? [];
  }

  prepare(rt: PluginRuntime, log: (line: string) => void): Promise<Prepared | undefined> {
    return this.inner.prepare(rt, log);
  }

  /** The interpreter the process backend would run main.py with: the venv's (uv) or python3. */
  private async interpreter(rt: PluginRuntime): Promise<string> {
    if (this.method === 'uv') return venvPython(venvDir(rt.home, rt.version));
    const python = (await findPython())?.executable;
    if (!python) throw new InstallError('backend-failed', 'python3 is not installed');
    return python;
  }

  /** The unit names of a version's replicas that have unit files, by replica number. */
  private unitsOf(ref: VersionRef): { n: number; name: string }[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.manager.unitDir);
    } catch {
      // no unit folder yet: no units
    }
    const prefix = unitName(ref.home, ref.pluginId, ref.version, 0).replace(/0\.service$/, '');
    return names.flatMap((name) => {
      const n = name.startsWith(prefix) ? /^(\d+)\.service$/.exec(name.slice(prefix.length))?.[1] : undefined;
      return n === undefined ? [] : [{ n: Number(n), name }];
    });
  }

  /** Gives a file the manager opens (or reads) to the manager's user. */
  private give(path: string): void {
    if (this.manager.runAs) chownSync(path, this.manager.runAs.uid, this.manager.runAs.gid);
  }

  async start(rt: PluginRuntime, opts: StartOptions): Promise<void> {
    mkdirSync(runDir(rt.home, rt.version), { recursive: true });
    mkdirSync(this.manager.unitDir, { recursive: true });
    // Replicas beyond the new count go (after a scale down): their units and records.
    const extra = this.unitsOf(rt).filter((u) => u.n >= opts.replicas);
    if (extra.length > 0) await this.stopUnits(extra.map((u) => u.name));
    for (const { n, name } of extra) {
      rmSync(join(this.manager.unitDir, name), { force: true });
      for (const kind of ['json', 'out', 'env'] as const)
        rmSync(replicaFile(rt.home, rt.version, n, kind), { force: true });
    }
    // Units that are active are left alone (a scale up keeps them); the others are written and started.
    const kept = this.unitsOf(rt).filter((u) => u.n < opts.replicas);
    const shown = await show(
      this.manager,
      kept.map((u) => u.name),
    );
    const live = new Set(kept.flatMap((u, i) => (activeUnit(shown[i] ?? {}) ? [u.n] : [])));
    const made: Made[] = [];
    for (let n = 0; n < opts.replicas; n++) if (!live.has(n)) made.push(await this.writeUnit(rt, n, opts));
    if (made.length > 0) await this.launch(rt, made);
  }

  async restartReplica(rt: PluginRuntime, n: number, opts: StartOptions & { restarts: number }) {
    await this.launch(rt, [await this.writeUnit(rt, n, opts)]);
  }

  /** Loads the written units, (re)starts them from a clean slate and records what runs. */
  private async launch(rt: PluginRuntime, made: Made[]): Promise<void> {
    const names = made.map((m) => m.name);
    await this.reload();
    // A unit that gave up (its start limit) starts again only once reset; one that never failed has nothing to reset.
    await systemctl(this.manager, ['reset-failed', ...names]);
    const started = await systemctl(this.manager, ['restart', ...names]);
    if (started.code !== 0) {
      throw new InstallError(
        'backend-failed',
        `systemd could not start ${rt.pluginId} ${rt.version}: ${started.stderr.trim().split('\n')[0]}`,
      );
    }
    // Type=exec: restart returns once main.py's interpreter was executed, so ExecMainPID names it.
    const shown = await show(this.manager, names);
    made.forEach((m, i) => {
      const pid = Number(shown[i]?.ExecMainPID ?? 0);
      if (!(pid > 0)) return;
      const start = processStart(pid);
      writeRecord(m.record, replicaRecordSchema, { ...m.given, pid, ...(start ? { pid_start: start } : {}) });
    });
  }

  /** Writes one replica's environment file and unit; returns what its run record will say. */
  private async writeUnit(rt: PluginRuntime, n: number, opts: StartOptions): Promise<Made> {
    const announce = rt.manifest.health_check.expected_announce;
    const port = announce ? undefined : await freePort();
    const env = { ...opts.env, MAGELLON_REPLICA_ID: `${rt.pluginId}-${n}`, PYTHONUNBUFFERED: '1' };
    const file = (kind: 'json' | 'out' | 'log' | 'env') => replicaFile(rt.home, rt.version, n, kind);
    const name = unitName(rt.home, rt.pluginId, rt.version, n);
    let unit: string;
    let envText: string;
    try {
      envText = renderEnvironmentFile(env);
      const s = rt.sandbox;
      unit = renderUnit({
        pluginId: rt.pluginId,
        version: rt.version,
        replica: n,
        argv: replicaArgv(await this.interpreter(rt), port ?? 0),
        workingDirectory: rt.dir,
        environmentFile: file('env'),
        stdoutFile: file('out'),
        stderrFile: file('log'),
        lifecycle: rt.manifest.lifecycle,
        stopGraceSeconds: 5,
        manager: this.manager.scope,
        ...(this.manager.scope === 'system' && s?.identity
          ? { identity: { uid: s.identity.uid, gid: s.identity.gid } }
          : {}),
        ...(s
          ? {
              sandbox: {
                pluginsDir: s.pluginsDir,
                readOnly: s.readOnly,
                writable: s.writable,
                masked: s.masked,
              },
            }
          : { readWritePaths: [dataDir(rt.home)] }),
      });
    } catch (err) {
      if (err instanceof UnitRefusal) {
        throw new InstallError(
          'backend-failed',
          `${rt.pluginId} ${rt.version} cannot run as a unit: ${err.message}`,
        );
      }
      throw err;
    }
    writeFileDurably(file('env'), envText);
    this.give(file('env'));
    // The manager opens these as its user: they exist, and are its, before it starts.
    for (const kind of ['out', 'log'] as const) {
      closeSync(openOwnFile(file(kind), kind === 'out' ? 'truncate' : 'append'));
      this.give(file(kind));
    }
    writeFileDurably(join(this.manager.unitDir, name), unit);
    this.give(join(this.manager.unitDir, name));
    const given: Omit<ReplicaRecord, 'pid'> = {
      started_at: new Date().toISOString(),
      restarts: 0,
      ...(port ? { port } : {}),
      // Under a user manager the replica runs as the manager's user, whatever the plugin's identity.
      isolation: this.manager.scope === 'system' ? (rt.sandbox?.level ?? 'none') : 'none',
      given: {
        settings: shownSettings(opts.settings ?? []),
        environment: shownEnvironment(env, rt.pluginId),
      },
    };
    return { name, record: file('json'), given };
  }

  private async reload(): Promise<void> {
    const r = await systemctl(this.manager, ['daemon-reload']);
    if (r.code !== 0)
      throw new InstallError('backend-failed', `systemctl daemon-reload failed: ${r.stderr.trim()}`);
  }

  private async stopUnits(names: string[]): Promise<void> {
    if (names.length > 0) await systemctl(this.manager, ['stop', ...names]);
  }

  async stop(rt: PluginRuntime): Promise<void> {
    const units = this.unitsOf(rt);
    for (const { n } of units) {
      const file = replicaFile(rt.home, rt.version, n, 'json');
      const rec = readRecord(file, replicaRecordSchema);
      if (rec.ok) writeRecord(file, replicaRecordSchema, { ...rec.value, stopped: true });
    }
    // TimeoutStopSec= is the grace: systemctl stop returns when the whole cgroup is gone.
    await this.stopUnits(units.map((u) => u.name));
  }

  async status(rt: PluginRuntime): Promise<ReplicaInfo[]> {
    const units = this.unitsOf(rt).sort((a, b) => a.n - b.n);
    const shown = await show(
      this.manager,
      units.map((u) => u.name),
    );
    return units.map(({ n }, i): ReplicaInfo => {
      const s = shown[i] ?? {};
      const path = replicaFile(rt.home, rt.version, n, 'json');
      const read = readRecord(path, replicaRecordSchema);
      if (!read.ok) {
        return {
          replica: n,
          state: 'unknown',
          restarts: 0,
          unreadable: { path, why: read.absent ? 'it is gone' : read.why },
        };
      }
      const rec = read.value;
      const pid = Number(s.MainPID ?? 0);
      const alive = activeUnit(s) && pid > 0 && isAlive(pid, undefined);
      const addr = rec.port
        ? { host: '127.0.0.1', port: rec.port }
        : readAnnounce(replicaFile(rt.home, rt.version, n, 'out'), rt);
      // ExecMainCode 1 (CLD_EXITED): ExecMainStatus is its exit status; else a signal ended it.
      const exit = s.ExecMainCode === '1' ? Number(s.ExecMainStatus) : null;
      return {
        replica: n,
        state: alive ? (addr ? 'running' : 'starting') : rec.stopped ? 'stopped' : 'exited',
        ref: units[i]!.name,
        ...(pid > 0 ? { pid } : rec.pid > 0 ? { pid: rec.pid } : {}),
        ...(alive && addr ? addr : {}),
        started_at: rec.started_at,
        ...(alive ? {} : { exit_code: exit }),
        restarts: Number(s.NRestarts ?? 0) || 0,
        ...(rec.isolation ? { isolation: rec.isolation } : {}),
        ...(rec.given ? { given: rec.given } : {}),
      };
    });
  }

  async logs(rt: PluginRuntime, tail: number): Promise<string[]> {
    const units = this.unitsOf(rt).sort((a, b) => a.n - b.n);
    const lines: string[] = [];
    for (const { n } of units) {
      const text = readBounded(replicaFile(rt.home, rt.version, n, 'log'), 512 * 1024, true);
      const mine = text.split('\n').filter((l) => l.length > 0);
      lines.push(...(units.length > 1 ? mine.map((l) => `[${n}] ${l}`) : mine));
    }
    return lines.slice(-Math.max(0, tail));
  }

  follow(rt: PluginRuntime, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void> {
    const files = () =>
      this.unitsOf(rt)
        .sort((a, b) => a.n - b.n)
        .map(({ n }) => ({ replica: n, path: replicaFile(rt.home, rt.version, n, 'log') }));
    return followFiles(files, opts, onLine);
  }

  async remove(ref: VersionRef): Promise<void> {
    const units = this.unitsOf(ref);
    await this.stopUnits(units.map((u) => u.name));
    for (const { name } of units) rmSync(join(this.manager.unitDir, name), { force: true });
    if (units.length > 0) {
      await systemctl(this.manager, ['reset-failed', ...units.map((u) => u.name)]);
      await systemctl(this.manager, ['daemon-reload']);
    }
    await this.inner.remove(ref);
  }

  async leftovers(home: string, installed?: string): Promise<string[]> {
    return this.inner.leftovers(home, installed);
  }
}
