// The docker backend (install method `docker`): the version's image, built from its own Dockerfile
// with no network (or the manifest's `image`, which must already be there or be pulled), and one
// container per replica. Everything goes through the docker CLI (`MAGELLON_DOCKER_CLI`, else
// `docker` on PATH; DOCKER_HOST and DOCKER_CONFIG from CoreService's environment) run with argument
// arrays: a string from the manifest or the plugin is data, never shell and never an option (image
// references are checked against a strict pattern and given after `--`).
//
// A replica is `docker run -d --network=host` (it must reach CoreService's heartbeat URL on
// 127.0.0.1 and serve /health on loopback; `MAGELLON_DOCKER_NETWORK` / config `docker.network` may
// say `none` or `container:<name>` instead, as `hub verify` does to share an isolated loopback) as a non-root user (the plugin's own uid when it has
// one, else CoreService's own uid when it is not root, else 65534), with `--cap-drop ALL`,
// `no-new-privileges`, a read-only root, a private /tmp, and only its data dir bound in, writable, at
// the same path as on the host. It runs the runtime contract's `python3 main.py --port … --host
// 127.0.0.1` in the image's WORKDIR (an image's own CMD would bind 0.0.0.0:8000 on the host's
// network). Its environment reaches docker through an env-file (0600, removed once the container is
// made), never the command line. Docker's own `--restart=<policy>[:N]` applies the manifest's
// restart policy, so CoreService's supervisor leaves these replicas alone (`restartsItself`).
//
// What it made is named in records under `<home>/containers/<version>/` (layout.ts), each written
// before docker makes the thing, and labelled `org.magellon.{plugin,version,replica,home}` in docker:
// `remove` and `leftovers` find a version's containers and images by those labels as well.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, realpathSync, rmdirSync, rmSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import type { InstallMethod } from '@magellon/hub-core';
import { InstallError } from '../errors';
import {
  brokerSettingsFile,
  type ContainerFileKind,
  containerFile,
  containerImageFile,
  containerRecordFiles,
  containersDir,
  containersRoot,
  containerVersionNames,
  dataDir,
  fileInVersion,
} from '../layout';
import {
  type ContainerImage,
  type ContainerRecord,
  containerImageSchema,
  containerRecordSchema,
  type ReplicaRecordRead,
  readRecord,
  readReplicaRecords,
  writeRecord,
} from '../records';
import type { Backend, PluginRuntime, Prepared, ReplicaInfo, StartOptions, VersionRef } from './backend';
import { readSmallFile, writeFileDurably } from './files';
import { dockerCli, type HostFacts, haveProgram } from './host';
import { isRoot } from './isolation';
import { boundLine, type FollowOptions, type LogLine, pause } from './log-follow';
import { outputLines } from './output';
import { freePort, parseAnnounce } from './process';
import { recordedStart } from './settings';

/** The labels every container and built image carries. */
export const LABEL = {
  plugin: 'org.magellon.plugin',
  version: 'org.magellon.version',
  replica: 'org.magellon.replica',
  home: 'org.magellon.home',
  archive: 'org.magellon.archive_id',
} as const;

/** The uid:gid a container runs as when the plugin has no uid of its own and CoreService is root. */
export const NOBODY = '65534:65534';

/** How many processes and threads one replica may have (a fork bomb stops there). */
const PIDS_LIMIT = 4096;
const BUILD_TIMEOUT_MS = 30 * 60_000;
const CALL_TIMEOUT_MS = 120_000;
const MAX_DOCKERFILE_BYTES = 1024 * 1024;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * An image reference CoreService will pass to docker: `[host[:port]/]path[:tag][@sha256:…]`, as
 * docker's own grammar has it, never starting with `-`, at most 255 characters.
 */
const IMAGE_REF = new RegExp(
  '^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?' +
    '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*' +
    '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$',
);
export const isImageRef = (ref: string) => ref.length <= 255 && IMAGE_REF.test(ref);

/** A container name as `--network=container:<name>` may take it (docker's own name grammar). */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * Why `value` is not a network this backend puts its replicas on (`host`, `none` or
 * `container:<name>`), or undefined when it is. Nothing else ever reaches docker's command line.
 */
export function dockerNetworkProblem(value: string): string | undefined {
  if (value === 'host' || value === 'none') return undefined;
  if (value.startsWith('container:') && CONTAINER_NAME.test(value.slice('container:'.length)))
    return undefined;
  return `the docker network ${JSON.stringify(value.slice(0, 200))} is not host, none or container:<name> (a container name: letters, digits, _ . -)`;
}

/** Variables of CoreService's environment the docker CLI may see (nothing else of it). */
const CLIENT_ENV = [
  'PATH',
  'HOME',
  'DOCKER_HOST',
  'DOCKER_CONFIG',
  'DOCKER_CONTEXT',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
  'DOCKER_API_VERSION',
];

/** Variables of a plugin's environment that describe the host, not the container (its image sets them). */
const HOST_ONLY_ENV = new Set(['PATH', 'TMPDIR', 'USER', 'LOGNAME', 'HOME']);

