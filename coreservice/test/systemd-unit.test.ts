// The systemd units of process and uv replicas (src/runtime/systemd-unit.ts): the quoting against
// systemd's documented rules; every starter plugin's unit and hostile ones clean under
// `systemd-analyze verify`; and, with a real `systemd --user` (infra/systemd/user-manager.sh),
// systemd's own parser reading back the exact argv and environment, the restart policies with
// processes that really exit, a stop that takes the whole cgroup, and the hardening in force.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '@magellon/hub-core/node';
import { requireTool } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUserManager, type UserManager } from '../../infra/systemd/manager';
import {
  execLine,
  quoteExecArg,
  renderEnvironmentFile,
  renderUnit,
  replicaArgv,
  restartSetting,
  startLimit,
  type UnitInput,
  type UnitLifecycle,
  UnitRefusal,
  unitName,
  unitPath,
} from '../src/runtime/systemd-unit';
import { scratchDir } from './helpers';

const REPO = join(import.meta.dirname, '..', '..');
const PYTHON = '/usr/bin/python3';

/** A literal `${HOME}`, written so that no linter takes it for a template. */
const BRACED_HOME = ['$', '{HOME}'].join('');

/** Strings a manifest, a setting or a path could carry, each of which must reach the process unchanged. */
const HOSTILE = [
  '$(rm -rf ~)',
  '`id`',
  '$HOME',
  BRACED_HOME,
  '$$',
  '%h',
  '%%',
  '%',
  '"',
  "'",
  '\\',
  '\\"',
  'a\\',
  ' leading and trailing ',
  '',
  ';',
  '\\;',
  'tab\there',
  'bell\u0007',
  'ünïcödé ✓ 日本 🚀',
  '-',
  '@x',
  '--port=0',
];

const lifecycle = (restart_policy: UnitLifecycle['restart_policy'], restart_max_retries: number) => ({
  restart_policy,
  restart_max_retries,
});

function baseInput(dir: string, over: Partial<UnitInput> = {}): UnitInput {
  return {
    pluginId: 'fft',
    version: '1.0.0',
    replica: 0,
    argv: replicaArgv(PYTHON, 8123),
    workingDirectory: dir,
    environmentFile: join(dir, 'replica-0.env'),
    stdoutFile: join(dir, 'replica-0.out'),
    stderrFile: join(dir, 'replica-0.log'),
    lifecycle: lifecycle('on-failure', 5),
    stopGraceSeconds: 5,
    manager: 'user',
    ...over,
  };
}

const lines = (unit: string, key: string) =>
  unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

