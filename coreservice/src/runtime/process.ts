// The process backend (install method `subprocess`): each replica is `python3 main.py --port N` in
// the version's dir, in its own session so that it outlives a CoreService restart and can be
// stopped as a group. What a replica is lives in `<home>/run/<version>/replica-<n>.json` (pid and
// its start time, so a reused pid is never signalled); its stdout (the READY line) and stderr (its
// log) go to files beside it, so nothing is lost when CoreService is not there to read a pipe.
import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { InstallError } from '../errors';
import type { Backend, PluginRuntime, RecordedStart, ReplicaInfo, StartOptions } from './backend';
import { openOwnFile, readJson, writeJson } from './files';
import { findPython, type HostFacts } from './host';
import { type IsolationLevel, sandboxed } from './isolation';
import { isAlive, processStart, sleep, stopProcess } from './proc';
import { shownEnvironment, shownSettings } from './settings';

interface ReplicaRecord {
  pid: number;
  pid_start?: string;
  started_at: string;
  restarts: number;
  /** The port it was told to use (when the plugin does not announce itself). */
  port?: number;
  /** The isolation it runs with. */
  isolation?: IsolationLevel;
  stopped?: boolean;
  exit_code?: number | null;
  exited_at?: string;
  /** What it was started with (secrets masked): what `status` shows, not what the caller's shell holds. */
  given?: RecordedStart;
}

export const READY_PREFIX = 'MAGELLON_PLUGIN_READY ';
const MAX_READY_BYTES = 64 * 1024;
const MAX_LOG_TAIL_BYTES = 512 * 1024;

export const runDir = (rt: Pick<PluginRuntime, 'home' | 'version'>) => join(rt.home, 'run', rt.version);
const replicaFile = (rt: PluginRuntime, n: number, ext: string) => join(runDir(rt), `replica-${n}.${ext}`);

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
  const out = readBounded(path, MAX_READY_BYTES, false);
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

