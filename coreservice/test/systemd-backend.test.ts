// The process and uv backends with their replicas supervised by a real `systemd --user`
// (runtime/systemd.ts, infra/systemd/user-manager.sh): the whole backend contract, then what only
// systemd supervision does — systemd restarts a replica that exits by the manifest's policy and
// gives up after restart_max_retries, and CoreService's supervisor leaves such replicas alone.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startUserManager } from '../../infra/systemd/manager';
import { readConfigFile } from '../src/config';
import { InstallError } from '../src/errors';
import { backendFor } from '../src/runtime/backends';
import { ProcessBackend } from '../src/runtime/process';
import { pluginEnv } from '../src/runtime/settings';
import { applySupervisor, type SystemdManager, SystemdSupervised, systemctl } from '../src/runtime/systemd';
import { unitName } from '../src/runtime/systemd-unit';
import { UvBackend } from '../src/runtime/uv';
import { describeBackendContract, installedExample } from './backend-contract';
import { packVariant } from './fixtures';
import { CORESERVICE_BIN, scratchDir, stopAllUnder } from './helpers';

const mgr = await startUserManager();
afterAll(async () => {
  await mgr?.stop();
}, 60_000);

const manager = (): SystemdManager => ({
  scope: 'user',
  unitDir: mgr!.unitDir,
  runAs: { uid: mgr!.uid, gid: mgr!.gid },
  env: { XDG_RUNTIME_DIR: mgr!.runtimeDir, PATH: '/usr/bin:/bin', HOME: join(mgr!.stateDir, 'home') },
});