describe('systemd unit text', () => {
  it('maps every restart policy to Restart= and restart_max_retries to the start limit', () => {
    const cases: [UnitLifecycle['restart_policy'], number, string, string[], string[]][] = [
      ['no', 5, 'no', [], []],
      ['on-failure', 5, 'on-failure', ['6'], ['infinity']],
      ['on-failure', 0, 'on-failure', [], ['0']],
      ['always', 10, 'always', ['11'], ['infinity']],
      ['unless-stopped', 3, 'always', ['4'], ['infinity']],
      ['unless-stopped', 0, 'always', [], ['0']],
    ];
    for (const [policy, max, restart, burst, interval] of cases) {
      const unit = renderUnit(baseInput('/srv/p', { lifecycle: lifecycle(policy, max) }));
      expect(lines(unit, 'Restart'), policy).toEqual([restart]);
      expect(lines(unit, 'StartLimitBurst'), `${policy} ${max}`).toEqual(burst);
      expect(lines(unit, 'StartLimitIntervalSec'), `${policy} ${max}`).toEqual(interval);
      expect(restartSetting(policy)).toBe(restart);
    }
    expect(startLimit(2)).toEqual({ burst: 3, interval: 'infinity' });
    expect(() => startLimit(-1)).toThrow(UnitRefusal);
  });

  it('quotes each ExecStart= word by systemd’s documented rules', () => {
    expect(quoteExecArg('plain')).toBe('"plain"');
    expect(quoteExecArg('')).toBe('""');
    expect(quoteExecArg('a b')).toBe('"a b"');
    // Variables are expanded inside quotes too: $$ is a literal $.
    expect(quoteExecArg('$(rm -rf ~)')).toBe('"$$(rm -rf ~)"');
    expect(quoteExecArg(BRACED_HOME)).toBe(`"$${BRACED_HOME}"`);
    // Specifiers are expanded on the whole line: %% is a literal %.
    expect(quoteExecArg('%h')).toBe('"%%h"');
    // Quoted words are C-unescaped: \ and " are escaped, control characters written \xNN.
    expect(quoteExecArg('"')).toBe('"\\""');
    expect(quoteExecArg('\\')).toBe('"\\\\"');
    expect(quoteExecArg("'")).toBe('"\'"');
    expect(quoteExecArg('a\tb\u0007')).toBe('"a\\x09b\\x07"');
    expect(quoteExecArg('ü🚀')).toBe('"ü🚀"');
    expect(quoteExecArg(';')).toBe('";"');
    for (const bad of ['a\nb', 'a\rb', 'a\0b', '\ud800'])
      expect(() => quoteExecArg(bad)).toThrow(UnitRefusal);
  });

  it('refuses an executable systemd would not take as one', () => {
    for (const bad of ['python3', 'main.py', '/usr/bin/', '/a"b', "/a'b", '/a\\b', '/a$b', '/a\tb']) {
      expect(() => execLine([bad]), bad).toThrow(UnitRefusal);
    }
    expect(() => execLine([])).toThrow(UnitRefusal);
    expect(execLine(['/opt/my python/bin/python', '-c', 'x'])).toBe('"/opt/my python/bin/python" "-c" "x"');
    expect(execLine(['/opt/100%/python'])).toBe('"/opt/100%%/python"');
  });

  it('writes paths with % escaped and refuses what a path setting cannot carry', () => {
    expect(unitPath('/srv/100% data/x')).toBe('/srv/100%% data/x');
    for (const bad of ['rel/x', '/a/../b', '/a/./b', '/a//b', '/a/', '/a\nb', '/a"b', '/a\\b', '/a ']) {
      expect(() => unitPath(bad), bad).toThrow(UnitRefusal);
    }
  });

  it('names a replica’s unit with what systemd allows in a unit name', () => {
    const h = createHash('sha256').update('/srv/p/fft').digest('hex').slice(0, 8);
    expect(unitName('/srv/p/fft', 'fft', '1.0.0', 2)).toBe(`magellon-${h}-fft-1.0.0-2.service`);
    expect(unitName('/srv/p/fft', 'my_plugin', '1.0.0+build.1', 0)).toBe(
      `magellon-${h}-my_plugin-1.0.0\\x2bbuild.1-0.service`,
    );
    expect(unitName('/srv/p/fft', 'a-1', '2.0.0', 0)).toBe(`magellon-${h}-a\\x2d1-2.0.0-0.service`);
    expect(unitName('/srv/p/fft', 'a', '1-2.0.0', 0)).toBe(`magellon-${h}-a-1\\x2d2.0.0-0.service`);
    // Another plugins dir's plugin of the same id and version has a unit of its own.
    expect(unitName('/home/u/.local/share/magellon/plugins/fft', 'fft', '1.0.0', 2)).not.toBe(
      unitName('/srv/p/fft', 'fft', '1.0.0', 2),
    );
  });

  it('keeps the environment out of the unit, in single-quoted lines of an environment file', () => {
    const unit = renderUnit(baseInput('/srv/p'));
    expect(unit).not.toMatch(/^Environment=/m);
    expect(lines(unit, 'EnvironmentFile')).toEqual(['/srv/p/replica-0.env']);
    expect(renderEnvironmentFile({ A: "it's", B: '', C: 'x\ny' })).toBe(`A='it'"'"'s'\nB=''\nC='x\ny'\n`);
    expect(() => renderEnvironmentFile({ 'NOT A NAME': 'x' })).toThrow(UnitRefusal);
    expect(() => renderEnvironmentFile({ A: 'a\0b' })).toThrow(UnitRefusal);
  });

  it('runs a system manager’s replica as the plugin’s own uid, never DynamicUser', () => {
    expect(() => renderUnit(baseInput('/srv/p', { manager: 'system' }))).toThrow(UnitRefusal);
    const unit = renderUnit(baseInput('/srv/p', { manager: 'system', identity: { uid: 61234, gid: 61234 } }));
    expect(lines(unit, 'User')).toEqual(['61234']);
    expect(lines(unit, 'Group')).toEqual(['61234']);
    expect(unit).not.toMatch(/DynamicUser/);
    expect(lines(renderUnit(baseInput('/srv/p')), 'User')).toEqual([]);
  });

  it('hardens every unit and stops its whole cgroup within the stop grace', () => {
    const unit = renderUnit(
      baseInput('/srv/p', {
        manager: 'system',
        identity: { uid: 61234, gid: 61234 },
        stopGraceSeconds: 7.5,
        sandbox: {
          pluginsDir: '/srv',
          readOnly: ['/srv/p'],
          writable: ['/srv/data dir'],
          masked: ['/etc/c.yaml'],
        },
      }),
    );
    for (const [k, v] of [
      ['Type', 'exec'],
      ['KillMode', 'control-group'],
      ['TimeoutStopSec', '7500ms'],
      ['NoNewPrivileges', 'yes'],
      ['PrivateTmp', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ReadWritePaths', '"-/srv/data dir"'],
      ['ProtectHome', 'read-only'],
      ['UMask', '0077'],
      ['LockPersonality', 'yes'],
      ['RestrictSUIDSGID', 'yes'],
      ['TemporaryFileSystem', '"/srv":ro'],
      ['BindReadOnlyPaths', '"/srv/p"'],
      ['BindPaths', '"-/srv/data dir"'],
      ['InaccessiblePaths', '"-/etc/c.yaml"'],
    ]) {
      expect(lines(unit, k!), k).toEqual([v]);
    }
    // Under a user manager: the same, in a user namespace of its own.
    const user = renderUnit(
      baseInput('/srv/p', {
        sandbox: {
          pluginsDir: '/srv',
          readOnly: ['/srv/p'],
          writable: ['/srv/data dir'],
          masked: ['/etc/c.yaml'],
        },
      }),
    );
    expect(lines(user, 'ProtectSystem')).toEqual(['strict']);
    expect(lines(user, 'ReadWritePaths')).toEqual(['"-/srv/data dir"']);
    // A plugin kept under /tmp would vanish behind a private /tmp: no PrivateTmp= then.
    expect(lines(renderUnit(baseInput('/tmp/x/p')), 'PrivateTmp')).toEqual([]);
    expect(lines(renderUnit(baseInput('/var/tmp/p')), 'PrivateTmp')).toEqual([]);
    expect(lines(renderUnit(baseInput('/tmpfoo/p')), 'PrivateTmp')).toEqual(['yes']);
    expect(lines(user, 'InaccessiblePaths')).toEqual(['"-/etc/c.yaml"']);
    expect(lines(user, 'TemporaryFileSystem')).toEqual(['"/srv":ro']);
    expect(lines(user, 'PrivateUsers')).toEqual(['yes']);
    expect(lines(unit, 'PrivateUsers')).toEqual([]);
    // Without a sandbox: the data dir it is given is its only writable path.
    const bare = renderUnit(baseInput('/srv/p', { readWritePaths: ['/srv/data'] }));
    expect(lines(bare, 'ReadWritePaths')).toEqual(['"-/srv/data"']);
    expect(lines(bare, 'TemporaryFileSystem')).toEqual([]);
  });
});

describe('systemd-analyze verify', () => {
  const scratch = scratchDir('coreservice-systemd-');
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const haveAnalyze = requireTool('systemd-analyze');

  /** `systemd-analyze verify` of unit files: its exit status and everything it said. */
  function verify(files: string[]): { code: number; said: string } {
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' },
    });
    return { code: r.status ?? 1, said: `${r.stdout}${r.stderr}`.trim() };
  }

  it.runIf(haveAnalyze)('passes every starter plugin’s unit, under a user and a system manager', () => {
    const dir = join(scratch, 'starters');
    mkdirSync(dir, { recursive: true });
    const files: string[] = [];
    const plugins = readdirSync(join(REPO, 'examples', 'plugins')).filter((p) =>
      existsSync(join(REPO, 'examples', 'plugins', p, 'manifest.yaml')),
    );
    expect(plugins.length).toBeGreaterThanOrEqual(5);
    const seen = new Set<string>();
    for (const p of plugins) {
      const file = join(REPO, 'examples', 'plugins', p, 'manifest.yaml');
      const parsed = readManifest(readFileSync(file, 'utf8'), file);
      if (!parsed.ok) throw new Error(parsed.findings[0]?.message);
      const m = parsed.manifest;
      seen.add(m.lifecycle.restart_policy);
      const version = m.version;
      const home = join(dir, m.plugin_id);
      for (const manager of ['user', 'system'] as const) {
        const unit = renderUnit({
          ...baseInput(join(home, version), {
            pluginId: m.plugin_id,
            version,
            lifecycle: m.lifecycle,
            manager,
            ...(manager === 'system' ? { identity: { uid: 61200, gid: 61200 } } : {}),
            sandbox: {
              pluginsDir: dir,
              readOnly: [join(home, version)],
              writable: [join(home, 'data')],
              masked: [],
            },
          }),
        });
        const path = join(dir, `${manager}-${unitName(home, m.plugin_id, version, 0)}`);
        writeFileSync(path, unit);
        files.push(path);
      }
    }
    // The starters between them use every restart policy.
    expect([...seen].sort()).toEqual(['always', 'no', 'on-failure', 'unless-stopped']);
    const r = verify(files);
    expect(r.said).toBe('');
    expect(r.code).toBe(0);
  });

  it.runIf(haveAnalyze)('passes units whose every string is hostile', () => {
    const dir = join(scratch, 'hostile %h $HOME ü');
    mkdirSync(dir, { recursive: true });
    const files: string[] = [];
    HOSTILE.forEach((s, i) => {
      const unit = renderUnit(
        baseInput(dir, {
          pluginId: `p${i}`,
          argv: [PYTHON, s, `--x=${s}`, s],
          environmentFile: join(dir, `e ${i} %i.env`),
          sandbox: { pluginsDir: dir, readOnly: [dir], writable: [join(dir, `data $x %n ${i}`)], masked: [] },
        }),
      );
      const path = join(dir, `hostile-${i}.service`);
      writeFileSync(path, unit);
      files.push(path);
    });
    const r = verify(files);
    expect(r.said).toBe('');
    expect(r.code).toBe(0);
  });

  it.runIf(haveAnalyze)(
    'is not fooled: a unit with an unquoted word or a missing executable fails it',
    () => {
      // The check can fail: verify is not silent about what systemd refuses.
      const dir = join(scratch, 'negative');
      mkdirSync(dir, { recursive: true });
      const good = renderUnit(baseInput(dir));
      const missing = join(dir, 'missing.service');
      writeFileSync(missing, good.replace(`ExecStart="${PYTHON}"`, 'ExecStart="/nonexistent/python3"'));
      expect(verify([missing]).code).not.toBe(0);
      const garbage = join(dir, 'garbage.service');
      writeFileSync(garbage, good.replace(/^ExecStart=.*$/m, 'ExecStart="/usr/bin/python3" "unterminated'));
      expect(verify([garbage]).said).not.toBe('');
    },
  );
});