export interface DockerBackendOptions {
  /** The docker CLI (default: MAGELLON_DOCKER_CLI, else `docker` on PATH). */
  cli?: string;
  /** Variables for the CLI over CoreService's own DOCKER_* ones (DOCKER_HOST, DOCKER_CONFIG). */
  env?: Record<string, string>;
  /**
   * The image a Dockerfile that declares `ARG BASE_IMAGE` is built FROM (default:
   * MAGELLON_DOCKER_BASE_IMAGE; unset: the Dockerfile's own default, which the daemon may pull).
   */
  baseImage?: string;
  /**
   * A manifest `image` that is not on the daemon yet: `missing` pulls it (the default; the daemon
   * reaches a registry), `never` refuses (air-gapped hosts: load it first). MAGELLON_DOCKER_PULL.
   */
  pull?: 'missing' | 'never';
  /**
   * The network replicas join: `host` (the default), `none`, or `container:<name>` (another
   * container's network namespace). MAGELLON_DOCKER_NETWORK, or config `docker.network`.
   */
  network?: string;
}

/** A line docker stamped: when (as it printed it, and as a key that sorts), which replica, which container. */
interface Stamped {
  key: string;
  ts: string;
  replica: number;
  name: string;
  line: string;
}

/**
 * A docker timestamp as a key that sorts as time does: docker trims the fraction's trailing zeros
 * (RFC 3339 nano), so it is padded back to nine digits.
 */