/** Whether a record's `given` has the shape status expects (a record is a file; it may be torn or tampered with). */
function wellFormed(given: unknown): given is RecordedStart {
  const g = given as RecordedStart | undefined;
  const isString = (v: unknown) => typeof v === 'string';
  return (
    typeof g === 'object' &&
    g !== null &&
    Array.isArray(g.settings) &&
    g.settings.every(
      (s) => typeof s === 'object' && s !== null && isString(s.key) && isString(s.value) && isString(s.from),
    ) &&
    typeof g.environment === 'object' &&
    g.environment !== null &&
    !Array.isArray(g.environment) &&
    Object.values(g.environment).every(isString)
  );
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

export class ProcessBackend implements Backend {
  readonly method: 'subprocess' | 'uv' = 'subprocess';

  unavailable(host: HostFacts): string | undefined {
    return host.python ? undefined : 'python3 is not installed (the process backend runs main.py with it)';
  }

  /** The interpreter that runs main.py. */
  protected async interpreter(_rt: PluginRuntime): Promise<string> {
    return (await findPython())?.executable ?? 'python3';
  }

  async prepare(rt: PluginRuntime, _log: (line: string) => void): Promise<void> {
    if (!readdirSync(rt.dir).includes('main.py')) {
      throw new InstallError('backend-failed', `${rt.pluginId} ${rt.version} has no main.py to run`);
    }
  }

  async start(rt: PluginRuntime, opts: StartOptions): Promise<void> {
    mkdirSync(runDir(rt), { recursive: true });
    // Records of replicas beyond the new count (after a scale down) go; their logs stay.
    for (const { n, rec } of this.replicas(rt)) {
      if (n < opts.replicas) continue;
      await stopProcess(rec.pid, rec.pid_start, 3_000);
      rmSync(replicaFile(rt, n, 'json'), { force: true });
      rmSync(replicaFile(rt, n, 'out'), { force: true });
    }
    for (let n = 0; n < opts.replicas; n++) await this.launch(rt, n, opts, 0);
  }

  async restartReplica(rt: PluginRuntime, n: number, opts: StartOptions & { restarts: number }) {
    await this.launch(rt, n, opts, opts.restarts);
  }

  private async launch(rt: PluginRuntime, n: number, opts: StartOptions, restarts: number): Promise<void> {
    const announce = rt.manifest.health_check.expected_announce;
    const interpreter = await this.interpreter(rt);
    const port = announce ? undefined : await freePort();
    const out = openOwnFile(replicaFile(rt, n, 'out'), 'truncate');
    const log = openOwnFile(replicaFile(rt, n, 'log'), 'append');
    const cmd = sandboxed(
      rt.sandbox,
      interpreter,
      ['main.py', '--port', String(port ?? 0), '--host', '127.0.0.1'],
      rt.dir,
    );
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
    const record: ReplicaRecord = {
      pid,
      pid_start: processStart(pid),
      started_at: new Date().toISOString(),
      restarts,
      ...(port ? { port } : {}),
      isolation: rt.sandbox?.level ?? 'none',
      given: {
        settings: shownSettings(opts.settings ?? []),
        environment: shownEnvironment(env, rt.pluginId),
      },
    };
    writeJson(replicaFile(rt, n, 'json'), record);
    children.set(pid, child);
    child.on('exit', (code) => {
      children.delete(pid);
      // Record how it ended, unless the record now describes another start.
      const now = readJson<ReplicaRecord>(replicaFile(rt, n, 'json'));
      if (now?.pid !== pid) return;
      writeJson(replicaFile(rt, n, 'json'), { ...now, exit_code: code, exited_at: new Date().toISOString() });
    });
    child.unref();
  }

  private replicas(rt: PluginRuntime): { n: number; rec: ReplicaRecord }[] {
    let names: string[];
    try {
      names = readdirSync(runDir(rt));
    } catch {
      return [];
    }
    return names
      .flatMap((name) => {
        const m = /^replica-(\d+)\.json$/.exec(name);
        const rec = m ? readJson<ReplicaRecord>(join(runDir(rt), name)) : undefined;
        return m && rec ? [{ n: Number(m[1]), rec }] : [];
      })
      .sort((a, b) => a.n - b.n);
  }

  async stop(rt: PluginRuntime, opts: { graceMs?: number } = {}): Promise<void> {
    await Promise.all(
      this.replicas(rt).map(async ({ n, rec }) => {
        writeJson(replicaFile(rt, n, 'json'), { ...rec, stopped: true });
        await stopProcess(rec.pid, rec.pid_start, opts.graceMs ?? 5_000);
        // Our own child: wait for Node to report its exit, so status agrees that it is gone.
        for (let i = 0; i < 200 && children.has(rec.pid); i++) await sleep(10);
      }),
    );
  }

  async status(rt: PluginRuntime): Promise<ReplicaInfo[]> {
    return this.replicas(rt).map(({ n, rec }) => {
      // A child of this process that died but whose exit Node has not reported yet counts as alive
      // for a moment more: its exit status is about to be recorded, and the restart policy needs it.
      const alive = isAlive(rec.pid, rec.pid_start) || children.has(rec.pid);
      const addr = rec.port
        ? { host: '127.0.0.1', port: rec.port }
        : readAnnounce(replicaFile(rt, n, 'out'), rt);
      return {
        replica: n,
        state: alive ? (addr ? 'running' : 'starting') : rec.stopped ? 'stopped' : 'exited',
        pid: rec.pid,
        ...(alive && addr ? addr : {}),
        started_at: rec.started_at,
        ...(alive
          ? {}
          : { exit_code: rec.exit_code ?? null, ...(rec.exited_at ? { exited_at: rec.exited_at } : {}) }),
        restarts: rec.restarts,
        ...(rec.isolation ? { isolation: rec.isolation } : {}),
        ...(wellFormed(rec.given) ? { given: rec.given } : {}),
      };
    });
  }

  async logs(rt: PluginRuntime, tail: number): Promise<string[]> {
    const all = this.replicas(rt);
    const lines: string[] = [];
    for (const { n } of all) {
      const text = readBounded(replicaFile(rt, n, 'log'), MAX_LOG_TAIL_BYTES, true);
      const mine = text.split('\n').filter((l) => l.length > 0);
      lines.push(...(all.length > 1 ? mine.map((l) => `[${n}] ${l}`) : mine));
    }
    return lines.slice(-Math.max(0, tail));
  }

  async remove(rt: PluginRuntime): Promise<void> {
    rmSync(runDir(rt), { recursive: true, force: true });
  }
}
