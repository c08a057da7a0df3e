// The uv backend: a venv per plugin version (layout.ts: `<home>/venvs/<version>`), the pyproject's
// dependencies installed into it, then run by a process backend it holds, given the venv's
// interpreter. It owns only the venv; the replicas' run records are its process backend's. With a
// `uv` binary on PATH it is used (`uv venv`, `uv pip install`); without one, `python3 -m venv` and
// pip do the same.
//
// Where the packages come from is python-index.ts's: the configured indexes (PyPI by default), or
// offline the archive's own `wheels/` only (`--no-index`); wheels/ is also a find-links source
// online. With a `uv.lock` beside the pyproject, exactly its packages are installed: the lock is
// read and checked against the pyproject by the domain library (uv-lock.ts), which writes the
// requirements file handed to `--require-hashes --no-deps`, so a download whose sha256 is not the
// lock's fails closed (`checksum-mismatch`). Without a lock the dependencies are resolved, and pip's
// `--report` says what was installed, with hashes, for the receipt.
//
// The pyproject is the plugin author's: its dependency strings are parsed by the domain library as
// PEP 508 requirements and refused if they are anything else (an option, a URL, a path). pip and uv
// get them only after `--` (or in the requirements file CoreService wrote), with the options
// CoreService chose: wheels only (no sdist's build script runs), no config file of the host's or the
// plugin's, run outside the plugin's files. An index's credentials are in a 0600 .netrc of the
// installer's throw-away HOME, never on its command line, and scrubbed from whatever it printed.
import { type ExecFileException, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import {
  type InstallMethod,
  installRequirements,
  type LockedInstall,
  lockedInstall,
  MAX_UV_LOCK_BYTES,
  normalizePackageName,
  UV_LOCK_FILE,
} from '@magellon/hub-core';
import { InstallError } from '../errors';
import {
  DEFAULT_PYPROJECT,
  fileInVersion,
  venvDir as venvDirOf,
  venvPython,
  venvsRoot,
  venvVersionNames,
  wheelsDir,
} from '../layout';
import type {
  Backend,
  PluginRuntime,
  Prepared,
  PreparedFacts,
  PythonDependency,
  ReplicaInfo,
  StartOptions,
  VersionRef,
} from './backend';
import { readSmallFile } from './files';
import { findPython, type HostFacts, onPath } from './host';
import type { FollowOptions, LogLine } from './log-follow';
import { outputLines, withoutColour } from './output';
import { ProcessBackend } from './process';
import { pythonSource, scrub, secretsOf, writeNetrc } from './python-index';

const PREPARE_TIMEOUT_MS = 10 * 60_000;
const MAX_REPORT_BYTES = 16 * 1024 * 1024;
const MAX_PYPROJECT_BYTES = 256 * 1024;

/** The venv of a version. */
export const venvDir = (rt: Pick<VersionRef, 'home' | 'version'>) => venvDirOf(rt.home, rt.version);

function exec(cmd: string, args: string[], cwd: string, home: string): Promise<string> {
  return new Promise((res, rej) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout: PREPARE_TIMEOUT_MS,
        maxBuffer: 8 * 1024 * 1024,
        // Nothing of CoreService's environment, and no pip or uv configuration from the host.
        env: {
          PATH: process.env.PATH ?? '',
          // A HOME of its own, removed afterwards: what pip or uv keep there (caches, settings)
          // never lands in the plugin's folders.
          HOME: home,
          NO_COLOR: '1',
          PIP_NO_INPUT: '1',
          PIP_CONFIG_FILE: '/dev/null',
          UV_NO_CONFIG: '1',
        },
      },
      (err, stdout, stderr) => {
        if (err) {
          // Its last lines, as lines (each escaped where it is shown), never one string of them.
          const tail = outputLines(`${stdout}\n${stderr}`);
          // pip and uv say why on a line of their own ("ERROR: …", "error: …"): that line leads.
          const reason = [...tail]
            .map(withoutColour)
            .reverse()
            .find((l) => /^\s*(ERROR|error|×)\b/.test(l))
            ?.trim();
          const what = `${cmd.split(sep).pop()} ${args.slice(0, 2).join(' ')}`;
          rej(
            Object.assign(new Error(`${what} failed (${howItEnded(err)})${reason ? `: ${reason}` : ''}`), {
              lines: tail,
            }),
          );
        } else res(`${stdout}${stderr}`);
      },
    );
  });
}

