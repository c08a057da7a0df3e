// The uv backend: a venv per plugin version (layout.ts: `<home>/venvs/<version>`), the pyproject's
// dependencies installed into it from the archive's own `wheels/` (never from an index: a lab may be
// air-gapped, and the hub vouches only for the archive), then run by a process backend it holds,
// given the venv's interpreter. It owns only the venv; the replicas' run records are its process
// backend's. With a `uv` binary on PATH it is used (`uv venv`, `uv pip install`); without one,
// `python3 -m venv` and pip do the same.
//
// The pyproject is the plugin author's: its dependency strings are parsed by the domain library as
// PEP 508 requirements and refused if they are anything else (an option, a URL, a path). pip and uv
// get them only after `--`, with the options CoreService chose: no index, the archive's wheels only,
// wheels only (no sdist's build script runs), no config file of the host's or the plugin's, run
// outside the plugin's files.
import { type ExecFileException, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { type InstallMethod, installRequirements } from '@magellon/hub-core';
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
import type { Backend, PluginRuntime, ReplicaInfo, StartOptions, VersionRef } from './backend';
import { readSmallFile } from './files';
import { findPython, type HostFacts, onPath } from './host';
import type { FollowOptions, LogLine } from './log-follow';
import { outputLines, withoutColour } from './output';
import { ProcessBackend } from './process';

const PREPARE_TIMEOUT_MS = 10 * 60_000;
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

  async prepare(rt: PluginRuntime, log: (line: string) => void): Promise<void> {
    await this.runner.prepare(rt, log);
    const pyproject = fileInVersion(rt.dir, rt.entry.pyproject ?? DEFAULT_PYPROJECT);
    if (!pyproject || !existsSync(pyproject)) {
      throw new InstallError(
        'backend-failed',
        `${rt.pluginId} ${rt.version}: the uv entry's pyproject "${rt.entry.pyproject}" is not in the archive`,
      );
    }
    const deps = dependencies(rt, pyproject);
    const venv = venvDir(rt);
    rmSync(venv, { recursive: true, force: true });
    const home = mkdtempSync(join(tmpdir(), 'coreservice-venv-home-'));
    try {
      const python = (await findPython())?.executable ?? 'python3';
      const useUv = onPath('uv');
      log(`creating a venv with ${useUv ? 'uv' : 'python3 -m venv'}`);
      // Run from the venvs folder (CoreService's), never from the plugin's files: uv reads a
      // pyproject.toml or uv.toml it finds where it runs.
      const cwd = dirname(venv);
      if (useUv) await exec('uv', ['venv', '--no-config', '--python', python, '--', venv], rt.home, home);
      else await exec(python, ['-m', 'venv', '--without-pip', '--', venv], rt.home, home);
      if (deps.length === 0) return;
      const wheels = wheelsDir(rt.dir);
      const links = existsSync(wheels) ? ['--find-links', wheels] : [];
      log(
        `installing ${deps.length} dependenc${deps.length === 1 ? 'y' : 'ies'} from the archive's wheels (no index)`,
      );
      const interpreter = venvPython(venv);
      const fixed = ['--no-index', ...links, '--only-binary', ':all:'];
      if (useUv) {
        await exec(
          'uv',
          ['pip', 'install', '--no-config', '--python', interpreter, ...fixed, '--', ...deps],
          cwd,
          home,
        );
      } else {
        await exec(interpreter, ['-m', 'ensurepip', '--default-pip'], cwd, home);
        await exec(
          interpreter,
          [
            '-m',
            'pip',
            '--isolated',
            'install',
            '--disable-pip-version-check',
            '--no-cache-dir',
            '--no-input',
            ...fixed,
            '--',
            ...deps,
          ],
          cwd,
          home,
        );
      }
    } catch (err) {
      rmSync(venv, { recursive: true, force: true });
      if (err instanceof InstallError) throw err;
      throw new InstallError(
        'backend-failed',
        `could not prepare the venv of ${rt.pluginId} ${rt.version}: ${(err as Error).message}`,
        (err as { lines?: string[] }).lines ?? [],
      );
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
