// The real engines the docker and slurm run backends are tested against: a private dockerd
// (infra/docker/dockerd.sh) with a registry-free python3 base image (infra/docker/base-image.sh),
// a private one-node Slurm cluster (infra/slurm/slurm.sh), and the RabbitMQ broker plugin liveness
// is tested against (infra/rabbitmq/rabbitmq.sh). Each start installs what it needs (root +
// apt) and starts the engine in a state dir of its own; when the engine cannot run here, it says so
// in one loud line (`SKIPPED: docker backend tests (why)`) and resolves to undefined, and under
// HUB_REQUIRE_ALL=1 (CI) it throws instead. HUB_ENGINES_UNAVAILABLE=docker,slurm,rabbitmq (or `all`) makes an
// engine unavailable on purpose, to exercise that path.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';

const INFRA = import.meta.dirname;
const DOCKERD_SH = join(INFRA, 'docker', 'dockerd.sh');
const BASE_IMAGE_SH = join(INFRA, 'docker', 'base-image.sh');
const SLURM_SH = join(INFRA, 'slurm', 'slurm.sh');
const RABBITMQ_SH = join(INFRA, 'rabbitmq', 'rabbitmq.sh');
/** Installing packages can take minutes on a fresh machine; starting takes seconds. */
const SCRIPT_TIMEOUT_MS = 600_000;
/** The base image's tag in every private engine. */
export const BASE_IMAGE = 'hub-python:3.11';

export interface DockerEngine {
  /** The daemon's unix socket (nothing listens on TCP). */
  socket: string;
  /** The docker client that matches the daemon (Debian's, 20.10); another may come first on PATH. */
  docker: string;
  /** DOCKER_HOST and DOCKER_CONFIG for clients: spread over process.env. */
  env: Record<string, string>;
  /** A python3.11 image (stdlib, busybox shell) made without a registry: run or build FROM it. */
  baseImage: string;
  /** Where the engine keeps everything (images, containers, logs: dockerd.log). */
  stateDir: string;
  /** dockerd's PID and its containerd's. */
  pids: number[];
  /** Stops the engine by its PIDs (killing its containers), waits for it, removes the state dir. */
  stop(): Promise<void>;
}

export interface SlurmCluster {
  /** The cluster's slurm.conf: SLURM_CONF for every Slurm command. */
  conf: string;
  /** SLURM_CONF: spread over process.env. */
  env: Record<string, string>;
  /** Where the cluster keeps everything (logs in log/, munge's socket in munge/). */
  stateDir: string;
  /** munged's, slurmctld's and slurmd's PIDs. */
  pids: number[];
  /** Cancels the cluster's jobs, stops the daemons by their PIDs, waits, removes the state dir. */
  stop(): Promise<void>;
}

export interface RabbitBroker {
  /** amqp://hub:<random password>@127.0.0.1:<port>/ (the broker listens on 127.0.0.1 only). */
  url: string;
  /** Where the broker keeps everything (logs: broker.log). */
  stateDir: string;
  /** The Erlang VM's PID and its private epmd's. */
  pids: number[];
  /** Stops the broker and starts it again at the same URL (clients see it go away and come back). */
  restart(): Promise<void>;
  /** Stops the broker and its epmd by their PIDs, waits for them, removes the state dir. */
  stop(): Promise<void>;
}

interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: string[]): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(script, args, { encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const why = err && typeof err.code !== 'number' ? `${err.message}\n` : '';
      resolve({ code, stdout, stderr: why + stderr });
    });
  });
}

/** The last line a failed script wrote, as the reason for skipping. */
function reason(r: ScriptResult): string {
  return (
    (r.stderr || r.stdout)
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .at(-1) ?? `exit code ${r.code}`
  );
}

/** Whether HUB_ENGINES_UNAVAILABLE names this engine (a test's way to see the skip path). */
function forcedUnavailable(engine: 'docker' | 'slurm' | 'rabbitmq'): boolean {
  const names = (process.env.HUB_ENGINES_UNAVAILABLE ?? '').split(',').map((s) => s.trim());
  return names.includes(engine) || names.includes('all');
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The first call runs fn; later calls get the same promise (stop() from a test and from afterAll). */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}