/**
 * How a child ended, in a few words: its exit status, the signal that ended it, or why it could not
 * run. Never Node's own message, which repeats the whole command line and output in one string.
 */
function howItEnded(err: ExecFileException): string {
  if (typeof err.code === 'number') return `exit status ${err.code}`;
  if (err.signal) {
    return err.killed
      ? `stopped after ${PREPARE_TIMEOUT_MS / 60_000} minutes (${err.signal})`
      : `ended by ${err.signal}`;
  }
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return 'it printed too much';
  return typeof err.code === 'string' ? err.code : 'it could not be run';
}

/** The pyproject's dependencies as the domain library accepts them: PEP 508 requirements, nothing else. */
function dependencies(rt: PluginRuntime, pyproject: string): string[] {
  const read = readSmallFile(pyproject, MAX_PYPROJECT_BYTES);
  const label = `${rt.pluginId} ${rt.version}: ${rt.entry.pyproject ?? DEFAULT_PYPROJECT}`;
  if (!read.ok) throw new InstallError('bad-archive', `${label} cannot be read (${read.why})`);
  const deps = installRequirements(read.text);
  if (!deps.ok) {
    throw new InstallError(
      'bad-archive',
      `${label} is refused: ${deps.reason}`,
      deps.refusals.map((r) => `line ${r.line}: ${r.message}`),
    );
  }
  return deps.requirements;
}

/** The uv.lock beside the pyproject, read and checked against it; undefined when there is none. */
function lockOf(rt: PluginRuntime, pyproject: string): Extract<LockedInstall, { ok: true }> | undefined {
  const path = join(dirname(pyproject), UV_LOCK_FILE);
  if (!existsSync(path)) return undefined;
  const label = `${rt.pluginId} ${rt.version}`;
  const lock = readSmallFile(path, MAX_UV_LOCK_BYTES);
  if (!lock.ok)
    throw new InstallError('bad-archive', `${label}: ${UV_LOCK_FILE} cannot be read (${lock.why})`);
  const project = readSmallFile(pyproject, MAX_PYPROJECT_BYTES);
  if (!project.ok)
    throw new InstallError('bad-archive', `${label}: the pyproject cannot be read (${project.why})`);
  const read = lockedInstall(project.text, lock.text);
  if (!read.ok) throw new InstallError('bad-archive', `${label}: ${read.reason}`, read.details);
  return read;
}

/**
 * The package pip or uv refused because its download's hash is not the lock's, as `name==version`
 * (pip: "THESE PACKAGES DO NOT MATCH THE HASHES …" then "    name==1.0 from …"; uv: "Hash mismatch
 * for `name==1.0`"), or undefined when the failure is another.
 */