describe('units under a real systemd --user', () => {
  let mgr: UserManager | undefined;
  let scratch = '';
  beforeAll(async () => {
    mgr = await startUserManager();
    if (!mgr) return;
    // Not under /tmp (PrivateTmp= gives each unit a /tmp of its own), and the manager's user must
    // reach it.
    scratch = mkdtempSync('/var/lib/hub-sdu-');
    chmodSync(scratch, 0o755);
  }, 120_000);
  afterAll(async () => {
    await mgr?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    rmSync('/tmp/hub-sdu-host-marker', { force: true });
  }, 60_000);

  /** A folder the manager's user owns. */
  function ownDir(name: string): string {
    const d = join(scratch, name);
    mkdirSync(d, { recursive: true });
    chownSync(d, mgr!.uid, mgr!.gid);
    return d;
  }

  /** Installs a unit (and its environment file) and starts it. */
  function startUnit(name: string, input: UnitInput, env: Record<string, string> = {}): void {
    writeFileSync(input.environmentFile, renderEnvironmentFile(env), { mode: 0o600 });
    chownSync(input.environmentFile, mgr!.uid, mgr!.gid);
    writeFileSync(join(mgr!.unitDir, name), renderUnit(input));
    expect(mgr!.systemctl(['daemon-reload']).code).toBe(0);
    const r = mgr!.systemctl(['start', name]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }

  const state = (name: string) =>
    mgr!.show(name, ['ActiveState', 'SubState', 'Result', 'NRestarts', 'ExecMainStatus', 'MainPID']);

  it('runs the exact argv and environment systemd parsed from the unit, with the hardening in force', async (ctx) => {
    if (!mgr) return ctx.skip();
    const dir = ownDir('argv');
    const data = ownDir('argv-data');
    writeFileSync('/tmp/hub-sdu-host-marker', 'host');
    const script = join(dir, 'probe.py');
    writeFileSync(
      script,
      `import json, os, sys
def tries(f):
    try:
        f(); return 'ok'
    except OSError as e:
        return e.strerror
def write(p):
    with open(p, 'w') as fh: fh.write('x')
write(os.path.join(${JSON.stringify(data)}, 'made'))
status = open('/proc/self/status').read()
print(json.dumps({
  'argv': sys.argv[1:],
  'env': {k: os.environ.get(k) for k in ${JSON.stringify(HOSTILE.map((_, i) => `H${i}`))}},
  'cwd': os.getcwd(),
  'no_new_privs': [l.split()[1] for l in status.splitlines() if l.startswith('NoNewPrivs')][0],
  'data_mode': oct(os.stat(os.path.join(${JSON.stringify(data)}, 'made')).st_mode & 0o777),
  'write_etc': tries(lambda: write('/etc/hub-sdu-probe')),
  'write_dir': tries(lambda: write(${JSON.stringify(join(dir, 'probe-out'))})),
  'sees_host_tmp': os.path.exists('/tmp/hub-sdu-host-marker'),
  'mnt_ns': os.readlink('/proc/self/ns/mnt'),
  'plugins_dir': sorted(os.listdir(${JSON.stringify(scratch)})),
  'reads_masked': tries(lambda: open(${JSON.stringify(join(dir, 'config.yaml'))}).read()),
}))
`,
    );
    chmodSync(script, 0o644);
    writeFileSync(join(dir, 'config.yaml'), 'secret: 1\n', { mode: 0o644 });
    const argv = [PYTHON, script, ...HOSTILE];
    const env = Object.fromEntries(HOSTILE.map((s, i) => [`H${i}`, s]));
    env.MULTILINE = 'line 1\nline 2';
    const name = 'hub-argv.service';
    startUnit(
      name,
      baseInput(dir, {
        argv,
        lifecycle: lifecycle('no', 0),
        sandbox: {
          pluginsDir: scratch,
          readOnly: [dir],
          writable: [data],
          masked: [join(dir, 'config.yaml')],
        },
      }),
      env,
    );
    await expect.poll(() => state(name).ActiveState).toBe('inactive');
    expect(state(name).Result).toBe('success');
    const out = JSON.parse(readFileSync(join(dir, 'replica-0.out'), 'utf8'));
    expect(out.argv).toEqual(HOSTILE);
    expect(out.env).toEqual(Object.fromEntries(HOSTILE.map((s, i) => [`H${i}`, s])));
    expect(out.cwd).toBe(dir);
    expect(out.no_new_privs).toBe('1');
    expect(out.data_mode).toBe('0o600');
    expect(out.write_etc).toMatch(/Read-only file system|Permission denied/);
    // PrivateUsers=yes: the unit has namespaces of its own, so the mount hardening is in force.
    expect(out.mnt_ns).not.toBe(readlinkSync(`/proc/${mgr.pid}/ns/mnt`));
    // ProtectSystem=strict and the plugins dir's tmpfs: only the data dir is writable, not the
    // version's own files; the config file is gone; /tmp is the unit's own.
    expect(out.write_dir).toMatch(/Read-only file system/);
    expect(out.reads_masked).toMatch(/Permission denied/);
    expect(out.sees_host_tmp).toBe(false);
    // Beside its own version, nothing of the plugins dir is there.
    expect(out.plugins_dir).toEqual(['argv', 'argv-data'].sort());
  });

  /** Polls a unit until it settles, then says how it ended. */
  async function settle(name: string): Promise<Record<string, string>> {
    await expect.poll(() => state(name).ActiveState, { timeout: 30_000 }).toMatch(/^(inactive|failed)$/);
    // A restart is queued behind RestartSec: wait until nothing more happens.
    let last = JSON.stringify(state(name));
    for (;;) {
      await new Promise((r) => setTimeout(r, 800));
      const now = JSON.stringify(state(name));
      if (now === last && /"ActiveState":"(inactive|failed)"/.test(now)) return state(name);
      last = now;
    }
  }

  it('restarts a replica that exits 1 restart_max_retries times, then gives up', async (ctx) => {
    if (!mgr) return ctx.skip();
    const dir = ownDir('fail');
    const name = 'hub-fail.service';
    startUnit(
      name,
      baseInput(dir, {
        argv: [PYTHON, '-c', 'import sys; sys.stderr.write("run\\n"); sys.exit(1)'],
        lifecycle: lifecycle('on-failure', 2),
        restartSeconds: 0.1,
      }),
    );
    const s = await settle(name);
    expect(s.ActiveState).toBe('failed');
    expect(s.ExecMainStatus).toBe('1');
    // Given up: nothing more runs (systemd says start-limit-hit or the last run's exit-code).
    expect(s.Result).toMatch(/^(start-limit-hit|exit-code)$/);
    // Three runs: the first start and two restarts (stderr appends). systemd's NRestarts counts the
    // third restart it scheduled too, the one the start limit refused.
    expect(readFileSync(join(dir, 'replica-0.log'), 'utf8')).toBe('run\n'.repeat(3));
    expect(Number(s.NRestarts)).toBeGreaterThanOrEqual(2);
  });

  it('does not restart a clean exit under on-failure, and does under always', async (ctx) => {
    if (!mgr) return ctx.skip();
    const clean = ['-c', 'import sys, os; sys.stderr.write("ran\\n"); sys.exit(0)'];
    const a = ownDir('clean-onfailure');
    startUnit(
      'hub-clean-a.service',
      baseInput(a, { argv: [PYTHON, ...clean], lifecycle: lifecycle('on-failure', 3), restartSeconds: 0.1 }),
    );
    const b = ownDir('clean-always');
    startUnit(
      'hub-clean-b.service',
      baseInput(b, { argv: [PYTHON, ...clean], lifecycle: lifecycle('always', 3), restartSeconds: 0.1 }),
    );
    const sa = await settle('hub-clean-a.service');
    expect(sa.ActiveState).toBe('inactive');
    expect(Number(sa.NRestarts)).toBe(0);
    expect(readFileSync(join(a, 'replica-0.log'), 'utf8')).toBe('ran\n');
    const sb = await settle('hub-clean-b.service');
    expect(sb.ActiveState).toBe('failed');
    expect(sb.Result).toMatch(/^(start-limit-hit|success)$/);
    expect(readFileSync(join(b, 'replica-0.log'), 'utf8')).toBe('ran\n'.repeat(4));
    expect(Number(sb.NRestarts)).toBeGreaterThanOrEqual(3);
  });

  it('stops every process of the replica’s cgroup, one in a session of its own included', async (ctx) => {
    if (!mgr) return ctx.skip();
    const dir = ownDir('stop');
    const pidFile = join(dir, 'daemon.pid');
    const name = 'hub-stop.service';
    startUnit(
      name,
      baseInput(dir, {
        argv: [
          PYTHON,
          '-c',
          `import subprocess, time; p = subprocess.Popen(['sleep', '1000'], start_new_session=True); open(${JSON.stringify(pidFile)}, 'w').write(str(p.pid)); time.sleep(1000)`,
        ],
        lifecycle: lifecycle('always', 5),
        stopGraceSeconds: 2,
        sandbox: { pluginsDir: scratch, readOnly: [], writable: [dir], masked: [] },
      }),
    );
    await expect.poll(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '').toBe(true);
    const daemon = Number(readFileSync(pidFile, 'utf8'));
    const main = Number(state(name).MainPID);
    expect(main).toBeGreaterThan(0);
    expect(existsSync(`/proc/${daemon}`)).toBe(true);
    const r = mgr.systemctl(['stop', name]);
    expect(r.code).toBe(0);
    const s = state(name);
    expect(s.ActiveState).toBe('inactive');
    // Stopped by the operator: not restarted, even under always.
    expect(Number(s.NRestarts)).toBe(0);
    const gone = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] === 'Z';
      } catch {
        return true;
      }
    };
    await expect.poll(() => gone(daemon) && gone(main)).toBe(true);
  });
});
