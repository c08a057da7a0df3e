// A private systemd user manager for tests (infra/systemd/user-manager.sh): started in a state dir
// of its own as a throwaway system user, driven with `systemctl --user` run as that user. When it
// cannot run here it says so in one loud line (`SKIPPED: …`) and resolves to undefined; under
// HUB_REQUIRE_ALL=1 (CI) it throws instead. HUB_ENGINES_UNAVAILABLE=systemd (or `all`) makes it
// unavailable on purpose.

import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';

const SCRIPT = join(import.meta.dirname, 'user-manager.sh');

export interface UserManager {
  /** XDG_RUNTIME_DIR of the manager: `systemctl --user` finds it through this. */
  runtimeDir: string;
  /** Where unit files go (`<runtimeDir>/systemd/user`, in the manager's search path). */
  unitDir: string;
  /** The manager's user: units run as it, and the files they use must be its to read. */
  uid: number;
  gid: number;
  /** The manager's PID. */
  pid: number;
  stateDir: string;
  /** Runs `systemctl --user <args>` as the manager's user; never throws. */
  systemctl(args: string[]): { code: number; stdout: string; stderr: string };
  /** `systemctl --user show <unit> -p …` as an object. */
  show(unit: string, props: string[]): Record<string, string>;
  /** Stops the manager by its PID (it stops its units), removes its cgroups and the state dir. */
  stop(): Promise<void>;
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(SCRIPT, args, { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const lastLine = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .at(-1) ?? '';

/** Starts a private `systemd --user`, or says loudly why not (see the file's header). */
export async function startUserManager(): Promise<UserManager | undefined> {
  const what = 'systemd user manager tests';
  const off = (process.env.HUB_ENGINES_UNAVAILABLE ?? '').split(',').map((s) => s.trim());
  if (off.includes('systemd') || off.includes('all')) {
    skipLoudly(what, 'HUB_ENGINES_UNAVAILABLE makes the systemd user manager unavailable');
    return undefined;
  }
  // Short: the manager's unix sockets live under it.
  const stateDir = mkdtempSync(join(tmpdir(), 'hub-sd-'));
  const started = await run(['start', stateDir]);
  const runtimeDir = lastLine(started.stdout);
  if (started.code !== 0 || !runtimeDir.endsWith('/run')) {
    await run(['stop', stateDir]);
    rmSync(stateDir, { recursive: true, force: true });
    skipLoudly(
      what,
      `a systemd user manager could not be started: ${lastLine(started.stderr) || `exit ${started.code}`}`,
    );
    return undefined;
  }
  const user = process.env.HUB_SYSTEMD_USER || 'hub-systemd';
  const id = (flag: string) => Number(spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  const systemctl = (args: string[]) => {
    const r = spawnSync('systemctl', ['--user', '--no-pager', ...args], {
      uid,
      gid,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: '/usr/bin:/bin', XDG_RUNTIME_DIR: runtimeDir, HOME: join(stateDir, 'home') },
    });
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr || r.error?.message || '' };
  };
  let stopped: Promise<void> | undefined;
  return {
    runtimeDir,
    unitDir: join(runtimeDir, 'systemd', 'user'),
    uid,
    gid,
    pid: Number(readFileSync(join(stateDir, 'manager.pid'), 'utf8').trim()),
    stateDir,
    systemctl,
    show(unit, props) {
      const r = systemctl(['show', unit, ...props.flatMap((p) => ['-p', p])]);
      return Object.fromEntries(
        r.stdout
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
    },
    stop() {
      stopped ??= (async () => {
        const r = await run(['stop', stateDir]);
        if (r.code !== 0) throw new Error(`user-manager.sh stop failed: ${lastLine(r.stderr)}`);
        rmSync(stateDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