function hashMismatch(lines: readonly string[]): string | undefined {
  const plain = lines.map(withoutColour);
  const uv = plain.map((l) => /hash mismatch for `([^`\s]{1,200})`/i.exec(l)?.[1]).find(Boolean);
  if (uv) return uv;
  const at = plain.findIndex((l) => /DO NOT MATCH THE HASHES/.test(l));
  if (at < 0) return undefined;
  const named = plain
    .slice(at + 1)
    .map((l) => /^\s+([A-Za-z0-9._-]{1,200}==[A-Za-z0-9.!+_-]{1,100})\s+from\b/.exec(l)?.[1]);
  return named.find(Boolean) ?? 'package';
}

/** What pip's `--report` says it installed: name, version, the sha256 of the file (bounded read). */
function installedFrom(report: string): PythonDependency[] {
  const read = readSmallFile(report, MAX_REPORT_BYTES);
  if (!read.ok) return [];
  try {
    const doc = JSON.parse(read.text) as { install?: unknown };
    if (!Array.isArray(doc.install)) return [];
    const installed: PythonDependency[] = doc.install.flatMap((item: unknown) => {
      const i = item as {
        metadata?: { name?: unknown; version?: unknown };
        download_info?: { archive_info?: { hashes?: { sha256?: unknown }; hash?: unknown } };
      };
      const name = i.metadata?.name;
      const version = i.metadata?.version;
      if (typeof name !== 'string' || typeof version !== 'string') return [];
      const info = i.download_info?.archive_info;
      const sha =
        typeof info?.hashes?.sha256 === 'string'
          ? info.hashes.sha256
          : typeof info?.hash === 'string' && info.hash.startsWith('sha256=')
            ? info.hash.slice(7)
            : undefined;
      return [
        {
          name: normalizePackageName(name).slice(0, 200),
          version: version.slice(0, 100),
          ...(sha && /^[0-9a-f]{64}$/.test(sha) ? { sha256: sha } : {}),
        },
      ];
    });
    return installed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch {
    return [];
  }
}

/** Makes the venv (with uv when it is on PATH, else `python3 -m venv`); answers whether uv is used. */
async function createVenv(
  rt: PluginRuntime,
  venv: string,
  home: string,
  log: (line: string) => void,
): Promise<boolean> {
  const python = (await findPython())?.executable ?? 'python3';
  const useUv = onPath('uv');
  log(`creating a venv with ${useUv ? 'uv' : 'python3 -m venv'}`);
  if (useUv) await exec('uv', ['venv', '--no-config', '--python', python, '--', venv], rt.home, home);
  else await exec(python, ['-m', 'venv', '--without-pip', '--', venv], rt.home, home);
  return useUv;
}

/**
 * Installs the dependencies into the venv from the configured indexes (or offline the archive's
 * wheels): a lock's packages exactly, each file checked against its hash; else the pyproject's,
 * resolved. `secrets` gets the indexes' credentials (to scrub from whatever the installer printed).
 */
async function installDependencies(p: {
  rt: PluginRuntime;
  venv: string;
  home: string;
  deps: string[];
  locked: Extract<LockedInstall, { ok: true }> | undefined;
  useUv: boolean;
  secrets: string[];
  log: (line: string) => void;
}): Promise<Prepared> {
  const { locked, home } = p;
  const source = pythonSource();
  p.secrets.push(...secretsOf(source));
  writeNetrc(home, source);
  const index = source.offline ? undefined : source.indexes[0]!.url;
  const facts: PreparedFacts = { locked: locked !== undefined, ...(index ? { python_index: index } : {}) };
  const wheels = wheelsDir(p.rt.dir);
  const links = existsSync(wheels) ? ['--find-links', wheels] : [];
  const count = locked ? locked.packages.length : p.deps.length;
  p.log(
    `installing ${count} ${locked ? 'locked ' : ''}dependenc${count === 1 ? 'y' : 'ies'} ${source.offline ? "from the archive's wheels (offline)" : `from ${index}`}`,
  );
  const from = source.offline
    ? ['--no-index', ...links]
    : [
        '--index-url',
        source.indexes[0]!.url,
        ...source.indexes.slice(1).flatMap((i) => ['--extra-index-url', i.url]),
        ...links,
      ];
  // A lock: exactly its packages, each file checked against its hash, nothing resolved.
  const requirementsFile = join(home, 'requirements.txt');
  if (locked) writeFileSync(requirementsFile, locked.requirementsText, { mode: 0o600, flag: 'wx' });
  const what = locked ? ['--require-hashes', '--no-deps', '-r', requirementsFile] : ['--', ...p.deps];
  const args = [...from, '--only-binary', ':all:', ...what];
  const interpreter = venvPython(p.venv);
  // Run from the venvs folder (CoreService's), never from the plugin's files: uv reads a
  // pyproject.toml or uv.toml it finds where it runs.
  const cwd = dirname(p.venv);
  if (p.useUv) {
    await exec('uv', ['pip', 'install', '--no-config', '--python', interpreter, ...args], cwd, home);
    const pinned = locked?.packages.map((x) => ({ name: x.name, version: x.version }));
    return { receipt: { ...facts, ...(pinned ? { python_dependencies: pinned } : {}) } };
  }
  await exec(interpreter, ['-m', 'ensurepip', '--default-pip'], cwd, home);
  const report = join(home, 'report.json');
  const pip = ['-m', 'pip', '--isolated', 'install', '--disable-pip-version-check', '--no-cache-dir'];
  await exec(interpreter, [...pip, '--no-input', '--report', report, ...args], cwd, home);
  return { receipt: { ...facts, python_dependencies: installedFrom(report) } };
}

/** What a failed prepare throws: a lock's hash that did not match, else the installer's failure (secrets scrubbed). */
function prepareFailure(rt: PluginRuntime, err: unknown, secrets: readonly string[]): InstallError {
  if (err instanceof InstallError) return err;
  const lines = ((err as { lines?: string[] }).lines ?? []).map((l) => scrub(l, secrets));
  const message = scrub((err as Error).message, secrets);
  const mismatch = hashMismatch(lines);
  if (mismatch) {
    return new InstallError(
      'checksum-mismatch',
      `${rt.pluginId} ${rt.version}: the downloaded ${mismatch} does not match the sha256 ${UV_LOCK_FILE} pins for it; nothing of it was installed`,
      lines,
    );
  }
  return new InstallError(
    'backend-failed',
    `could not prepare the venv of ${rt.pluginId} ${rt.version}: ${message}`,
    lines,
  );
}

export class UvBackend implements Backend {
  readonly method: InstallMethod = 'uv';
  /** Runs the replicas with the venv's interpreter; the run records are its. */
  private readonly runner = new ProcessBackend({ interpreter: (rt) => venvPython(venvDir(rt)) });

  unavailable(host: HostFacts): string | undefined {
    return host.python || host.hasBinary('uv') ? undefined : 'neither uv nor python3 is installed';
  }

  readablePaths(rt: PluginRuntime): string[] {
    return [venvDir(rt)];
  }

  async prepare(rt: PluginRuntime, log: (line: string) => void): Promise<Prepared> {
    await this.runner.prepare(rt, log);
    const pyproject = fileInVersion(rt.dir, rt.entry.pyproject ?? DEFAULT_PYPROJECT);
    if (!pyproject || !existsSync(pyproject)) {
      throw new InstallError(
        'backend-failed',
        `${rt.pluginId} ${rt.version}: the uv entry's pyproject "${rt.entry.pyproject}" is not in the archive`,
      );
    }
    const deps = dependencies(rt, pyproject);
    const locked = lockOf(rt, pyproject);
    const secrets: string[] = [];
    const venv = venvDir(rt);
    rmSync(venv, { recursive: true, force: true });
    const home = mkdtempSync(join(tmpdir(), 'coreservice-venv-home-'));
    try {
      const useUv = await createVenv(rt, venv, home, log);
      // Nothing to install: nothing comes from any index.
      if (deps.length === 0 && (locked?.packages.length ?? 0) === 0)
        return { receipt: { locked: locked !== undefined, python_dependencies: [] } };
      return await installDependencies({ rt, venv, home, deps, locked, useUv, secrets, log });
    } catch (err) {
      rmSync(venv, { recursive: true, force: true });
      throw prepareFailure(rt, err, secrets);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }

  start(rt: PluginRuntime, opts: StartOptions): Promise<void> {
    return this.runner.start(rt, opts);
  }

  restartReplica(rt: PluginRuntime, replica: number, opts: StartOptions & { restarts: number }) {
    return this.runner.restartReplica(rt, replica, opts);
  }

  stop(rt: PluginRuntime, opts?: { graceMs?: number }): Promise<void> {
    return this.runner.stop(rt, opts);
  }

  status(rt: PluginRuntime): Promise<ReplicaInfo[]> {
    return this.runner.status(rt);
  }

  logs(rt: PluginRuntime, tail: number): Promise<string[]> {
    return this.runner.logs(rt, tail);
  }

  follow(rt: PluginRuntime, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void> {
    return this.runner.follow(rt, opts, onLine);
  }

  async remove(ref: VersionRef): Promise<void> {
    await this.runner.remove(ref);
    rmSync(venvDir(ref), { recursive: true, force: true });
    try {
      rmdirSync(venvsRoot(ref.home));
    } catch {
      // other versions' venvs are still there, or it is already gone
    }
  }

  async leftovers(home: string, installed?: string): Promise<string[]> {
    const run = await this.runner.leftovers(home, installed);
    const venvs = venvVersionNames(home).filter((v) => v !== installed);
    return [...new Set([...run, ...venvs])].sort();
  }
}