if (mgr) {
  describeBackendContract(() => new SystemdSupervised(new ProcessBackend(), manager()), {
    name: 'process under systemd --user',
    plugin: 'ctf',
    method: 'subprocess',
    needsPython: true,
    preparesVenv: false,
    pause: false,
    scale: true,
    restartsItself: true,
  });

  describeBackendContract(() => new SystemdSupervised(new UvBackend(), manager()), {
    name: 'uv under systemd --user',
    plugin: 'fft',
    method: 'uv',
    needsPython: true,
    preparesVenv: true,
    pause: false,
    scale: true,
    restartsItself: true,
  });

  describe('systemd supervision', () => {
    const scratch = scratchDir('coreservice-sdb-');
    afterAll(async () => {
      await stopAllUnder(scratch);
      rmSync(scratch, { recursive: true, force: true });
    });

    it('systemd restarts a replica that exits 1 restart_max_retries times, then it is exited', async () => {
      const backend = new SystemdSupervised(new ProcessBackend(), manager());
      expect(backend.restartsItself).toBe(true);
      const rt = installedExample(scratch, 'ctf', 'subprocess', (d) => {
        writeFileSync(join(d, 'main.py'), 'import sys\nprint("run", file=sys.stderr)\nsys.exit(1)\n');
        const m = join(d, 'manifest.yaml');
        writeFileSync(
          m,
          readFileSync(m, 'utf8').replace(
            /^lifecycle:\n( {2}.*\n)+/m,
            'lifecycle:\n  restart_policy: on-failure\n  restart_max_retries: 2\n',
          ),
        );
      });
      expect(rt.manifest.lifecycle).toEqual({ restart_policy: 'on-failure', restart_max_retries: 2 });
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      // Three runs (the first and two restarts at RestartSec=1s), then systemd gives up.
      await expect.poll(async () => (await backend.logs(rt, 10)).length, { timeout: 20_000 }).toBe(3);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await backend.logs(rt, 10)).toEqual(['run', 'run', 'run']);
      const [r] = await backend.status(rt);
      expect(r).toMatchObject({ replica: 0, state: 'exited', exit_code: 1 });
      expect(r!.restarts).toBeGreaterThanOrEqual(2);
      // Started again by the operator: the start limit is reset, so it runs again.
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      await expect.poll(async () => (await backend.logs(rt, 10)).length, { timeout: 20_000 }).toBe(6);
      await backend.remove(rt);
      expect(await backend.status(rt)).toEqual([]);
      // Its unit is gone from the manager too.
      const listed = await systemctl(manager(), ['list-unit-files', '--no-legend', 'magellon-*-ctf-*']);
      expect(listed.stdout.trim()).toBe('');
    }, 60_000);
  });

  it("coreservice --supervisor systemd, run as the manager's user: install, status, stop, uninstall drive units", async () => {
    // CoreService as an ordinary user with its own systemd --user: XDG_RUNTIME_DIR finds it.
    const work = scratchDir('coreservice-sde2e-');
    try {
      const archive = join(work, 'fft-1.0.0.mpn');
      writeFileSync(archive, await packVariant(work, 'fft', '1.0.0'));
      chmodSync(archive, 0o644);
      const dir = join(work, 'plugins');
      mkdirSync(dir);
      chownSync(dir, mgr!.uid, mgr!.gid);
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, [CORESERVICE_BIN, '--plugins-dir', dir, '--json', ...args], {
          uid: mgr!.uid,
          gid: mgr!.gid,
          cwd: work,
          encoding: 'utf8',
          timeout: 120_000,
          env: {
            PATH: '/usr/bin:/bin',
            HOME: join(mgr!.stateDir, 'home'),
            XDG_RUNTIME_DIR: mgr!.runtimeDir,
            MAGELLON_SUPERVISOR: 'systemd',
            MAGELLON_ADMIN_TOKEN: 'never-passed',
          },
        });
      const installed = cli('install-file', archive);
      expect(installed.stderr).not.toMatch(/✖/);
      expect(installed.status).toBe(0);
      const unit = unitName(join(dir, 'fft'), 'fft', '1.0.0', 0);
      const s = () => mgr!.show(unit, ['ActiveState', 'MainPID', 'FragmentPath']);
      expect(s().ActiveState).toBe('active');
      expect(s().FragmentPath).toBe(join(mgr!.unitDir, unit));
      const pid = Number(s().MainPID);
      // The unit's process is main.py's, as the manager's user, without CoreService's secrets.
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('main.py');
      expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${mgr!.uid}\\s`, 'm'));
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('ADMIN_TOKEN');
      // Its unit hides the plugins dir but for its own version, venv and data dir (the replica's view
      // of the filesystem is /proc/<pid>/root), in a user namespace of its own.
      const text = readFileSync(join(mgr!.unitDir, unit), 'utf8');
      expect(text).toMatch(/^PrivateUsers=yes$/m);
      expect(text).toContain(`TemporaryFileSystem="${dir}":ro`);
      expect(existsSync(join(dir, 'fft', 'receipt.json'))).toBe(true);
      expect(readdirSync(`/proc/${pid}/root${dir}`)).toEqual(['fft']);
      expect(readdirSync(`/proc/${pid}/root${dir}/fft`).sort()).toEqual(['1.0.0', 'data', 'venvs']);
      const status = JSON.parse(cli('status', 'fft').stdout);
      expect(status.ok).toBe(true);
      expect(JSON.stringify(status)).toContain('"running"');
      expect(cli('stop', 'fft').status).toBe(0);
      expect(s().ActiveState).toBe('inactive');
      expect(cli('uninstall', 'fft').status).toBe(0);
      expect(existsSync(join(mgr!.unitDir, unit))).toBe(false);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 180_000);

  it('supervisor: systemd makes the process and uv backends run units of the manager', async () => {
    await applySupervisor('systemd', manager());
    try {
      for (const method of ['subprocess', 'uv'] as const) {
        const b = backendFor(method);
        expect(b).toBeInstanceOf(SystemdSupervised);
        expect(b.restartsItself).toBe(true);
        expect(b.method).toBe(method);
      }
    } finally {
      await applySupervisor('coreservice');
    }
    expect(backendFor('subprocess')).toBeInstanceOf(ProcessBackend);
    expect(backendFor('subprocess').restartsItself).toBeFalsy();
  });
} else {
  it.skip('systemd --user is not available here (said above)', () => {});
}

describe('the supervisor setting', () => {
  const scratch = scratchDir('coreservice-sdcfg-');
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('is coreservice or systemd in the config file', () => {
    const file = join(scratch, 'c.yaml');
    writeFileSync(file, 'supervisor: systemd\n');
    expect(readConfigFile(file).supervisor).toBe('systemd');
    writeFileSync(file, 'supervisor: launchd\n');
    expect(() => readConfigFile(file)).toThrow(/supervisor must be coreservice or systemd/);
  });

  it('is refused when no manager answers, and then nothing changes', async () => {
    const nobody: SystemdManager = {
      scope: 'user',
      unitDir: join(scratch, 'units'),
      env: { XDG_RUNTIME_DIR: join(scratch, 'no-manager'), PATH: '/usr/bin:/bin' },
    };
    const err = await applySupervisor('systemd', nobody).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstallError);
    expect((err as InstallError).code).toBe('incompatible');
    expect((err as Error).message).toMatch(/no systemd user manager answers systemctl --user/);
    expect(backendFor('subprocess')).toBeInstanceOf(ProcessBackend);
    // Here PID 1 is not systemd: the manager CoreService as root would use does not answer either.
    if (readFileSync('/proc/1/comm', 'utf8').trim() !== 'systemd' && process.getuid?.() === 0) {
      await expect(applySupervisor('systemd')).rejects.toThrow(/no systemd system manager answers systemctl/);
    }
  });
});
