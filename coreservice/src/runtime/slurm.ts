// The slurm backend (install method `slurm`): each replica is one Slurm batch job on the cluster
// CoreService's Slurm client talks to (SLURM_CONF, or the host's slurm.conf). The Python
// environment is the one the other backends make: a venv from the archive's wheels when the entry
// names a pyproject (a UvBackend it holds prepares it), else the host's python3. What a job is lives
// in its record (layout.ts: `slurm/<version>/replica-<n>.json`, the job id); Slurm writes the job's
// output (the READY line and its log) beside it, and the supervisor applies the manifest's restart
// policy to jobs that ended (jobs are submitted with --no-requeue: Slurm never reruns one itself).
//
// No string of the plugin's reaches a shell. The batch script is the same for every job of a
// version and holds only CoreService's own paths, each quoted by `shQuote`: it execs a fixed
// Python launcher (`launch.py`, stdlib only, `python3 -I -S`) with the path of the replica's spec
// (`replica-<n>.spec.json`: argv, environment, working dir, written 0600), which the launcher reads,
// deletes, and hands to execve. sbatch itself runs with only PATH and SLURM_CONF in its
// environment, so the plugin's settings (secrets among them) are never in sbatch's or the job's
// command line (`ps`), in `scontrol show job`, or in the environment slurmctld stores.
//
// Isolation: under `uid` isolation the plugin's uid is one of CoreService's own (no passwd entry,
// like systemd's DynamicUser), which `sbatch --uid` refuses; so the job is submitted as CoreService's
// user (root) and the launcher execs `setpriv --reuid --regid --clear-groups` into the plugin's uid
// before main.py (plus no_new_privs, as the process backend). The job's output file is opened by
// slurmstepd before that, so the replica writes it only through the descriptor it inherits.
import { type ExecFileException, execFile, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { InstallMethod } from '@magellon/hub-core';
import { InstallError } from '../errors';
import {
  MAIN_SCRIPT,
  slurmBatchScript,
  slurmDir,
  slurmLauncher,
  slurmRecordFiles,
  slurmReplicaFile,
  slurmRoot,
  slurmVersionNames,
  venvDir as venvDirOf,
  venvPython,
  venvsRoot,
  venvVersionNames,
} from '../layout';
import {
  type ReplicaRecordRead,
  readableRecords,
  readRecord,
  readReplicaRecords,
  type SlurmJobRecord,
  slurmJobRecordSchema,
  writeRecord,
} from '../records';
import type { Backend, PluginRuntime, Prepared, ReplicaInfo, StartOptions, VersionRef } from './backend';
import { writeFileDurably } from './files';
import { findPython, type HostFacts } from './host';
import { sandboxed } from './isolation';
import { type FollowOptions, followFiles, type LogLine } from './log-follow';
import { isAlive, sleep } from './proc';
import { freePort, ProcessBackend, readAnnounce, readBounded } from './process';
import { recordedStart } from './settings';
import { UvBackend } from './uv';

const MAX_LOG_TAIL_BYTES = 512 * 1024;
const CLIENT_TIMEOUT_MS = 30_000;
/** Slurm job states in which the job is over (anything else: it may still run). */
const ENDED = new Set([
  'BOOT_FAIL',
  'CANCELLED',
  'COMPLETED',
  'DEADLINE',
  'FAILED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'TIMEOUT',
]);
const WAITING = new Set([
  'PENDING',
  'CONFIGURING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESV_DEL_HOLD',
]);

/**
 * One word for a POSIX shell: single-quoted, each `'` written as `'\''`. The only way anything
 * enters the batch script.
 */
export function shQuote(word: string): string {
  if (word.includes('\0')) throw new InstallError('backend-failed', 'a NUL byte cannot be passed to a shell');
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** A path as sbatch's --output/--chdir take it: `%` starts a pattern there, so it is doubled. */
const slurmPath = (p: string) => p.replaceAll('%', '%%');

/** The fixed launcher every job runs: the replica's argv and environment from its spec, then execve. */
export const LAUNCHER = `# Written by CoreService's slurm backend: runs one replica from its spec (argv, env, cwd).
import json, os, sys
path = sys.argv[1]
with open(path, "rb") as f:
    spec = json.load(f)
os.unlink(path)
os.chdir(spec["cwd"])
os.execve(spec["argv"][0], spec["argv"], spec["env"])
`;

/** The batch script of a version: nothing in it but CoreService's own paths, each shell-quoted. */
export function batchScript(python: string, launcher: string): string {
  return [
    '#!/bin/sh',
    "# Written by CoreService's slurm backend. Nothing here comes from a plugin's manifest: the",
    '# replica\'s command line and environment are read from the spec file named by "$1".',
    `exec ${shQuote(python)} -I -S ${shQuote(launcher)} "$1"`,
    '',
  ].join('\n');
}

/**
 * sbatch's own input variables the operator may set in CoreService's environment to say where jobs
 * go on their cluster (a partition, an account, a QOS, a time limit): the lab's choice, never the
 * plugin's, so the manifest has no field for them.
 */
export const OPERATOR_SBATCH_VARS = [
  'SBATCH_PARTITION',
  'SBATCH_ACCOUNT',
  'SBATCH_QOS',
  'SBATCH_TIMELIMIT',
  'SBATCH_RESERVATION',
  'SBATCH_CONSTRAINT',
] as const;

/** The environment every Slurm command runs with: how to find the cluster and where jobs go, nothing else. */
function clientEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const k of ['SLURM_CONF', ...OPERATOR_SBATCH_VARS]) if (process.env[k]) env[k] = process.env[k];
  return env;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function slurm(cmd: string, args: string[]): Promise<Ran> {
  return new Promise((res) => {
    execFile(
      cmd,
      args,
      { env: clientEnv(), timeout: CLIENT_TIMEOUT_MS, encoding: 'utf8' },
      (err: ExecFileException | null, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        res({ code, stdout, stderr: err && typeof err.code !== 'number' ? err.message : stderr });
      },
    );
  });
}

const lastLine = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .at(-1) ?? '';

/** An absolute path for a program on PATH, or undefined. */
function which(name: string): string | undefined {
  if (name.includes('/')) return name;
  for (const d of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** What squeue says of a job. */
interface Queued {
  state: string;
  node: string;
}

/** What `scontrol show job` says of one that ended. */
export function parseShowJob(text: string): { state?: string; exit?: number | null; node?: string } {
  const field = (k: string) => new RegExp(`(?:^|\\s)${k}=(\\S*)`).exec(text)?.[1];
  const state = field('JobState');
  const ec = field('ExitCode');
  const node = field('NodeList');
  let exit: number | null | undefined;
  if (ec) {
    const [code, signal] = ec.split(':').map(Number);
    exit = signal ? null : (code ?? null);
  }
  return {
    ...(state ? { state } : {}),
    ...(exit !== undefined ? { exit } : {}),
    ...(node && node !== '(null)' ? { node } : {}),
  };
}

const PING_TIMEOUT_MS = 5_000;
const PING_CACHE_MS = 30_000;
let pinged: { conf: string | undefined; at: number; why: string | undefined } | undefined;

/**
 * Why no Slurm controller answers (`scontrol ping`), or undefined; remembered for 30 s per
 * SLURM_CONF, since a client without a reachable controller can take seconds to say so.
 */
function controllerDown(): string | undefined {
  const conf = process.env.SLURM_CONF;
  if (pinged && pinged.conf === conf && Date.now() - pinged.at < PING_CACHE_MS) return pinged.why;
  const ping = spawnSync('scontrol', ['ping'], {
    env: clientEnv(),
    encoding: 'utf8',
    timeout: PING_TIMEOUT_MS,
  });
  let why: string | undefined;
  if (ping.status !== 0 || !/ is UP/.test(ping.stdout ?? '')) {
    const said = lastLine(`${ping.stdout ?? ''}\n${ping.stderr ?? ''}`) || ping.error?.message || 'no answer';
    why = `no Slurm controller answers (scontrol ping: ${said})`;
  }
  pinged = { conf, at: Date.now(), why };
  return why;
}

export interface SlurmBackendOptions {
  /** Extra sbatch options CoreService's operator chose (a partition, an account); never the plugin's. */
  sbatchArgs?: string[];
}

export class SlurmBackend implements Backend {
  readonly method: InstallMethod = 'slurm';
  /** Prepares the venv when the entry names a pyproject; its run records are never used. */
  private readonly uv = new UvBackend();
  /** Checks main.py when it does not. */
  private readonly plain = new ProcessBackend();

  constructor(private readonly opts: SlurmBackendOptions = {}) {}

  unavailable(host: HostFacts): string | undefined {
    if (!host.python)
      return 'python3 is not installed (the slurm backend runs main.py and its launcher with it)';
    for (const b of ['sbatch', 'squeue', 'scontrol', 'scancel']) {
      if (!host.hasBinary(b))
        return `${b} is not installed (the slurm backend runs each replica as a batch job)`;
    }
    return controllerDown();
  }

  private usesVenv = (rt: PluginRuntime) => Boolean(rt.entry.pyproject);

  readablePaths(rt: PluginRuntime): string[] {
    return this.usesVenv(rt) ? this.uv.readablePaths(rt) : [];
  }

  async prepare(rt: PluginRuntime, log: (line: string) => void): Promise<Prepared | undefined> {
    const prepared = this.usesVenv(rt) ? await this.uv.prepare(rt, log) : await this.plain.prepare(rt, log);
    await this.writeScripts(rt);
    log('wrote the batch script (each replica is one Slurm job)');
    return prepared;
  }

  /** The version's batch script and launcher, in its 0700 slurm dir (idempotent: always the same text). */
  private async writeScripts(rt: VersionRef): Promise<void> {
    mkdirSync(slurmRoot(rt.home), { recursive: true, mode: 0o700 });
    mkdirSync(slurmDir(rt.home, rt.version), { recursive: true, mode: 0o700 });
    const python = (await findPython())?.executable ?? 'python3';
    writeFileDurably(slurmLauncher(rt.home, rt.version), LAUNCHER);
    // 0600 is enough: sbatch reads the script and sends its text; slurmd writes its own copy.
    writeFileDurably(
      slurmBatchScript(rt.home, rt.version),
      batchScript(python, slurmLauncher(rt.home, rt.version)),
    );
  }

  private interpreter(rt: PluginRuntime): Promise<string> | string {
    if (this.usesVenv(rt)) return venvPython(venvDirOf(rt.home, rt.version));
    return findPython().then((p) => p?.executable ?? 'python3');
  }

  async start(rt: PluginRuntime, opts: StartOptions): Promise<void> {
    const max = rt.manifest.resources?.replicas?.max;
    if (max !== undefined && opts.replicas > Math.max(1, max)) {
      throw new InstallError(
        'unsupported',
        `${rt.pluginId} ${rt.version} allows at most ${max} replicas (resources.replicas.max)`,
      );
    }
    // Written again when a start finds them gone (the venv, if any, is prepare's alone).
    if (
      !existsSync(slurmBatchScript(rt.home, rt.version)) ||
      !existsSync(slurmLauncher(rt.home, rt.version))
    ) {
      await this.writeScripts(rt);
    }
    // Jobs of replicas beyond the new count (after a scale down) are cancelled, their files go.
    const beyond = this.readable(rt).filter(({ n }) => n >= opts.replicas);
    await this.cancel(
      beyond.map(({ rec }) => rec.job_id),
      3_000,
    );
    for (const { n } of this.records(rt).filter(({ n }) => n >= opts.replicas)) {
      for (const kind of ['json', 'log', 'prev.log', 'spec.json'] as const) {
        rmSync(slurmReplicaFile(rt.home, rt.version, n, kind), { force: true });
      }
    }
    // Jobs still queued or running are left alone (a scale up keeps them); the others are submitted.
    const kept = this.readable(rt).filter(({ n, rec }) => n < opts.replicas && rec.exit_code === undefined);
    const q = await this.queue(kept.map(({ rec }) => rec.job_id));
    const live = new Set(
      kept.flatMap(({ n, rec }) => {
        const job = q.get(rec.job_id);
        return SlurmBackend.active(job) && job!.state !== 'COMPLETING' ? [n] : [];
      }),
    );
    for (let n = 0; n < opts.replicas; n++) if (!live.has(n)) await this.submit(rt, n, opts, 0);
  }

  async restartReplica(rt: PluginRuntime, n: number, opts: StartOptions & { restarts: number }) {
    await this.submit(rt, n, opts, opts.restarts);
  }

  /** Submits replica `n` as a batch job (cancelling a job the replica still has) and records it. */
  private async submit(rt: PluginRuntime, n: number, opts: StartOptions, restarts: number): Promise<void> {
    const file = slurmReplicaFile(rt.home, rt.version, n, 'json');
    const old = readRecord(file, slurmJobRecordSchema);
    if (old.ok) await this.cancel([old.value.job_id], 3_000);
    // Slurm truncates the output file (the READY line must be this job's): the previous job's output
    // (a crash's traceback) is kept beside it, one run back.
    const log = slurmReplicaFile(rt.home, rt.version, n, 'log');
    try {
      if (lstatSync(log).isFile() && lstatSync(log).size > 0) {
        renameSync(log, slurmReplicaFile(rt.home, rt.version, n, 'prev.log'));
      }
    } catch {
      // no earlier log to keep (the usual first run)
    }

    const announce = rt.manifest.health_check.expected_announce;
    const port = announce ? undefined : await freePort();
    const interpreter = await this.interpreter(rt);
    const cmd = sandboxed(
      rt.sandbox,
      interpreter,
      [MAIN_SCRIPT, '--port', String(port ?? 0), '--host', '127.0.0.1'],
      rt.dir,
    );
    let argv = [which(cmd.file) ?? cmd.file, ...cmd.args];
    if (cmd.uid !== undefined) {
      const setpriv = which('setpriv');
      if (!setpriv) {
        throw new InstallError(
          'backend-failed',
          `${rt.pluginId} runs under its own uid, and the slurm backend needs setpriv (util-linux) to drop to it`,
        );
      }
      argv = [
        setpriv,
        `--reuid=${cmd.uid}`,
        `--regid=${cmd.gid ?? cmd.uid}`,
        '--clear-groups',
        '--no-new-privs',
        '--',
        ...argv,
      ];
    }
    const env = { ...opts.env, MAGELLON_REPLICA_ID: `${rt.pluginId}-${n}`, PYTHONUNBUFFERED: '1' };
    const spec = slurmReplicaFile(rt.home, rt.version, n, 'spec.json');
    writeFileDurably(spec, JSON.stringify({ argv, env, cwd: rt.dir }));

    const res = rt.manifest.resources;
    const args = [
      '--parsable',
      `--job-name=magellon-${rt.pluginId}-${rt.version}-r${n}`,
      `--output=${slurmPath(log)}`,
      '--open-mode=truncate',
      `--chdir=${slurmPath(rt.dir)}`,
      // sbatch's own environment is PATH and SLURM_CONF (clientEnv): that is all the job inherits.
      '--export=ALL',
      '--no-requeue',
      '--ntasks=1',
      `--cpus-per-task=${Math.max(1, res?.cpu_cores ?? 1)}`,
      ...(res?.memory_mb ? [`--mem=${res.memory_mb}`] : []),
      ...(res?.gpu_count ? [`--gres=gpu:${res.gpu_count}`] : []),
      // What a job is: remove() finds a version's jobs by name and this comment (the home).
      `--comment=${rt.home}`,
      ...(this.opts.sbatchArgs ?? []),
      slurmBatchScript(rt.home, rt.version),
      spec,
    ];
    const r = await slurm('sbatch', args);
    const jobId = /^(\d+)/.exec(r.stdout.trim())?.[1];
    if (r.code !== 0 || !jobId) {
      rmSync(spec, { force: true });
      throw new InstallError(
        'backend-failed',
        `Slurm refused replica ${n} of ${rt.pluginId} ${rt.version}: ${lastLine(r.stderr) || `sbatch exit ${r.code}`}`,
        r.stderr.trim().split('\n').slice(-5),
      );
    }
    const record: SlurmJobRecord = {
      job_id: jobId,
      submitted_at: new Date().toISOString(),
      restarts,
      ...(port ? { port } : {}),
      isolation: rt.sandbox?.level ?? 'none',
      given: recordedStart(opts.settings, env, rt.pluginId),
    };
    writeRecord(file, slurmJobRecordSchema, record);
  }

  /** The version's job records, readable or not, by replica number. */
  private records(rt: VersionRef): ReplicaRecordRead<SlurmJobRecord>[] {
    return readReplicaRecords(slurmRecordFiles(rt.home, rt.version), slurmJobRecordSchema);
  }

  private readable(rt: VersionRef): { n: number; rec: SlurmJobRecord }[] {
    return readableRecords(this.records(rt));
  }

  /** squeue's view of these jobs (ended ones included while slurmctld still keeps them). */
  private async queue(ids: string[]): Promise<Map<string, Queued>> {
    const out = new Map<string, Queued>();
    if (ids.length === 0) return out;
    const r = await slurm('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T|%N']);
    if (r.code !== 0) {
      // A job slurmctld no longer knows makes squeue fail: ask one by one.
      if (ids.length > 1) {
        for (const id of ids) for (const [k, v] of await this.queue([id])) out.set(k, v);
      }
      return out;
    }
    for (const line of r.stdout.split('\n')) {
      const [id, state, node] = line.trim().split('|');
      if (id && state) out.set(id, { state, node: node ?? '' });
    }
    return out;
  }

  /** The processes of a job on this host (`scontrol listpids`): the batch task's first, when it runs here. */
  private async jobPids(jobId: string): Promise<number[]> {
    const r = await slurm('scontrol', ['listpids', jobId]);
    if (r.code !== 0) return [];
    const rows = r.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([pid, job]) => job === jobId && /^\d+$/.test(pid ?? ''));
    const first = rows.filter(([, , step, local]) => step === 'batch' && local === '0');
    return [...first, ...rows.filter((r) => !first.includes(r))].map(([pid]) => Number(pid));
  }

  /** The pid of the job's batch task on this host (the replica's main process), when it runs here. */
  private async pidOf(jobId: string): Promise<number | undefined> {
    const [first] = await this.jobPids(jobId);
    return first;
  }

  private static active(q: Queued | undefined): boolean {
    return q !== undefined && !ENDED.has(q.state);
  }

  /**
   * Cancels jobs: pending ones at once, running ones with SIGTERM to the whole job (the batch step
   * included), then SIGKILL after `graceMs`; resolves when Slurm has none of them running (bounded).
   */
  private async cancel(ids: string[], graceMs: number): Promise<void> {
    const q = await this.queue(ids);
    const live = ids.filter((id) => SlurmBackend.active(q.get(id)));
    if (live.length === 0) return;
    const pending = live.filter((id) => WAITING.has(q.get(id)!.state));
    const suspended = live.filter((id) => q.get(id)!.state === 'SUSPENDED');
    const running = live.filter((id) => !pending.includes(id));
    const pids = (await Promise.all(running.map((id) => this.pidOf(id)))).filter(
      (p): p is number => p !== undefined,
    );
    if (pending.length) await slurm('scancel', pending);
    for (const id of suspended) await slurm('scontrol', ['resume', id]);
    if (running.length) await slurm('scancel', ['--full', '--signal=TERM', ...running]);
    const gone = async () => {
      const now = await this.queue(live);
      return (
        live.every((id) => !SlurmBackend.active(now.get(id))) && pids.every((p) => !isAlive(p, undefined))
      );
    };
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (await gone()) return;
      await sleep(200);
    }
    await slurm('scancel', ['--full', '--signal=KILL', ...live]);
    await slurm('scancel', live);
    for (let i = 0; i < 100; i++) {
      if (await gone()) return;
      await sleep(200);
    }
  }

  async stop(rt: PluginRuntime, opts: { graceMs?: number } = {}): Promise<void> {
    await this.stopRecorded(rt, opts.graceMs ?? 5_000);
  }

  private async stopRecorded(rt: VersionRef, graceMs: number): Promise<void> {
    const recs = this.readable(rt);
    for (const { n, rec } of recs) {
      try {
        writeRecord(slurmReplicaFile(rt.home, rt.version, n, 'json'), slurmJobRecordSchema, {
          ...rec,
          stopped: true,
        });
      } catch {
        // the stop goes on; a record it cannot mark says running, and status asks Slurm
      }
    }
    await this.cancel(
      recs.map(({ rec }) => rec.job_id),
      graceMs,
    );
  }

  async status(rt: PluginRuntime): Promise<ReplicaInfo[]> {
    const all = this.records(rt);
    const q = await this.queue(
      all.flatMap(({ read }) => (read.ok && read.value.exit_code === undefined ? [read.value.job_id] : [])),
    );
    return Promise.all(
      all.map(async ({ n, path, read }): Promise<ReplicaInfo> => {
        if (!read.ok) {
          const why = read.absent ? 'it was removed while being read' : read.why;
          return { replica: n, state: 'unknown', restarts: 0, unreadable: { path, why } };
        }
        let rec = read.value;
        const job = q.get(rec.job_id);
        const base = {
          replica: n,
          ref: rec.job_id,
          started_at: rec.submitted_at,
          restarts: rec.restarts,
          ...(rec.isolation ? { isolation: rec.isolation } : {}),
          ...(rec.given ? { given: rec.given } : {}),
        };
        if (SlurmBackend.active(job) && job!.state !== 'COMPLETING') {
          const waiting = WAITING.has(job!.state);
          const log = slurmReplicaFile(rt.home, rt.version, n, 'log');
          const addr = waiting
            ? undefined
            : rec.port
              ? { host: '127.0.0.1', port: rec.port }
              : readAnnounce(log, rt);
          const pid = waiting ? undefined : await this.pidOf(rec.job_id);
          return {
            ...base,
            state: addr ? 'running' : 'starting',
            ...(pid ? { pid } : {}),
            ...(addr ?? {}),
            ...(job!.node && job!.node !== '(null)' ? { node: job!.node } : {}),
          };
        }
        if (rec.exit_code === undefined) {
          const ended = await this.recordEnd(rt, n, rec);
          // squeue and scontrol disagreed for a moment (it was just starting): ask again next time.
          if (!ended) return { ...base, state: 'starting' };
          rec = ended;
        }
        return {
          ...base,
          state: rec.stopped ? 'stopped' : 'exited',
          exit_code: rec.exit_code ?? null,
          ...(rec.exited_at ? { exited_at: rec.exited_at } : {}),
          ...(rec.node ? { node: rec.node } : {}),
        };
      }),
    );
  }

  /**
   * Asks `scontrol show job` how a job ended (no accounting: slurmctld keeps it MinJobAge) and
   * records it. COMPLETING counts as ended: the batch script's exit status is final by then (only
   * Slurm's cleanup is left), so a clean exit is never taken for an unknown one and restarted.
   * Undefined when Slurm says it has not ended.
   */
  private async recordEnd(
    rt: VersionRef,
    n: number,
    rec: SlurmJobRecord,
  ): Promise<SlurmJobRecord | undefined> {
    const r = await slurm('scontrol', ['show', 'job', '-o', rec.job_id]);
    const shown = r.code === 0 ? parseShowJob(r.stdout) : {};
    if (shown.state && !ENDED.has(shown.state) && shown.state !== 'COMPLETING') return undefined;
    const ended: SlurmJobRecord = {
      ...rec,
      exit_code: shown.exit ?? null,
      exited_at: new Date().toISOString(),
      ...(shown.state ? { job_state: shown.state } : {}),
      ...(shown.node ? { node: shown.node } : {}),
    };
    try {
      writeRecord(slurmReplicaFile(rt.home, rt.version, n, 'json'), slurmJobRecordSchema, ended);
    } catch {
      // the ended record is answered anyway; the next status writes it again
    }
    return ended;
  }

  async logs(rt: PluginRuntime, tail: number): Promise<string[]> {
    const all = this.records(rt);
    const lines: string[] = [];
    for (const { n } of all) {
      const mine = (['prev.log', 'log'] as const).flatMap((kind) =>
        readBounded(slurmReplicaFile(rt.home, rt.version, n, kind), MAX_LOG_TAIL_BYTES, true)
          .split('\n')
          .filter((l) => l.length > 0),
      );
      lines.push(...(all.length > 1 ? mine.map((l) => `[${n}] ${l}`) : mine));
    }
    return lines.slice(-Math.max(0, tail));
  }

  /** The job's output as it is written; a resubmit's new output file is followed from its start. */
  follow(rt: PluginRuntime, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void> {
    const files = () =>
      this.records(rt).map(({ n }) => ({
        replica: n,
        path: slurmReplicaFile(rt.home, rt.version, n, 'log'),
        before: [slurmReplicaFile(rt.home, rt.version, n, 'prev.log')],
      }));
    return followFiles(files, opts, onLine);
  }

  async pause(rt: PluginRuntime): Promise<void> {
    await this.suspendOrResume(rt, 'suspend');
  }

  async unpause(rt: PluginRuntime): Promise<void> {
    await this.suspendOrResume(rt, 'resume');
  }

  /**
   * `scontrol suspend|resume`: Slurm stops (SIGSTOP) or continues every process of the job. slurmd
   * does it after scontrol returns, so this waits (bounded) until Slurm reports the new state and
   * the job's processes on this host are stopped, or running again.
   */
  private async suspendOrResume(rt: PluginRuntime, how: 'suspend' | 'resume'): Promise<void> {
    const ids = this.readable(rt).map(({ rec }) => rec.job_id);
    for (const id of ids) {
      const r = await slurm('scontrol', [how, id]);
      if (r.code !== 0 && !/already|not suspended|Job is pending/i.test(r.stderr)) {
        throw new InstallError(
          'backend-failed',
          `could not ${how} ${rt.pluginId} (job ${id}): ${lastLine(r.stderr)} (scontrol ${how} needs root or a Slurm operator)`,
        );
      }
    }
    const want = how === 'suspend';
    const settled = async () => {
      const q = await this.queue(ids);
      for (const id of ids) {
        const state = q.get(id)?.state;
        if (!state || ENDED.has(state) || WAITING.has(state)) continue;
        if ((state === 'SUSPENDED') !== want) return false;
        for (const pid of await this.jobPids(id)) if (stopped(pid) !== want) return false;
      }
      return true;
    };
    for (let i = 0; i < 100 && !(await settled()); i++) await sleep(50);
  }

  /** Jobs of the version Slurm still runs, found by name and home (a crash may have lost a record). */
  private async jobsByName(ref: VersionRef): Promise<string[]> {
    const r = await slurm('squeue', ['-h', '-o', '%i|%j|%k']);
    if (r.code !== 0) return [];
    const prefix = `magellon-${ref.pluginId}-${ref.version}-r`;
    return r.stdout.split('\n').flatMap((line) => {
      const [id, name, ...comment] = line.trim().split('|');
      return id && name?.startsWith(prefix) && comment.join('|') === ref.home ? [id] : [];
    });
  }

  async remove(ref: VersionRef): Promise<void> {
    // Nothing was ever submitted for a version without a slurm dir (prepare makes it): Slurm is not
    // asked (every backend is asked to remove a version no receipt names).
    if (existsSync(slurmDir(ref.home, ref.version))) {
      await this.stopRecorded(ref, 2_000);
      await this.cancel(await this.jobsByName(ref), 2_000);
    }
    rmSync(slurmDir(ref.home, ref.version), { recursive: true, force: true });
    rmSync(venvDirOf(ref.home, ref.version), { recursive: true, force: true });
    for (const root of [slurmRoot(ref.home), venvsRoot(ref.home)]) {
      try {
        rmdirSync(root);
      } catch {
        // other versions' files are still there, or it is already gone
      }
    }
  }

  async leftovers(home: string, installed?: string): Promise<string[]> {
    const all = [...slurmVersionNames(home), ...venvVersionNames(home)].filter((v) => v !== installed);
    return [...new Set(all)].sort();
  }
}

/** Whether a process is stopped by a signal (state T); a process that is gone counts as stopped. */
function stopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'T';
  } catch {
    return true;
  }
}
