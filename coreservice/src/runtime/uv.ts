// The uv backend: a venv per plugin version under `<home>/venvs/<version>`, the pyproject's
// dependencies installed into it from the archive's own `wheels/` (never from an index: a lab may be
// air-gapped, and the hub vouches only for the archive), then run like the process backend with the
// venv's interpreter. With a `uv` binary on PATH it is used (`uv venv`, `uv pip install`); without
// one, `python3 -m venv` and pip do the same with --no-index.
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { InstallError } from '../errors';
import type { PluginRuntime } from './backend';
import { findPython, type HostFacts, onPath } from './host';
import { ProcessBackend } from './process';

const PREPARE_TIMEOUT_MS = 10 * 60_000;

export const venvDir = (rt: Pick<PluginRuntime, 'home' | 'version'>) => join(rt.home, 'venvs', rt.version);

function exec(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((res, rej) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout: PREPARE_TIMEOUT_MS,
        maxBuffer: 8 * 1024 * 1024,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, PIP_NO_INPUT: '1' },
      },
      (err, stdout, stderr) => {
        if (err) {
          const tail = `${stdout}${stderr}`.trim().split('\n').slice(-12).join('\n');
          rej(
            new Error(
              `${cmd} ${args[0]} ${args[1] ?? ''} failed (${(err as NodeJS.ErrnoException).code ?? err.message})${tail ? `:\n${tail}` : ''}`,
            ),
          );
        } else res(`${stdout}${stderr}`);
      },
    );
  });
}

/** The pyproject's [project].dependencies, read with Python's own TOML reader. */
async function dependencies(python: string, pyproject: string, cwd: string): Promise<string[]> {
  const out = await exec(
    python,
    [
      '-c',
      'import json,sys,tomllib\nwith open(sys.argv[1],"rb") as f: d=tomllib.load(f)\nprint(json.dumps(d.get("project",{}).get("dependencies",[])))',
      pyproject,
    ],
    cwd,
  );
  const deps = JSON.parse(out.trim().split('\n').pop() ?? '[]') as unknown;
  if (!Array.isArray(deps) || !deps.every((d) => typeof d === 'string')) {
    throw new Error(`${relative(cwd, pyproject)}: [project].dependencies is not a list of strings`);
  }
  return deps as string[];
}

export class UvBackend extends ProcessBackend {
  override readonly method = 'uv' as const;

  override unavailable(host: HostFacts): string | undefined {
    return host.python || host.hasBinary('uv') ? undefined : 'neither uv nor python3 is installed';
  }

  protected override async interpreter(rt: PluginRuntime): Promise<string> {
    return join(venvDir(rt), 'bin', 'python');
  }

  override async prepare(rt: PluginRuntime, log: (line: string) => void): Promise<void> {
    await super.prepare(rt, log);
    const pyproject = resolve(rt.dir, rt.entry.pyproject ?? 'pyproject.toml');
    if (!pyproject.startsWith(rt.dir + sep) || !existsSync(pyproject)) {
      throw new InstallError(
        'backend-failed',
        `${rt.pluginId} ${rt.version}: the uv entry's pyproject "${rt.entry.pyproject}" is not in the archive`,
      );
    }
    const venv = venvDir(rt);
    rmSync(venv, { recursive: true, force: true });
    try {
      const python = (await findPython())?.executable ?? 'python3';
      const useUv = onPath('uv');
      log(`creating a venv with ${useUv ? 'uv' : 'python3 -m venv'}`);
      // Reading the dependencies and creating the venv are independent: both at once. The venv
      // starts without pip; pip is added only when there is something to install.
      const [read, made] = await Promise.allSettled([
        dependencies(python, pyproject, rt.dir),
        useUv
          ? exec('uv', ['venv', '--python', python, venv], rt.dir)
          : exec(python, ['-m', 'venv', '--without-pip', venv], rt.dir),
      ]);
      if (read.status === 'rejected') throw read.reason;
      if (made.status === 'rejected') throw made.reason;
      const deps = read.value;
      const wheels = join(rt.dir, 'wheels');
      const links = existsSync(wheels) ? ['--find-links', wheels] : [];
      if (deps.length > 0) {
        log(
          `installing ${deps.length} dependenc${deps.length === 1 ? 'y' : 'ies'} from the archive's wheels (no index)`,
        );
        const venvPython = await this.interpreter(rt);
        if (!useUv) await exec(venvPython, ['-m', 'ensurepip', '--default-pip'], rt.dir);
        if (useUv)
          await exec(
            'uv',
            ['pip', 'install', '--python', venvPython, '--no-index', ...links, ...deps],
            rt.dir,
          );
        else
          await exec(
            venvPython,
            ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-index', ...links, ...deps],
            rt.dir,
          );
      }
    } catch (err) {
      rmSync(venv, { recursive: true, force: true });
      if (err instanceof InstallError) throw err;
      throw new InstallError(
        'backend-failed',
        `could not prepare the venv of ${rt.pluginId} ${rt.version}: ${(err as Error).message}`,
      );
    }
  }

  override async remove(rt: PluginRuntime): Promise<void> {
    await super.remove(rt);
    rmSync(venvDir(rt), { recursive: true, force: true });
  }
}
