// What this host offers, and which install entry of a manifest fits it. The install[] entries are
// tried in order; the first whose predicates all hold and whose backend runs here is chosen. When
// none fits, the error lists why each entry was rejected (HTTP 422).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { type InstallSpec, sdkSatisfies } from '@magellon/hub-core';
import { onPath } from '@magellon/hub-core/node';
import { InstallError } from '../errors';
import { isRoot, runnableByOthers } from './isolation';

const run = promisify(execFile);

/** Facts about this host that install predicates ask about. Tests may override any of them. */
export interface HostFacts {
  /** The python3 version (e.g. "3.11.7"), or undefined when there is none. */
  python?: string;
  dockerDaemon: boolean;
  gpuCount: number;
  /** `linux`, `darwin`, … (Node's platform names). */
  os: string;
  /** `x86_64`, `aarch64`, … (uname names). */
  arch: string;
  /** Whether a program of that name is on PATH. */
  hasBinary: (name: string) => boolean;
}

const UNAME_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686' };
const ARCH_ALIASES: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64', x64: 'x86_64' };

export { onPath };

let python: Promise<{ version: string; executable: string } | undefined> | undefined;

/** Asks one interpreter for its version and real executable. */
async function askPython(cmd: string): Promise<{ version: string; executable: string } | undefined> {
  try {
    const { stdout } = await run(
      cmd,
      ['-c', 'import platform, sys; print(platform.python_version()); print(sys.executable)'],
      { timeout: 10_000 },
    );
    const [version, executable] = stdout.trim().split('\n');
    return version && executable ? { version, executable } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The python3 plugins run with, asked once per process for its version and real executable.
 * Backends run that executable directly: a version manager's `python3` is often a shell shim that
 * costs a quarter of a second per call. A CoreService running as root runs plugins under uids of
 * their own, so it takes the first python3 every user can run (one under /root is not, however
 * its shim looks on PATH).
 */
export function findPython(): Promise<{ version: string; executable: string } | undefined> {
  python ??= (async () => {
    if (!isRoot()) return askPython('python3');
    const candidates = [
      ...(process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, 'python3')),
      '/usr/bin/python3',
      '/usr/local/bin/python3',
    ];
    for (const c of candidates) {
      if (!runnableByOthers(c)) continue;
      const found = await askPython(c);
      if (found && runnableByOthers(found.executable)) return found;
    }
    return askPython('python3');
  })();
  return python;
}

async function pythonVersion(): Promise<string | undefined> {
  return (await findPython())?.version;
}

/** The docker CLI CoreService uses: MAGELLON_DOCKER_CLI (a path, or a name on PATH), else `docker`. */
export const dockerCli = () => process.env.MAGELLON_DOCKER_CLI || 'docker';

/** Whether a program named by path or by name on PATH is there. */
export const haveProgram = (cmd: string) => (cmd.includes('/') ? existsSync(cmd) : onPath(cmd));

async function dockerDaemon(): Promise<boolean> {
  const cli = dockerCli();
  if (!haveProgram(cli)) return false;
  try {
    await run(cli, ['version', '--format', '{{.Server.Version}}'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function gpuCount(): number {
  try {
    return readdirSync('/proc/driver/nvidia/gpus').length;
  } catch {
    return 0;
  }
}

let probed: Promise<HostFacts> | undefined;

/** Probes the host once per process (python, docker daemon, GPUs, os, arch). */
export function probeHost(): Promise<HostFacts> {
  probed ??= (async () => {
    const [python, docker] = await Promise.all([pythonVersion(), dockerDaemon()]);
    return {
      python,
      dockerDaemon: docker,
      gpuCount: gpuCount(),
      os: process.platform,
      arch: UNAME_ARCH[process.arch] ?? process.arch,
      hasBinary: (name: string) => onPath(name),
    };
  })();
  return probed;
}

/** Why one predicate does not hold on this host, or undefined when it does. */
export function checkPredicate(key: string, want: unknown, host: HostFacts): string | undefined {
  switch (key) {
    case 'python': {
      if (!host.python) return 'python3 is not installed';
      const range = String(want);
      return sdkSatisfies(host.python, range)
        ? undefined
        : `python ${range} is needed; this host has ${host.python}`;
    }
    case 'binary':
      return typeof want === 'string' && host.hasBinary(want)
        ? undefined
        : `the program "${String(want)}" is not on PATH`;
    case 'docker_daemon':
      return want !== true || host.dockerDaemon ? undefined : 'no Docker daemon answers here';
    case 'gpu_count_min': {
      const n = Number(want);
      if (!Number.isInteger(n) || n < 0) return `gpu_count_min must be a whole number, not ${String(want)}`;
      return host.gpuCount >= n ? undefined : `${n} GPU(s) are needed; this host has ${host.gpuCount}`;
    }
    case 'os':
      return String(want).toLowerCase() === host.os
        ? undefined
        : `os ${String(want)} is needed; this host runs ${host.os}`;
    case 'arch': {
      const a = String(want).toLowerCase();
      return (Object.hasOwn(ARCH_ALIASES, a) ? ARCH_ALIASES[a] : a) === host.arch
        ? undefined
        : `arch ${String(want)} is needed; this host is ${host.arch}`;
    }
    default:
      return `unknown predicate "${key}" (this CoreService knows python, binary, docker_daemon, gpu_count_min, os, arch)`;
  }
}

/** Every reason an entry's predicates fail on this host (empty: it fits). */
export function entryRejections(entry: InstallSpec, host: HostFacts): string[] {
  const why: string[] = [];
  for (const pred of entry.requires) {
    for (const [key, want] of Object.entries(pred)) {
      const reason = checkPredicate(key, want, host);
      if (reason) why.push(reason);
    }
  }
  return why;
}

/**
 * The first install entry (or the one with `method`, when asked) whose predicates hold and whose
 * backend is available here. `backendUnavailable` says why a method cannot run on this CoreService.
 */
export function chooseInstall(
  entries: readonly InstallSpec[],
  host: HostFacts,
  backendUnavailable: (method: InstallSpec['method']) => string | undefined,
  opts: { method?: string; label: string; prefer?: string },
): InstallSpec {
  // An upgrade keeps the method the installed version runs with (an operator who chose docker
  // keeps docker) while the new version offers it and it fits; otherwise the usual order decides.
  const kept = !opts.method && opts.prefer ? entries.find((e) => e.method === opts.prefer) : undefined;
  if (kept && [...entryRejections(kept, host)].length === 0 && !backendUnavailable(kept.method)) return kept;
  const rejected: string[] = [];
  const candidates = opts.method ? entries.filter((e) => e.method === opts.method) : entries;
  if (opts.method && candidates.length === 0) {
    throw new InstallError(
      'incompatible',
      `${opts.label} has no "${opts.method}" install entry (it offers ${entries.map((e) => e.method).join(', ')})`,
    );
  }
  for (const [i, entry] of candidates.entries()) {
    const why = [...entryRejections(entry, host)];
    const backend = backendUnavailable(entry.method);
    if (backend) why.push(backend);
    if (why.length === 0) return entry;
    rejected.push(`install[${opts.method ? entries.indexOf(entry) : i}] ${entry.method}: ${why.join('; ')}`);
  }
  throw new InstallError('incompatible', `no install method of ${opts.label} fits this host`, rejected);
}