/** Removes a state dir unless something is still mounted under it (then it is left, and said). */
function removeStateDir(dir: string): void {
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4]?.startsWith(`${dir}/`));
  if (mounted) {
    console.warn(`engines: ${dir} still has mounts under it; leaving it in place`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Whether the process is running (a zombie waiting to be reaped has exited, so it is not). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Starts a private dockerd with the base image in it, or says loudly why not (see the file's header). */
export async function startDocker(): Promise<DockerEngine | undefined> {
  const what = 'docker backend tests';
  if (forcedUnavailable('docker')) {
    skipLoudly(what, 'HUB_ENGINES_UNAVAILABLE makes the docker engine unavailable');
    return undefined;
  }
  // Short: dockerd's and containerd's unix sockets live under it (at most 107 bytes).
  const stateDir = mkdtempSync(join(tmpdir(), 'hub-dk-'));
  const started = await runScript(DOCKERD_SH, ['start', stateDir]);
  const socket = started.stdout.trim().split('\n').at(-1) ?? '';
  if (started.code !== 0 || !socket.endsWith('docker.sock')) {
    await runScript(DOCKERD_SH, ['stop', stateDir]);
    removeStateDir(stateDir);
    skipLoudly(what, `a private dockerd could not be started: ${reason(started)}`);
    return undefined;
  }
  const stop = once(async () => {
    const r = await runScript(DOCKERD_SH, ['stop', stateDir]);
    if (r.code !== 0) throw new Error(`dockerd.sh stop failed: ${reason(r)}`);
    removeStateDir(stateDir);
  });
  const image = await runScript(BASE_IMAGE_SH, [socket, BASE_IMAGE]);
  if (image.code !== 0) {
    await stop();
    skipLoudly(what, `the base image could not be made: ${reason(image)}`);
    return undefined;
  }
  const pids = [
    readPid(join(stateDir, 'dockerd.pid')),
    readPid(join(stateDir, 'exec', 'containerd', 'containerd.pid')),
  ];
  return {
    socket,
    docker: process.env.HUB_DOCKER_CLI || '/usr/bin/docker',
    env: { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(stateDir, 'docker-cli') },
    baseImage: BASE_IMAGE,
    stateDir,
    pids: pids.filter((p): p is number => p !== undefined),
    stop,
  };
}

/** Starts a private one-node Slurm cluster, or says loudly why not (see the file's header). */
export async function startSlurm(): Promise<SlurmCluster | undefined> {
  const what = 'slurm backend tests';
  if (forcedUnavailable('slurm')) {
    skipLoudly(what, 'HUB_ENGINES_UNAVAILABLE makes the slurm engine unavailable');
    return undefined;
  }
  const stateDir = mkdtempSync(join(tmpdir(), 'hub-slurm-'));
  const started = await runScript(SLURM_SH, ['start', stateDir]);
  const conf = started.stdout.trim().split('\n').at(-1) ?? '';
  if (started.code !== 0 || !conf.endsWith('slurm.conf')) {
    await runScript(SLURM_SH, ['stop', stateDir]);
    removeStateDir(stateDir);
    skipLoudly(what, `a private Slurm cluster could not be started: ${reason(started)}`);
    return undefined;
  }
  const pids = [
    readPid(join(stateDir, 'munge', 'munged.pid')),
    readPid(join(stateDir, 'slurmctld.pid')),
    readPid(join(stateDir, 'slurmd.pid')),
  ];
  return {
    conf,
    env: { SLURM_CONF: conf },
    stateDir,
    pids: pids.filter((p): p is number => p !== undefined),
    stop: once(async () => {
      const r = await runScript(SLURM_SH, ['stop', stateDir]);
      if (r.code !== 0) throw new Error(`slurm.sh stop failed: ${reason(r)}`);
      removeStateDir(stateDir);
    }),
  };
}

/** Starts a private RabbitMQ broker, or says loudly why not (see the file's header). */
export async function startRabbit(): Promise<RabbitBroker | undefined> {
  const what = 'broker liveness tests';
  if (forcedUnavailable('rabbitmq')) {
    skipLoudly(what, 'HUB_ENGINES_UNAVAILABLE makes the rabbitmq broker unavailable');
    return undefined;
  }
  const stateDir = mkdtempSync(join(tmpdir(), 'hub-rmq-'));
  const started = await runScript(RABBITMQ_SH, ['start', stateDir]);
  const url = started.stdout.trim().split('\n').at(-1) ?? '';
  if (started.code !== 0 || !url.startsWith('amqp://')) {
    await runScript(RABBITMQ_SH, ['stop', stateDir]);
    removeStateDir(stateDir);
    skipLoudly(what, `a private RabbitMQ broker could not be started: ${reason(started)}`);
    return undefined;
  }
  const pidsNow = () =>
    [readPid(join(stateDir, 'rabbit.pid')), readPid(join(stateDir, 'epmd.pid'))].filter(
      (p): p is number => p !== undefined,
    );
  const broker: RabbitBroker = {
    url,
    stateDir,
    pids: pidsNow(),
    restart: async () => {
      const stopped = await runScript(RABBITMQ_SH, ['stop', stateDir]);
      if (stopped.code !== 0) throw new Error(`rabbitmq.sh stop failed: ${reason(stopped)}`);
      const again = await runScript(RABBITMQ_SH, ['start', stateDir]);
      if (again.code !== 0 || again.stdout.trim().split('\n').at(-1) !== url)
        throw new Error(`rabbitmq.sh start (again) failed: ${reason(again)}`);
      broker.pids = pidsNow();
    },
    stop: once(async () => {
      const r = await runScript(RABBITMQ_SH, ['stop', stateDir]);
      if (r.code !== 0) throw new Error(`rabbitmq.sh stop failed: ${reason(r)}`);
      removeStateDir(stateDir);
    }),
  };
  return broker;
}
