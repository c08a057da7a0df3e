// The process backend (install method `subprocess`): each replica is `python3 main.py --port N` in
// the version's dir, in its own session so that it outlives a CoreService restart and can be
// stopped as a group. What a replica is lives in its run record (layout.ts: `run/<version>/
// replica-<n>.json`: pid and its start time, so a reused pid is never signalled); its stdout (the
// READY line) and stderr (its log) go to files beside it, so nothing is lost when CoreService is
// not there to read a pipe. Other backends that run processes (uv) hold one of these and give it
// their interpreter.
import { spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import type { InstallMethod } from '@magellon/hub-core';
import { InstallError } from '../errors';
import {
  MAIN_SCRIPT,
  type ReplicaFileKind,
  replicaFile,
  runDir,
  runRecordFiles,
  runRoot,
  runVersionNames,
} from '../layout';
import {
  type ReplicaRecord,
  type ReplicaRecordRead,
  readableRecords,
  readRecord,
  readReplicaRecords,
  replicaRecordSchema,
  writeRecord,
} from '../records';
import type { Backend, PluginRuntime, Prepared, ReplicaInfo, StartOptions, VersionRef } from './backend';
import { openOwnFile } from './files';
import { findPython, type HostFacts } from './host';
import { sandboxed } from './isolation';
import { type FollowOptions, followFiles, type LogLine } from './log-follow';
import { isAlive, processStart, sleep, stopProcess } from './proc';
import { recordedStart } from './settings';
import { replicaArgv } from './systemd-unit';

export const READY_PREFIX = 'MAGELLON_PLUGIN_READY ';
const MAX_READY_BYTES = 64 * 1024;
const MAX_LOG_TAIL_BYTES = 512 * 1024;

const fileOf = (rt: VersionRef, n: number, kind: ReplicaFileKind) =>
  replicaFile(rt.home, rt.version, n, kind);

/** Reads at most `max` bytes from the end (or the start) of a regular file; '' when there is none. */
export function readBounded(path: string, max: number, fromEnd: boolean): string {
  let fd: number;
  try {
    // Non-blocking and never through a link: a plugin can put anything at these names.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return '';
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return '';
    const len = Math.min(st.size, max);
    const buf = Buffer.alloc(len);
    let got = 0;
    const pos = fromEnd ? st.size - len : 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The address a replica announced on stdout, if its READY line names this plugin and version. */
export function readAnnounce(path: string, rt: PluginRuntime): { host: string; port: number } | undefined {
  return parseAnnounce(readBounded(path, MAX_READY_BYTES, false), rt);
}

/** The address the first READY line in `out` announces, if it names this plugin and version. */
export function parseAnnounce(
  out: string,
  rt: Pick<PluginRuntime, 'pluginId' | 'version'>,
): { host: string; port: number } | undefined {
  for (const line of out.split('\n')) {
    if (!line.startsWith(READY_PREFIX)) continue;
    try {
      const ready = JSON.parse(line.slice(READY_PREFIX.length)) as Record<string, unknown>;
      const port = ready.port;
      if (ready.plugin_id !== rt.pluginId || ready.version !== rt.version) return undefined;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
      const host = typeof ready.host === 'string' && ready.host !== '0.0.0.0' ? ready.host : '127.0.0.1';
      return { host, port };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A port free on 127.0.0.1 right now (for plugins that do not announce the one they took). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Replicas this process started and has not yet seen exit, by pid. */
const children = new Map<number, ReturnType<typeof spawn>>();

export interface ProcessBackendOptions {
  /** The interpreter that runs main.py (default: the python3 every replica may run). */
  interpreter?: (rt: PluginRuntime) => string | Promise<string>;
}

/** A run record as read: its replica number, and the record or why it cannot be read. */

export class ProcessBackend implements Backend {
  readonly method: InstallMethod = 'subprocess';

  constructor(private readonly opts: ProcessBackendOptions = {}) {}

  unavailable(host: HostFacts): string | undefined {
    return host.python ? undefined : 'python3 is not installed (the process backend runs main.py with it)';
  }

  /** The interpreter that runs main.py. */
  private async interpreter(rt: PluginRuntime): Promise<string> {
    if (this.opts.interpreter) return this.opts.interpreter(rt);
    return (await findPython())?.executable ?? 'python3';
  }

  async prepare(rt: PluginRuntime, _log: (line: string) => void): Promise<Prepared | undefined> {
    if (!readdirSync(rt.dir).includes(MAIN_SCRIPT)) {
      throw new InstallError('backend-failed', `${rt.pluginId} ${rt.version} has no ${MAIN_SCRIPT} to run`);
    }
    return undefined;
  }

  async start(rt: PluginRuntime, opts: StartOptions): Promise<void> {
    mkdirSync(runDir(rt.home, rt.version), { recursive: true });
    // Records of replicas beyond the new count (after a scale down) go; their logs stay. An
    // unreadable one names no process to stop: only its files go.
    for (const { n, read } of this.records(rt)) {
      if (n < opts.replicas) continue;
      if (read.ok) await stopProcess(read.value.pid, read.value.pid_start, 3_000);
      rmSync(fileOf(rt, n, 'json'), { force: true });
      rmSync(fileOf(rt, n, 'out'), { force: true });
    }
    // Replicas that still run are left alone (a scale up keeps them); the others are launched.
    const running = new Set(this.readable(rt).flatMap(({ n, rec }) => (this.isLive(rec) ? [n] : [])));
    for (let n = 0; n < opts.replicas; n++) if (!running.has(n)) await this.launch(rt, n, opts, 0);
  }

  /**
   * Its process is alive. A child of this process that died but whose exit Node has not reported yet
   * counts as alive for a moment more: its exit status is about to be recorded, and the restart
   * policy needs it.
   */
  private isLive(rec: ReplicaRecord): boolean {
    return isAlive(rec.pid, rec.pid_start) || children.has(rec.pid);
  }

  async restartReplica(rt: PluginRuntime, n: number, opts: StartOptions & { restarts: number }) {
    await this.launch(rt, n, opts, opts.restarts);
  }

  private async launch(rt: PluginRuntime, n: number, opts: StartOptions, restarts: number): Promise<void> {
    const announce = rt.manifest.health_check.expected_announce;
    const interpreter = await this.interpreter(rt);
    const port = announce ? undefined : await freePort();
    const out = openOwnFile(fileOf(rt, n, 'out'), 'truncate');
    const log = openOwnFile(fileOf(rt, n, 'log'), 'append');
    const [program, ...args] = replicaArgv(interpreter, port ?? 0);
    const cmd = sandboxed(rt.sandbox, program!, args, rt.dir);
    const env = { ...opts.env, MAGELLON_REPLICA_ID: `${rt.pluginId}-${n}`, PYTHONUNBUFFERED: '1' };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd.file, cmd.args, {
        cwd: rt.dir,
        detached: true,
        stdio: ['ignore', out, log],
        env,
        ...(cmd.uid !== undefined ? { uid: cmd.uid, gid: cmd.gid } : {}),
      });
    } finally {
      closeSync(out);
      closeSync(log);
    }
    const pid = child.pid;
    if (!pid) {
      const why = await new Promise<string>((r) => child.once('error', (e) => r(e.message)));
      throw new InstallError('backend-failed', `could not start ${rt.pluginId} ${rt.version}: ${why}`);
    }
    const pidStart = processStart(pid);
    const record: ReplicaRecord = {
      pid,
      ...(pidStart !== undefined ? { pid_start: pidStart } : {}),
      started_at: new Date().toISOString(),
      restarts,
      ...(port ? { port } : {}),
      isolation: rt.sandbox?.level ?? 'none',
      given: recordedStart(opts.settings, env, rt.pluginId),
    };
    const file = fileOf(rt, n, 'json');
    writeRecord(file, replicaRecordSchema, record);
    children.set(pid, child);
    child.on('exit', (code) => {
      children.delete(pid);
      // Record how it ended, unless the record now describes another start.
      const now = readRecord(file, replicaRecordSchema);
      if (!now.ok || now.value.pid !== pid) return;
      try {
        writeRecord(file, replicaRecordSchema, {
          ...now.value,
          exit_code: code,
          exited_at: new Date().toISOString(),
        });
      } catch {
        // Its version was removed meanwhile: there is nothing left to record it in.
      }
    });
    child.unref();
  }

  /** The version's run records, readable or not, by replica number. */
  private records(rt: VersionRef): ReplicaRecordRead<ReplicaRecord>[] {
    return readReplicaRecords(runRecordFiles(rt.home, rt.version), replicaRecordSchema);
  }

  /** The replicas whose records can be read. */
  private readable(rt: VersionRef): { n: number; rec: ReplicaRecord }[] {
    return readableRecords(this.records(rt));
  }

  async stop(rt: PluginRuntime, opts: { graceMs?: number } = {}): Promise<void> {
    await this.stopRecorded(rt, opts.graceMs ?? 5_000);
  }

  /** Stops every replica its records name (pid and start time must match), marking each stopped. */
  private async stopRecorded(rt: VersionRef, graceMs: number): Promise<void> {
    await Promise.all(
      this.readable(rt).map(async ({ n, rec }) => {
        try {
          writeRecord(fileOf(rt, n, 'json'), replicaRecordSchema, { ...rec, stopped: true });
        } catch {
          // the stop goes on; the pid and its start time still guard what is signalled
        }
        await stopProcess(rec.pid, rec.pid_start, graceMs);
        // Our own child: wait for Node to report its exit, so status agrees that it is gone.
        for (let i = 0; i < 200 && children.has(rec.pid); i++) await sleep(10);
      }),
    );
  }

  async status(rt: PluginRuntime): Promise<ReplicaInfo[]> {
    return this.records(rt).map(({ n, path, read }): ReplicaInfo => {
      if (!read.ok) {
        // Absent: removed between the listing and the read; it is gone.
        const why = read.absent ? 'it was removed while being read' : read.why;
        return { replica: n, state: 'unknown', restarts: 0, unreadable: { path, why } };
      }
      const rec = read.value;
      const alive = this.isLive(rec);
      const addr = rec.port ? { host: '127.0.0.1', port: rec.port } : readAnnounce(fileOf(rt, n, 'out'), rt);
      return {
        replica: n,
        state: alive ? (addr ? 'running' : 'starting') : rec.stopped ? 'stopped' : 'exited',
        ref: String(rec.pid),
        pid: rec.pid,
        ...(alive && addr ? addr : {}),
        started_at: rec.started_at,
        ...(alive
          ? {}
          : { exit_code: rec.exit_code ?? null, ...(rec.exited_at ? { exited_at: rec.exited_at } : {}) }),
        restarts: rec.restarts,
        ...(rec.isolation ? { isolation: rec.isolation } : {}),
        ...(rec.given ? { given: rec.given } : {}),
      };
    });
  }

  async logs(rt: PluginRuntime, tail: number): Promise<string[]> {
    const all = this.records(rt);
    const lines: string[] = [];
    for (const { n } of all) {
      const text = readBounded(fileOf(rt, n, 'log'), MAX_LOG_TAIL_BYTES, true);
      const mine = text.split('\n').filter((l) => l.length > 0);
      lines.push(...(all.length > 1 ? mine.map((l) => `[${n}] ${l}`) : mine));
    }
    return lines.slice(-Math.max(0, tail));
  }

  follow(rt: PluginRuntime, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void> {
    const files = () => this.records(rt).map(({ n }) => ({ replica: n, path: fileOf(rt, n, 'log') }));
    return followFiles(files, opts, onLine);
  }

  async remove(ref: VersionRef): Promise<void> {
    await this.stopRecorded(ref, 2_000);
    rmSync(runDir(ref.home, ref.version), { recursive: true, force: true });
    try {
      rmdirSync(runRoot(ref.home));
    } catch {
      // other versions' records are still there, or it is already gone
    }
  }

  async leftovers(home: string, installed?: string): Promise<string[]> {
    return runVersionNames(home).filter((v) => v !== installed);
  }
}