const stampKey = (ts: string): string => {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z` : ts;
};

/** One line of `docker logs --timestamps`, or undefined for a blank or unstamped one. */
function parseStamped(raw: string, replica: number, name: string): Stamped | undefined {
  const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) ?(.*)$/.exec(raw);
  if (!m?.[2]?.trim()) return undefined;
  return { key: stampKey(m[1]!), ts: m[1]!, replica, name, line: m[2] };
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** What `docker inspect` says of a container (the fields this backend reads). */
interface Inspected {
  Id: string;
  Name: string;
  RestartCount: number;
  State: {
    Status: string;
    Pid: number;
    ExitCode: number;
    StartedAt: string;
    FinishedAt: string;
  };
}

/** A time docker reports, or undefined for its zero time (`0001-01-01T00:00:00Z`). */
/** Container states whose container a start leaves alone. */
const LIVE_STATUSES = new Set(['running', 'paused', 'restarting']);

const dockerTime = (t: string | undefined) => (t && !t.startsWith('0001-') ? t : undefined);

/** Twelve hex digits naming a version of a plugin home: two plugins dirs on one daemon never share a name. */
const homeHash = (ref: VersionRef) =>
  createHash('sha256').update(`${ref.home}\0${ref.version}`).digest('hex').slice(0, 12);

/** `magellon-<id>-<version>-r<n>-<hash>`: the container of one replica. */
export function containerName(ref: VersionRef, n: number): string {
  const part = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60);
  return `magellon-${part(ref.pluginId)}-${part(ref.version)}-r${n}-${homeHash(ref)}`;
}

/** `magellon-plugin/<id>:<version>-<hash>`: the image prepare builds for a version. */
export function imageTag(ref: VersionRef): string {
  const repo =
    ref.pluginId
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'plugin';
  const tag = ref.version.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
  return `magellon-plugin/${repo}:${tag}-${homeHash(ref)}`;
}

/** docker's `--restart` for the manifest's lifecycle. */
export function restartFlag(lifecycle: PluginRuntime['manifest']['lifecycle']): string {
  const { restart_policy: policy, restart_max_retries: max } = lifecycle;
  return policy === 'on-failure' && max > 0 ? `on-failure:${max}` : policy;
}

/** A path bound into a container: absolute, and nothing `--mount`'s CSV would read as a separator. */
function mountable(path: string): string {
  if (!path.startsWith('/') || /[,"\n\r\0]/.test(path)) {
    throw new InstallError(
      'backend-failed',
      `the docker backend cannot bind ${JSON.stringify(path)} into a container (an absolute path without commas or quotes is needed)`,
    );
  }
  return path;
}

/** The env-file docker reads: KEY=VALUE lines, refused when a value would not survive that format. */
function envFileText(env: Record<string, string>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new InstallError(
        'backend-failed',
        `the variable name ${JSON.stringify(k)} cannot be given to a container`,
      );
    }
    if (/[\n\r\0]/.test(v)) {
      throw new InstallError(
        'backend-failed',
        `the value of ${k} holds a line break, which a container's env-file cannot carry`,
      );
    }
    lines.push(`${k}=${v}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The `docker run` of a replica: labelled as the plugin's, no capabilities nor new privileges, a
 * read-only root with a /tmp, bounded pids and logs, the manifest's resources, the env file and
 * mounts given; the image's main.py on the given port.
 */
function runArgs(
  rt: PluginRuntime,
  n: number,
  c: {
    name: string;
    user: string;
    network: string;
    envFile: string;
    mounts: string[];
    image: string;
    port: number;
  },
): string[] {
  const { resources, lifecycle } = rt.manifest;
  return [
    'run',
    '-d',
    '--name',
    c.name,
    '--label',
    `${LABEL.plugin}=${rt.pluginId}`,
    '--label',
    `${LABEL.version}=${rt.version}`,
    '--label',
    `${LABEL.replica}=${n}`,
    '--label',
    `${LABEL.home}=${rt.home}`,
    `--network=${c.network}`,
    '--user',
    c.user,
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--read-only',
    '--tmpfs',
    '/tmp',
    '--pids-limit',
    String(PIDS_LIMIT),
    `--restart=${restartFlag(lifecycle)}`,
    '--log-driver',
    'json-file',
    '--log-opt',
    'max-size=10m',
    '--log-opt',
    'max-file=3',
    '--env-file',
    c.envFile,
    ...c.mounts,
    ...(resources?.memory_mb ? ['--memory', `${resources.memory_mb}m`] : []),
    ...(resources?.cpu_cores ? ['--cpus', String(resources.cpu_cores)] : []),
    // GPU tools (MotionCor2 and the like) ship as containers: the count the manifest asks for,
    // through the daemon's GPU runtime (the NVIDIA container toolkit); without one docker refuses.
    ...(resources?.gpu_count ? ['--gpus', String(resources.gpu_count)] : []),
    '--',
    c.image,
    'python3',
    'main.py',
    '--port',
    String(c.port),
    '--host',
    '127.0.0.1',
  ];
}

/** The last lines docker printed, and the one that says why (`Error …`, `docker: …`). */
function failure(what: string, r: Ran): InstallError {
  const lines = outputLines(`${r.stdout}\n${r.stderr}`);
  const why =
    [...lines].reverse().find((l) => /^(Error|docker:|error)/i.test(l.trim())) ?? lines.at(-1) ?? '';
  return new InstallError(
    'backend-failed',
    `${what} failed (exit status ${r.code})${why ? `: ${why}` : ''}`,
    lines,
  );
}

/** Whether docker's error says no daemon answers (as opposed to an error of the daemon's). */
const daemonDown = (r: Ran) =>
  r.code !== 0 &&
  /Cannot connect to the Docker daemon|error during connect|connect: no such file|ENOENT/i.test(r.stderr);

/** A version's records as read: its replica number, the record or why it cannot be read. */

export class DockerBackend implements Backend {
  readonly method: InstallMethod = 'docker';
  readonly restartsItself = true;
  /** Addresses read from READY lines, by container id and start time (a restart announces again). */
  private readonly announced = new Map<string, { host: string; port: number }>();

  constructor(private readonly opts: DockerBackendOptions = {}) {}

  private cli(): string {
    return this.opts.cli ?? dockerCli();
  }

  private baseImage(): string | undefined {
    return this.opts.baseImage ?? (process.env.MAGELLON_DOCKER_BASE_IMAGE || undefined);
  }

  private pullPolicy(): 'missing' | 'never' {
    return this.opts.pull ?? (process.env.MAGELLON_DOCKER_PULL === 'never' ? 'never' : 'missing');
  }

  /** The replicas' network as configured (`host` when unset), and whether it is one this backend takes. */
  private network(): { value: string; problem?: string } {
    const value = this.opts.network ?? (process.env.MAGELLON_DOCKER_NETWORK || 'host');
    const problem = dockerNetworkProblem(value);
    return { value, ...(problem ? { problem: `${problem} (MAGELLON_DOCKER_NETWORK, docker.network)` } : {}) };
  }

  unavailable(host: HostFacts): string | undefined {
    const network = this.network().problem;
    if (network) return network;
    const cli = this.cli();
    if (!haveProgram(cli)) return `the docker CLI (${cli}) is not installed`;
    if (!host.dockerDaemon) {
      const where = this.opts.env?.DOCKER_HOST ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
      return `no Docker daemon answers at ${where}`;
    }
    return undefined;
  }

  /** Runs the docker CLI with `args` (never through a shell); resolves with how it ended, never rejects. */
  private docker(
    args: string[],
    o: {
      timeoutMs?: number;
      onLine?: (line: string, stream: 'out' | 'err') => void;
      until?: (stdout: string) => boolean;
      /** Ends the call (SIGTERM) when it aborts; with one, there is no timeout and no output is kept. */
      signal?: AbortSignal;
    } = {},
  ): Promise<Ran> {
    const env: Record<string, string> = { DOCKER_BUILDKIT: '0', NO_COLOR: '1' };
    for (const k of CLIENT_ENV) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    Object.assign(env, this.opts.env ?? {});
    return new Promise((done) => {
      let stdout = '';
      let stderr = '';
      let settled = false;
      const stopOnAbort = () => child.kill('SIGTERM');
      const finish = (r: Ran) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', stopOnAbort);
        done(r);
      };
      const child = spawn(this.cli(), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const timer = o.signal
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
            finish({ code: -1, stdout, stderr: `${stderr}\ndocker ${args[0]} did not finish in time` });
          }, o.timeoutMs ?? CALL_TIMEOUT_MS);
      if (o.signal?.aborted) stopOnAbort();
      else o.signal?.addEventListener('abort', stopOnAbort);
      const keep = !o.signal;
      const partial = { out: '', err: '' };
      // Decoded per stream, so a character split across two reads stays whole.
      const take = (text: string, into: 'out' | 'err') => {
        if (!keep) {
          // a follow: its lines go to onLine only
        } else if (into === 'out') {
          if (stdout.length < MAX_OUTPUT_BYTES) stdout += text;
          if (o.until?.(stdout)) {
            child.kill('SIGTERM');
            finish({ code: 0, stdout, stderr });
          }
        } else if (stderr.length < MAX_OUTPUT_BYTES) stderr += text;
        if (o.onLine) {
          const lines = (partial[into] + text).split(/\r?\n/);
          partial[into] = lines.pop() ?? '';
          for (const l of lines) if (l.trim()) o.onLine(l, into);
        }
      };
      child.stdout.setEncoding('utf8').on('data', (c: string) => take(c, 'out'));
      child.stderr.setEncoding('utf8').on('data', (c: string) => take(c, 'err'));
      child.once('error', (e) => finish({ code: -1, stdout, stderr: `${stderr}${e.message}` }));
      child.once('close', (code) => {
        for (const into of ['out', 'err'] as const)
          if (o.onLine && partial[into].trim()) o.onLine(partial[into], into);
        finish({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  // --------------------------------------------------------------------------- prepare

  async prepare(rt: PluginRuntime, log: (line: string) => void): Promise<Prepared | undefined> {
    if (rt.entry.dockerfile) await this.build(rt, log);
    else if (rt.entry.image) await this.find(rt, rt.entry.image, log);
    else
      throw new InstallError(
        'bad-archive',
        `${rt.pluginId} ${rt.version}: its docker entry names no image or Dockerfile`,
      );
    return undefined;
  }

  /** A path the entry names inside the version dir (links resolved), or `bad-archive`. */
  private inVersion(rt: PluginRuntime, rel: string, what: string): string {
    const label = `${rt.pluginId} ${rt.version}: the docker entry's ${what} ${JSON.stringify(rel)}`;
    const abs = rel === '.' || rel === './' ? rt.dir : fileInVersion(rt.dir, rel);
    if (!abs || !existsSync(abs)) throw new InstallError('bad-archive', `${label} is not in the archive`);
    const real = realpathSync(abs);
    const root = realpathSync(rt.dir);
    if (real !== root && !real.startsWith(root + sep))
      throw new InstallError('bad-archive', `${label} leads outside it`);
    return real;
  }

  private async build(rt: PluginRuntime, log: (line: string) => void): Promise<void> {
    const dockerfile = this.inVersion(rt, rt.entry.dockerfile!, 'dockerfile');
    const context = this.inVersion(rt, rt.entry.build_context ?? '.', 'build_context');
    if (!lstatSync(dockerfile).isFile() || !lstatSync(context).isDirectory()) {
      throw new InstallError(
        'bad-archive',
        `${rt.pluginId} ${rt.version}: the docker entry's dockerfile or build_context is not a file and a folder`,
      );
    }
    const text = readSmallFile(dockerfile, MAX_DOCKERFILE_BYTES);
    if (!text.ok)
      throw new InstallError(
        'bad-archive',
        `${rt.pluginId} ${rt.version}: its Dockerfile cannot be read (${text.why})`,
      );
    const tag = imageTag(rt);
    const args = [
      'build',
      '--network=none',
      '--force-rm',
      '-f',
      dockerfile,
      '-t',
      tag,
      '--label',
      `${LABEL.plugin}=${rt.pluginId}`,
      '--label',
      `${LABEL.version}=${rt.version}`,
      '--label',
      `${LABEL.home}=${rt.home}`,
      '--label',
      `${LABEL.archive}=${rt.manifest.archive_id}`,
    ];
    const base = this.baseImage();
    if (base && /^\s*ARG\s+BASE_IMAGE\b/im.test(text.text)) {
      if (!isImageRef(base))
        throw new InstallError(
          'backend-failed',
          `the base image ${JSON.stringify(base)} is not an image reference`,
        );
      args.push('--build-arg', `BASE_IMAGE=${base}`);
    }
    // The record first: whatever docker makes of this version is named somewhere CoreService looks.
    this.writeImage(rt, { image: tag, built: true, prepared_at: new Date().toISOString() });
    log(
      `building ${tag} from ${rt.entry.dockerfile} (docker build --network=none${base ? `, FROM ${base}` : ''})`,
    );
    const r = await this.docker([...args, '--', context], { timeoutMs: BUILD_TIMEOUT_MS, onLine: log });
    if (r.code !== 0) {
      await this.dropFailedBuild(r.stdout);
      throw failure(`docker build of ${rt.pluginId} ${rt.version}`, r);
    }
    const id = await this.docker(['image', 'inspect', '--format', '{{.Id}}', '--', tag]);
    this.writeImage(rt, {
      image: tag,
      built: true,
      ...(id.code === 0 ? { image_id: id.stdout.trim() } : {}),
      prepared_at: new Date().toISOString(),
    });
  }

  /**
   * The images a failed build left: each step the builder finished is an image (` ---> <id>` in
   * its output), untagged and without the labels (the builder adds those last), so neither
   * `remove` nor `leftovers` would ever find them. Removing the last one removes its untagged
   * parents too; one that carries a tag (the FROM image, when no step finished) or that another
   * image builds on stays (docker refuses), as it is not this build's alone.
   */
  private async dropFailedBuild(output: string): Promise<void> {
    const last = [...output.matchAll(/^ ---> ([0-9a-f]{12,64})\s*$/gm)].at(-1)?.[1];
    if (!last) return;
    const tags = await this.docker(['image', 'inspect', '--format', '{{len .RepoTags}}', '--', last]);
    if (tags.code === 0 && tags.stdout.trim() === '0') await this.docker(['image', 'rm', '--', last]);
  }

  private async find(rt: PluginRuntime, ref: string, log: (line: string) => void): Promise<void> {
    if (!isImageRef(ref)) {
      throw new InstallError(
        'bad-archive',
        `${rt.pluginId} ${rt.version}: the docker entry's image ${JSON.stringify(ref.slice(0, 300))} is not an image reference`,
      );
    }
    let id = await this.docker(['image', 'inspect', '--format', '{{.Id}}', '--', ref]);
    if (id.code !== 0 && !daemonDown(id)) {
      if (this.pullPolicy() === 'never') {
        throw new InstallError(
          'backend-failed',
          `the image ${ref} is not on this Docker daemon, and pulling is off (MAGELLON_DOCKER_PULL=never): docker load it first`,
        );
      }
      log(`pulling ${ref}`);
      const pulled = await this.docker(['pull', '--', ref], { timeoutMs: BUILD_TIMEOUT_MS, onLine: log });
      if (pulled.code !== 0) throw failure(`docker pull ${ref}`, pulled);
      id = await this.docker(['image', 'inspect', '--format', '{{.Id}}', '--', ref]);
    }
    if (id.code !== 0) throw failure(`docker image inspect ${ref}`, id);
    log(`using the image ${ref} (${id.stdout.trim().slice(0, 19)})`);
    this.writeImage(rt, {
      image: ref,
      built: false,
      image_id: id.stdout.trim(),
      prepared_at: new Date().toISOString(),
    });
  }

  private writeImage(rt: VersionRef, value: ContainerImage): void {
    mkdirSync(containersDir(rt.home, rt.version), { recursive: true, mode: 0o700 });
    writeRecord(containerImageFile(rt.home, rt.version), containerImageSchema, value);
  }

  // --------------------------------------------------------------------------- start

  async start(rt: PluginRuntime, opts: StartOptions): Promise<void> {
    const image = readRecord(containerImageFile(rt.home, rt.version), containerImageSchema);
    if (!image.ok) {
      throw new InstallError(
        'backend-failed',
        `${rt.pluginId} ${rt.version} has no prepared image (prepare it first)`,
      );
    }
    // Replicas beyond the new count (after a scale down) go, containers and records.
    const beyond = this.records(rt).filter(({ n }) => n >= opts.replicas);
    if (beyond.length > 0) {
      await this.docker(['rm', '-f', '-v', ...beyond.map(({ n }) => containerName(rt, n))]);
      for (const { n } of beyond) this.dropRecord(rt, n);
    }
    // Containers that run (or are paused, or being restarted by docker) are left alone: a scale up
    // keeps them. The others are made anew.
    const kept = this.records(rt).flatMap(({ n, read }) =>
      read.ok && n < opts.replicas ? [{ n, read }] : [],
    );
    const { found } = await this.inspect(kept.map(({ read }) => read.value.name));
    const live = new Set(
      kept.flatMap(({ n, read }) =>
        LIVE_STATUSES.has(found.get(read.value.name)?.State.Status ?? '') ? [n] : [],
      ),
    );
    await Promise.all(
      Array.from({ length: opts.replicas }, (_, n) =>
        live.has(n) ? undefined : this.launch(rt, n, image.value.image, opts, 0),
      ),
    );
  }

  async restartReplica(rt: PluginRuntime, n: number, opts: StartOptions & { restarts: number }) {
    const image = readRecord(containerImageFile(rt.home, rt.version), containerImageSchema);
    if (!image.ok)
      throw new InstallError('backend-failed', `${rt.pluginId} ${rt.version} has no prepared image`);
    await this.launch(rt, n, image.value.image, opts, opts.restarts);
  }

  /** The uid:gid a container runs as: the plugin's own, else CoreService's (not root), else nobody. */
  private user(rt: PluginRuntime): string {
    const id = rt.sandbox?.identity;
    if (id) return `${id.uid}:${id.gid}`;
    if (!isRoot() && process.getuid && process.getgid) return `${process.getuid()}:${process.getgid()}`;
    return NOBODY;
  }

  private async launch(
    rt: PluginRuntime,
    n: number,
    image: string,
    opts: StartOptions,
    restarts: number,
  ): Promise<void> {
    const name = containerName(rt, n);
    const label = `${rt.pluginId} ${rt.version}`;
    const user = this.user(rt);
    const data = opts.env.MAGELLON_PLUGIN_DATA_DIR ?? dataDir(rt.home);
    const writable = rt.sandbox?.writable ?? [data];
    if (writable.includes(dataDir(rt.home))) mkdirSync(dataDir(rt.home), { recursive: true, mode: 0o700 });
    const port = rt.manifest.health_check.expected_announce ? 0 : await freePort();
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env)) if (!HOST_ONLY_ENV.has(k)) env[k] = v;
    Object.assign(env, { HOME: data, MAGELLON_REPLICA_ID: `${rt.pluginId}-${n}`, PYTHONUNBUFFERED: '1' });

    // Everything that can be refused is refused before anything is written or run.
    const envText = envFileText(env);
    const network = this.network();
    if (network.problem) throw new InstallError('backend-failed', `${label}: ${network.problem}`);
    const mounts = writable.flatMap((p) => ['--mount', `type=bind,source=${mountable(p)},target=${p}`]);
    // The broker settings file (MAGELLON_SETTINGS_FILE) is CoreService's, written for this plugin: read-only.
    const brokerFile = env.MAGELLON_SETTINGS_FILE;
    if (brokerFile !== undefined && brokerFile === brokerSettingsFile(rt.home))
      mounts.push('--mount', `type=bind,source=${mountable(brokerFile)},target=${brokerFile},readonly`);
    if (!isImageRef(image))
      throw new InstallError('backend-failed', `${label}: its image record names no image reference`);

    await this.docker(['rm', '-f', '-v', name]);
    const record: ContainerRecord = {
      name,
      image,
      user,
      started_at: new Date().toISOString(),
      restarts,
      ...(port ? { port } : {}),
      isolation: rt.sandbox?.level ?? 'none',
      given: recordedStart(opts.settings, env, rt.pluginId),
    };
    const file = containerFile(rt.home, rt.version, n, 'json');
    mkdirSync(containersDir(rt.home, rt.version), { recursive: true, mode: 0o700 });
    writeRecord(file, containerRecordSchema, record);
    const envFile = containerFile(rt.home, rt.version, n, 'env');
    writeFileDurably(envFile, envText);
    const args = runArgs(rt, n, { name, user, network: network.value, envFile, mounts, image, port });
    let r: Ran;
    try {
      r = await this.docker(args);
    } finally {
      rmSync(envFile, { force: true });
    }
    const id = r.stdout.trim().split('\n').at(-1) ?? '';
    if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(id)) {
      // A container that was made but could not start stays "created": it goes with its record.
      await this.docker(['rm', '-f', '-v', name]);
      this.dropRecord(rt, n);
      throw failure(`starting ${label} (docker run)`, r);
    }
    writeRecord(file, containerRecordSchema, { ...record, container_id: id });
  }

  private dropRecord(rt: VersionRef, n: number): void {
    for (const kind of ['json', 'env'] as ContainerFileKind[]) {
      rmSync(containerFile(rt.home, rt.version, n, kind), { force: true });
    }
  }

  /** The version's replica records, readable or not, by replica number. */
  private records(rt: VersionRef): ReplicaRecordRead<ContainerRecord>[] {
    return readReplicaRecords(containerRecordFiles(rt.home, rt.version), containerRecordSchema);
  }

  /** The containers of the given names that exist, by name. */
  private async inspect(names: string[]): Promise<{ down?: string; found: Map<string, Inspected> }> {
    const found = new Map<string, Inspected>();
    if (names.length === 0) return { found };
    const r = await this.docker(['inspect', '--type', 'container', '--', ...names]);
    if (daemonDown(r)) return { down: outputLines(r.stderr, 1)[0] ?? 'docker does not answer', found };
    try {
      for (const c of JSON.parse(r.stdout || '[]') as Inspected[]) found.set(c.Name.replace(/^\//, ''), c);
    } catch {
      // nothing parseable: none of them exists
    }
    return { found };
  }

  // --------------------------------------------------------------------------- status, logs

  async status(rt: PluginRuntime): Promise<ReplicaInfo[]> {
    const records = this.records(rt);
    const { down, found } = await this.inspect(
      records.flatMap(({ read }) => (read.ok ? [read.value.name] : [])),
    );
    return Promise.all(
      records.map(async ({ n, path, read }): Promise<ReplicaInfo> => {
        if (!read.ok) {
          const why = read.absent ? 'it was removed while being read' : read.why;
          return { replica: n, state: 'unknown', restarts: 0, unreadable: { path, why } };
        }
        const rec = read.value;
        const common = {
          replica: n,
          ref: rec.name,
          ...(rec.isolation ? { isolation: rec.isolation } : {}),
          ...(rec.given ? { given: rec.given } : {}),
        };
        if (down) {
          return {
            ...common,
            state: 'unknown',
            restarts: rec.restarts,
            unreadable: { path, why: `docker: ${down}` },
          };
        }
        const c = found.get(rec.name);
        if (!c) {
          return {
            ...common,
            state: rec.stopped ? 'stopped' : 'exited',
            exit_code: null,
            started_at: rec.started_at,
            restarts: rec.restarts,
          };
        }
        const s = c.State;
        const restarts = rec.restarts + (c.RestartCount ?? 0);
        const started = dockerTime(s.StartedAt) ?? rec.started_at;
        if (s.Status === 'running' || s.Status === 'paused') {
          const addr = rec.port ? { host: '127.0.0.1', port: rec.port } : await this.announce(rt, c);
          return {
            ...common,
            state: addr ? 'running' : 'starting',
            ...(s.Status === 'paused' ? { paused: true } : {}),
            ...(s.Pid > 0 ? { pid: s.Pid } : {}),
            ...(addr ?? {}),
            started_at: started,
            restarts,
          };
        }
        if (s.Status === 'created')
          return { ...common, state: 'starting', started_at: rec.started_at, restarts };
        // exited, dead, removing, or restarting (it ended; docker will start it again)
        const ended = dockerTime(s.FinishedAt);
        return {
          ...common,
          state: rec.stopped ? 'stopped' : 'exited',
          started_at: started,
          exit_code: s.ExitCode,
          ...(ended ? { exited_at: ended } : {}),
          restarts,
        };
      }),
    );
  }

  /**
   * The address this run of a container announced: the READY line among what it printed on
   * stdout since its previous run ended (a container restarted by docker keeps one log).
   */
  private async announce(
    rt: PluginRuntime,
    c: Inspected,
  ): Promise<{ host: string; port: number } | undefined> {
    const key = `${c.Id}@${c.State.StartedAt}`;
    const known = this.announced.get(key);
    if (known) return known;
    const since = c.RestartCount > 0 ? dockerTime(c.State.FinishedAt) : undefined;
    const r = await this.docker(['logs', ...(since ? ['--since', since] : []), c.Id], {
      until: (out) => parseAnnounce(out, rt) !== undefined,
      timeoutMs: 10_000,
    });
    const addr = parseAnnounce(r.stdout, rt);
    if (addr) this.announced.set(key, addr);
    return addr;
  }

  async logs(rt: PluginRuntime, tail: number): Promise<string[]> {
    const stamped = await this.stampedTail(rt, tail);
    const several = this.records(rt).filter(({ read }) => read.ok).length > 1;
    return stamped
      .slice(-Math.max(0, tail))
      .map(({ replica, line }) => (several ? `[${replica}] ${line}` : line));
  }

  /**
   * The last `tail` lines of each recorded container (both streams), stamped by docker, merged in
   * the order docker received them.
   */
  private async stampedTail(rt: PluginRuntime, tail: number): Promise<Stamped[]> {
    const n = Math.max(0, tail);
    if (n === 0) return [];
    const readable = this.records(rt).flatMap(({ n, read }) => (read.ok ? [{ n, rec: read.value }] : []));
    const stamped: Stamped[] = [];
    await Promise.all(
      readable.map(async ({ n: replica, rec }) => {
        const r = await this.docker(['logs', '--timestamps', '--tail', String(n), '--', rec.name]);
        if (r.code !== 0) return;
        for (const line of `${r.stdout}\n${r.stderr}`.split('\n')) {
          const s = parseStamped(line, replica, rec.name);
          if (s) stamped.push(s);
        }
      }),
    );
    return stamped.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * `docker logs --follow --timestamps --since <last seen>` per recorded container, attached again
   * whenever docker ends it (the container stopped, restarted or was made anew), lines already seen
   * dropped; containers recorded later (scale up) are followed from when the follow began.
   */
  async follow(rt: PluginRuntime, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void> {
    const { signal } = opts;
    const began = new Date().toISOString();
    const first = await this.stampedTail(rt, opts.tail);
    const seen = new Map<string, { key: string; since: string; lines: Set<string> }>();
    for (const s of first) {
      const at = seen.get(s.name);
      if (!at || s.key > at.key) seen.set(s.name, { key: s.key, since: s.ts, lines: new Set([s.line]) });
      else if (s.key === at.key) at.lines.add(s.line);
    }
    const deliver = (replica: number, line: string) => {
      if (!signal.aborted) onLine({ replica, line: boundLine(line) });
    };
    for (const s of first.slice(first.length - Math.min(first.length, Math.max(0, opts.tail))))
      deliver(s.replica, s.line);
    opts.caughtUp?.();
    const attached = new Map<string, Promise<void>>();
    const attach = async (replica: number, name: string) => {
      const at = seen.get(name) ?? { key: stampKey(began), since: began, lines: new Set<string>() };
      seen.set(name, at);
      while (!signal.aborted) {
        await this.docker(['logs', '--follow', '--timestamps', '--since', at.since, '--', name], {
          signal,
          onLine: (raw) => {
            const s = parseStamped(raw, replica, name);
            if (!s || s.key < at.key || (s.key === at.key && at.lines.has(s.line))) return;
            if (s.key > at.key) {
              at.key = s.key;
              at.since = s.ts;
              at.lines = new Set();
            }
            at.lines.add(s.line);
            deliver(replica, s.line);
          },
        });
        await pause(1_000, signal);
      }
    };
    while (!signal.aborted) {
      for (const { n, read } of this.records(rt)) {
        if (read.ok && !attached.has(read.value.name))
          attached.set(read.value.name, attach(n, read.value.name));
      }
      await pause(1_000, signal);
    }
    await Promise.all(attached.values());
  }

  // --------------------------------------------------------------------------- stop, pause

  async stop(rt: PluginRuntime, opts: { graceMs?: number } = {}): Promise<void> {
    await this.stopRecorded(rt, opts.graceMs ?? 5_000);
  }

  /**
   * Stops every recorded container: its restart policy is turned off first (an `always` container
   * would otherwise come back when the daemon restarts), then `docker stop`. The container is kept
   * (exited) so its logs say how it ended, until the next start or remove.
   */
  private async stopRecorded(rt: VersionRef, graceMs: number): Promise<void> {
    const names: string[] = [];
    for (const { n, read } of this.records(rt)) {
      if (!read.ok) continue;
      names.push(read.value.name);
      try {
        writeRecord(containerFile(rt.home, rt.version, n, 'json'), containerRecordSchema, {
          ...read.value,
          stopped: true,
        });
      } catch {
        // the stop goes on; a record it cannot mark says running, and status checks the container
      }
    }
    if (names.length === 0) return;
    const { found } = await this.inspect(names);
    const present = names.filter((x) => found.has(x));
    if (present.length === 0) return;
    await this.docker(['update', '--restart=no', ...present]);
    const secs = Math.max(0, Math.ceil(graceMs / 1000));
    const r = await this.docker(['stop', '-t', String(secs), ...present], { timeoutMs: graceMs + 60_000 });
    if (r.code !== 0 && !/No such container/i.test(r.stderr))
      throw failure(`docker stop of ${rt.pluginId} ${rt.version}`, r);
  }

  pause(rt: PluginRuntime): Promise<void> {
    return this.freeze(rt, 'pause');
  }

  unpause(rt: PluginRuntime): Promise<void> {
    return this.freeze(rt, 'unpause');
  }

  private async freeze(rt: PluginRuntime, verb: 'pause' | 'unpause'): Promise<void> {
    const names = this.records(rt).flatMap(({ read }) => (read.ok ? [read.value.name] : []));
    const { found } = await this.inspect(names);
    const want = verb === 'pause' ? 'running' : 'paused';
    const targets = names.filter((x) => found.get(x)?.State.Status === want);
    if (targets.length === 0) return;
    const r = await this.docker([verb, ...targets]);
    if (r.code !== 0) throw failure(`docker ${verb} of ${rt.pluginId} ${rt.version}`, r);
  }

  // --------------------------------------------------------------------------- remove, leftovers

  /** `--filter` arguments for a home's objects (of one version). */
  private static filters(home: string, version?: string): string[] {
    return [
      '--filter',
      `label=${LABEL.home}=${home}`,
      ...(version ? ['--filter', `label=${LABEL.version}=${version}`] : []),
    ];
  }

  async remove(ref: VersionRef): Promise<void> {
    const dir = containersDir(ref.home, ref.version);
    const recorded = existsSync(dir);
    if (!recorded && !haveProgram(this.cli())) return;
    const ps = await this.docker([
      'ps',
      '-aq',
      '--no-trunc',
      ...DockerBackend.filters(ref.home, ref.version),
    ]);
    if (ps.code !== 0) {
      // No daemon: with nothing recorded there is nothing of ours; with records, they stay for later.
      if (!recorded) return;
      throw failure(`listing the containers of ${ref.pluginId} ${ref.version}`, ps);
    }
    // Every container of ours carries the labels (they are given at `docker run`, with the name).
    const containers = [...new Set(ps.stdout.split('\n').filter(Boolean))];
    if (containers.length > 0) {
      const rm = await this.docker(['rm', '-f', '-v', ...containers]);
      if (rm.code !== 0 && !/No such container|already in progress/i.test(rm.stderr)) {
        throw failure(`docker rm of ${ref.pluginId} ${ref.version}`, rm);
      }
    }
    // Only what this backend built (labelled with this home and version), by its own tag (or by id
    // when a rebuild left it untagged): a manifest's own image, or a tag someone else gave the
    // image, stays.
    const images = await this.docker([
      'image',
      'ls',
      '--no-trunc',
      ...DockerBackend.filters(ref.home, ref.version),
      '--format',
      '{{.ID}} {{.Repository}}:{{.Tag}}',
    ]);
    const refs = new Set<string>();
    for (const line of images.stdout.split('\n')) {
      const [id, name] = line.trim().split(' ');
      if (!id || !name) continue;
      if (name === '<none>:<none>') refs.add(id);
      else if (name.startsWith('magellon-plugin/')) refs.add(name);
    }
    if (refs.size > 0) {
      const rmi = await this.docker(['image', 'rm', ...refs]);
      if (rmi.code !== 0 && !/No such image/i.test(rmi.stderr)) {
        throw failure(`docker image rm of ${ref.pluginId} ${ref.version}`, rmi);
      }
    }
    this.announced.clear();
    rmSync(dir, { recursive: true, force: true });
    try {
      rmdirSync(containersRoot(ref.home));
    } catch {
      // other versions' records are still there, or it is already gone
    }
  }

  async leftovers(home: string, installed?: string): Promise<string[]> {
    const versions = new Set(containerVersionNames(home));
    if (haveProgram(this.cli())) {
      const filter = DockerBackend.filters(resolve(home));
      const ps = await this.docker(['ps', '-a', ...filter, '--format', `{{.Label "${LABEL.version}"}}`]);
      if (ps.code === 0) for (const v of ps.stdout.split('\n')) if (v.trim()) versions.add(v.trim());
      const images = await this.docker(['image', 'ls', '-q', ...filter]);
      const ids = [...new Set(images.stdout.split('\n').filter(Boolean))];
      if (images.code === 0 && ids.length > 0) {
        const labels = await this.docker([
          'image',
          'inspect',
          '--format',
          `{{index .Config.Labels "${LABEL.version}"}}`,
          ...ids,
        ]);
        for (const v of labels.stdout.split('\n')) if (v.trim()) versions.add(v.trim());
      }
    }
    return [...versions].filter((v) => v !== installed).sort();
  }
}
