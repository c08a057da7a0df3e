// The compiled `coreservice` command against the real hub server on 127.0.0.1.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packVariant } from './fixtures';
import {
  asRoot,
  CORESERVICE_BIN,
  cleanCoreserviceEnv,
  repoHubForTests,
  runCoreservice,
  scratchDir,
} from './helpers';

const BIN = CORESERVICE_BIN;
const { scratch, hub } = repoHubForTests('cli');

const cleanEnv = cleanCoreserviceEnv;

/** Runs the CLI exactly as given (no --hub, no --plugins-dir) in `cwd` with `env`. */
const runIn = (opts: { cwd?: string; env?: NodeJS.ProcessEnv }, ...args: string[]) =>
  runCoreservice(args, opts);

/** Runs the CLI against the test hub on `dir`, without blocking this process (the hub runs in it). */
const run = (dir: string, ...args: string[]) =>
  runCoreservice(['--unsigned', '--hub', hub.url, '--plugins-dir', dir, ...args], { env: process.env });

describe('coreservice CLI', () => {
  it('installs, lists, upgrades, refuses a downgrade without the flag, uninstalls; --json everywhere', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    expect((await run(dir, 'install', 'fft@1.0.0')).code).toBe(0);
    const list = JSON.parse((await run(dir, 'list', '--json')).stdout);
    expect(list.result.map((r: { version: string }) => r.version)).toEqual(['1.0.0']);
    const up = JSON.parse((await run(dir, 'upgrade', 'fft', '--json')).stdout);
    expect(up.result.to.version).toBe('1.1.0');
    const refused = await run(dir, 'upgrade', 'fft', '--to', '1.0.0', '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'not-newer', status: 400 });
    expect((await run(dir, 'upgrade', 'fft', '--to', '1.0.0', '--force-downgrade')).code).toBe(0);
    // Uninstall keeps the data and its snapshots (the upgrades took two); --purge removes them.
    const kept = await run(dir, 'uninstall', 'fft');
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain('kept its data/ and snapshots/ for a later install');
    expect(readdirSync(join(dir, 'fft')).sort()).toEqual(['data', 'snapshots']);
    expect(JSON.parse((await run(dir, 'list', '--json')).stdout).result).toEqual([]);
    expect((await run(dir, 'uninstall', 'fft')).code).toBe(1);
    expect((await run(dir, 'uninstall', 'fft', '--purge')).code).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('exit codes: 2 for usage, 1 for a failure with a clear message', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    expect((await run(dir, 'bogus')).code).toBe(2);
    expect((await run(dir, 'install')).code).toBe(2);
    expect((await run(dir, 'install', 'fft', '--nope')).code).toBe(2);
    const missing = await run(dir, 'install', 'no-such-plugin');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no hub has a plugin "no-such-plugin"');
    const json = JSON.parse((await run(dir, 'install', 'fft@9.9.9', '--json')).stdout);
    expect(json).toMatchObject({ ok: false, error: { code: 'not-found', status: 404 } });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('two processes installing the same plugin: one wins, the other exits 3 (busy) or 1 (already installed)', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const codes = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<number | null>((resolve) => {
            const child = spawn(
              process.execPath,
              [BIN, '--unsigned', '--hub', hub.url, '--plugins-dir', dir, 'install', 'topaz'],
              { stdio: 'ignore' },
            );
            child.once('exit', resolve);
          }),
      ),
    );
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    expect([1, 3]).toContain(codes.find((c) => c !== 0));
    expect(readdirSync(dir)).toEqual(['topaz']);
  });
});

function _snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const abs = join(dir, name);
    out[relative(dir, abs)] = statSync(abs).isDirectory()
      ? 'dir'
      : createHash('sha256').update(readFileSync(abs)).digest('hex');
  }
  return out;
}

describe('running plugins from the CLI', () => {
  it('status, logs, stop, start; --method picks the backend; --json is one document', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const installed = await run(dir, 'install', 'ctf@1.0.0', '--method', 'uv', '--json');
    expect(JSON.parse(installed.stdout).result).toMatchObject({ plugin_id: 'ctf', method: 'uv' });
    const status = JSON.parse((await run(dir, 'status', 'ctf', '--json')).stdout).result;
    expect(status).toMatchObject({ plugin_id: 'ctf', state: 'running', method: 'uv' });
    expect(status.replicas[0].healthy).toBe(true);
    expect(status).toMatchObject({
      health: 'healthy',
      healthy: true,
      scale: { desired: 1, min: 1, max: 1, live: 1 },
    });
    const pid = status.replicas[0].pid;
    const text = await run(dir, 'status');
    expect(text.stdout).toMatch(/ctf 1\.0\.0 \(uv\): running, healthy; scale 1\/1 \(1\.\.1\)/);
    // No service, so no heartbeat seen: health is the probe's.
    expect(text.stdout).toContain(
      `replica 0 [${pid}]: running, healthy, no heartbeat, on 127.0.0.1:${status.replicas[0].port}, pid ${pid}`,
    );
    // Scale outside the manifest's range: the bad-request failure, naming the range; nothing changes.
    const tooMany = await run(dir, 'scale', 'ctf', '2');
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(/ctf runs between 1 and 1 replicas .*resources\.replicas.*; 2 is outside/);
    expect((await run(dir, 'scale', 'ctf', 'two')).code).toBe(2);
    const one = JSON.parse((await run(dir, 'scale', 'ctf', '1', '--json')).stdout).result;
    expect(one.replicas.map((r: { pid: number }) => r.pid)).toEqual([pid]);
    // Pause needs a backend that can freeze a plugin: the reason, and a failure exit.
    const pause = await run(dir, 'pause', 'ctf');
    expect(pause.code).toBe(1);
    expect(pause.stderr).toMatch(/ctf runs on the uv backend, which cannot pause a plugin/);
    expect((await run(dir, 'unpause', 'ctf')).stderr).toMatch(/cannot unpause/);
    const help = (await run(dir, '--help')).stdout;
    for (const cmd of ['pause <id>', 'unpause <id>', 'scale <id> <n>'])
      expect(help).toContain(`coreservice ${cmd}`);
    const logs = await run(dir, 'logs', 'ctf', '--tail', '2');
    expect(logs.code).toBe(0);
    expect(logs.stdout.trim().split('\n')).toHaveLength(2);
    expect(JSON.parse((await run(dir, 'stop', 'ctf', '--json')).stdout).result.state).toBe('stopped');
    expect(JSON.parse((await run(dir, 'start', 'ctf', '--json')).stdout).result.state).toBe('running');
    const none = await run(dir, 'install', 'fft', '--method', 'slurm', '--json');
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout).error).toMatchObject({ code: 'incompatible', status: 422 });
    expect((await run(dir, 'uninstall', 'ctf', '--purge')).code).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('install --no-start: installed and prepared, stopped until start', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const r = await run(dir, 'install', 'fft@1.0.0', '--no-start', '--json');
    expect(JSON.parse(r.stdout).result).toMatchObject({ plugin_id: 'fft', version: '1.0.0' });
    const stopped = JSON.parse((await run(dir, 'status', 'fft', '--json')).stdout).result;
    expect(stopped).toMatchObject({ state: 'stopped', desired: 'stopped', replicas: [] });
    expect(JSON.parse((await run(dir, 'start', 'fft', '--json')).stdout).result.state).toBe('running');
    expect((await run(dir, 'uninstall', 'fft')).code).toBe(0);
  }, 60_000);

  it('doctor removes an upload body the service left, once nobody has written it for ten minutes', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const uploads = join(dir, '.uploads');
    mkdirSync(uploads);
    writeFileSync(join(uploads, 'old.mpn'), 'x');
    writeFileSync(join(uploads, 'fresh.mpn'), 'y');
    const past = new Date(Date.now() - 11 * 60_000);
    utimesSync(join(uploads, 'old.mpn'), past, past);
    const r = JSON.parse((await run(dir, 'doctor', '--json')).stdout).result;
    expect(r.removed.map((x: { path: string }) => x.path)).toEqual(['.uploads/old.mpn']);
    expect(readdirSync(uploads)).toEqual(['fresh.mpn']);
  });

  it('a garbled receipt or run record is named by status and doctor, and nothing is done to it', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    expect((await run(dir, 'install', 'fft@1.0.0')).code).toBe(0);
    const receipt = join(dir, 'fft', 'receipt.json');
    const good = readFileSync(receipt, 'utf8');
    const before = readdirSync(join(dir, 'fft')).sort();

    // The receipt: status of the plugin is a clear error naming the file, never a crash.
    writeFileSync(receipt, '{"plugin_id": "fft", "version": ');
    const one = await run(dir, 'status', 'fft', '--json');
    expect(one.code).toBe(1);
    const err = JSON.parse(one.stdout).error;
    expect(err).toMatchObject({ code: 'unreadable-record', status: 500 });
    expect(err.message).toContain(`unreadable record ${receipt}: it is not JSON`);
    const text = await run(dir, 'status', 'fft');
    expect(text.stderr).toContain(`✖ fft: unreadable record ${receipt}`);
    // All plugins: the others' status, and this one named.
    const all = await run(dir, 'status', '--json');
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({
      result: [],
      unreadable: [{ plugin_id: 'fft', problem: expect.stringContaining(`unreadable record ${receipt}`) }],
    });
    expect((await run(dir, 'status')).stdout).toContain(`⚠ fft: unreadable record ${receipt}`);
    // A receipt of another plugin is as unreadable as a torn one.
    writeFileSync(receipt, good.replace('"plugin_id": "fft"', '"plugin_id": "ctf"'));
    expect(JSON.parse((await run(dir, 'status', 'fft', '--json')).stdout).error.message).toContain(
      'it names the plugin ctf, not fft',
    );
    // doctor names it and leaves the plugin exactly as it is (it removes a plugin with no receipt).
    const doc = await run(dir, 'doctor', '--json');
    expect(doc.code).toBe(0);
    expect(JSON.parse(doc.stdout).result).toMatchObject({
      removed: [],
      unreadable: [{ path: 'fft/receipt.json', why: 'it names the plugin ctf, not fft' }],
    });
    expect((await run(dir, 'doctor')).stdout).toContain('⚠ unreadable record fft/receipt.json');
    expect(readdirSync(join(dir, 'fft')).sort()).toEqual(before);
    writeFileSync(receipt, good);

    // A run record: the replica is unknown, and status and doctor say which file and why.
    const record = join(dir, 'fft', 'run', '1.0.0', 'replica-0.json');
    const kept = readFileSync(record, 'utf8');
    writeFileSync(record, JSON.stringify({ ...JSON.parse(kept), pid: -3 }));
    const status = JSON.parse((await run(dir, 'status', 'fft', '--json')).stdout).result;
    expect(status.replicas).toMatchObject([{ replica: 0, state: 'unknown' }]);
    expect(status.problems).toEqual([expect.stringMatching(/^unreadable record .*replica-0\.json: pid: /)]);
    expect((await run(dir, 'status', 'fft')).stdout).toMatch(
      /replica 0: unknown, unhealthy, no heartbeat\n {2}⚠ unreadable record /,
    );
    const doc2 = JSON.parse((await run(dir, 'doctor', '--json')).stdout).result;
    expect(doc2.removed).toEqual([]);
    expect(doc2.unreadable).toMatchObject([{ path: 'fft/run/1.0.0/replica-0.json' }]);
    writeFileSync(record, kept);
    expect(JSON.parse((await run(dir, 'status', 'fft', '--json')).stdout).result).toMatchObject({
      state: 'running',
      problems: [],
    });
    expect((await run(dir, 'uninstall', 'fft')).code).toBe(0);
  }, 60_000);

  it('a relative --plugins-dir works from any working dir', async () => {
    const cwd = scratchDir('cwd-', scratch);
    const code = await new Promise<number | null>((resolve) => {
      const c = spawn(
        process.execPath,
        [BIN, '--unsigned', '--hub', hub.url, '--plugins-dir', 'rel/plugins', 'install', 'fft@1.0.0'],
        { cwd, stdio: 'ignore' },
      );
      c.once('exit', resolve);
    });
    expect(code).toBe(0);
    expect(readdirSync(join(cwd, 'rel', 'plugins', 'fft')).sort()).toContain('receipt.json');
  }, 60_000);

  it('--config: registries with trust modes; --trust verified-only on --hub', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const cfg = join(dir, '..', `cfg-${Date.now()}.yaml`);
    writeFileSync(
      cfg,
      `registries:\n  - url: ${hub.url}\n    trust: allow-list\n    allow: [fft]\n    unsigned: true\n`,
    );
    const child = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const c = spawn(process.execPath, [BIN, '--plugins-dir', dir, '--config', cfg, ...args], {
          env: { ...process.env, MAGELLON_HUB_URL: '' },
        });
        let stdout = '';
        c.stdout.on('data', (d: Buffer) => {
          stdout += d;
        });
        c.once('close', (code) => resolve({ code, stdout }));
      });
    const refused = await child(['install', 'topaz', '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'untrusted', status: 403 });
    const strict = await run(dir, 'install', 'topaz', '--trust', 'verified-only', '--json');
    expect(JSON.parse(strict.stdout).error.code).toBe('untrusted');
    expect((await run(dir, 'install', 'topaz', '--trust', 'nonsense')).code).toBe(2);
    writeFileSync(cfg, 'registries: [oops');
    const bad = await child(['list']);
    expect(bad.code).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);

  it('serve: without MAGELLON_ADMIN_TOKEN it makes one, keeps it 0600, and never prints it', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const env = { ...process.env };
    delete env.MAGELLON_ADMIN_TOKEN;
    const child = spawn(
      process.execPath,
      [BIN, '--unsigned', '--hub', hub.url, '--plugins-dir', dir, 'serve', '--port', '0'],
      { env },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const url = await new Promise<string>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
    });
    const tokenFile = join(dir, '.admin-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    const res = await fetch(`${url}/admin/plugins`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect((await fetch(`${url}/admin/plugins`)).status).toBe(401);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    expect(out + err).not.toContain(token);
    expect(out).toContain('.admin-token');
  }, 30_000);
});

describe('which plugins dir: every command says which and why', () => {
  it('flag, environment, config file, .magellon/ pointer, .magellon/plugins, XDG, the default: in text and --json', async () => {
    const base = scratchDir('where-', scratch);
    const cwd = join(base, 'a', 'b');
    mkdirSync(cwd, { recursive: true });
    const where = async (env: Record<string, string>, ...args: string[]) => {
      const r = await runIn({ cwd, env: cleanEnv(env) }, 'list', '--json', ...args);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).plugins_dir;
    };
    // Nothing says where: the per-user default (root's is /var/lib/magellon/plugins), or XDG's.
    expect(await where({})).toEqual(
      asRoot
        ? { path: '/var/lib/magellon/plugins', source: 'root-default', from: 'the default for root' }
        : {
            path: join(process.env.HOME || homedir(), '.local/share/magellon/plugins'),
            source: 'user-default',
            from: 'the per-user default',
          },
    );
    expect(await where({ XDG_DATA_HOME: join(base, 'xdg') })).toEqual({
      path: join(base, 'xdg', 'magellon', 'plugins'),
      source: 'xdg',
      from: '$XDG_DATA_HOME',
    });
    // A .magellon/ above the current dir (as npm start makes it) beats them.
    const local = join(base, '.magellon', 'plugins');
    mkdirSync(local, { recursive: true });
    expect(await where({ XDG_DATA_HOME: join(base, 'xdg') })).toEqual({
      path: local,
      source: 'magellon',
      from: `.magellon/ in ${base}`,
    });
    const status = await runIn({ cwd }, 'status');
    expect(status.stdout).toBe(`✔ no plugins installed in ${local} (from .magellon/ in ${base})\n`);
    writeFileSync(join(base, '.magellon', 'plugins-dir'), `${join(base, 'moved')}\n`);
    expect(await where({})).toEqual({
      path: join(base, 'moved'),
      source: 'magellon-pointer',
      from: `.magellon/plugins-dir in ${base}`,
    });
    // The config file beats .magellon/ (its plugins_dir is relative to the file), the environment
    // beats the config file, the flag beats everything.
    const cfg = join(base, 'etc', 'coreservice.yaml');
    mkdirSync(join(base, 'etc'));
    writeFileSync(cfg, 'plugins_dir: ../from-config\n');
    expect(await where({ MAGELLON_CORESERVICE_CONFIG: cfg })).toEqual({
      path: join(base, 'from-config'),
      source: 'config',
      from: `plugins_dir in ${cfg}`,
    });
    expect(
      await where({ MAGELLON_CORESERVICE_CONFIG: cfg, MAGELLON_PLUGINS_DIR: join(base, 'from-env') }),
    ).toEqual({ path: join(base, 'from-env'), source: 'env', from: '$MAGELLON_PLUGINS_DIR' });
    expect(
      await where(
        { MAGELLON_CORESERVICE_CONFIG: cfg, MAGELLON_PLUGINS_DIR: join(base, 'from-env') },
        '--plugins-dir',
        'rel',
      ),
    ).toEqual({ path: join(cwd, 'rel'), source: 'flag', from: '--plugins-dir' });
    const text = await runIn({ cwd }, 'doctor', '--plugins-dir', 'rel');
    expect(text.stdout.split('\n')[0]).toBe(`plugins dir: ${join(cwd, 'rel')} (from --plugins-dir)`);
  });

  it('a FIFO or an oversized .magellon/plugins-dir is refused at once, naming it', async () => {
    const base = scratchDir('pointer-', scratch);
    const file = join(base, '.magellon', 'plugins-dir');
    mkdirSync(join(base, '.magellon'));
    execFileSync('mkfifo', [file]);
    // No writer ever opens the FIFO: a reader that waited for one would hang until the timeout.
    const fifo = await runIn({ cwd: base }, 'status');
    expect(fifo.code).toBe(1);
    expect(fifo.stderr).toContain(`✖ ${file} is refused: it is a FIFO, not a regular file`);
    const json = await runIn({ cwd: base }, 'list', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error).toMatchObject({
      code: 'bad-request',
      message: expect.stringContaining(`${file} is refused`),
    });
    rmSync(file);
    writeFileSync(file, `/${'x'.repeat(10_000)}\n`);
    const big = await runIn({ cwd: base }, 'status');
    expect(big.code).toBe(1);
    expect(big.stderr).toContain(`✖ ${file} is refused: it is 10002 bytes, over 4096`);
  });
});

describe('CLI rough edges', () => {
  it('--version and -v print the version; an unknown option is a usage error with balanced quotes', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-v']) {
      const r = await runIn({}, flag);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, `${version}\n`, '']);
    }
    expect(JSON.parse((await runIn({}, '--version', '--json')).stdout).result).toEqual({ version });
    expect((await runIn({}, '--help')).stdout).toContain('-v, --version');
    const bad = await runIn({}, 'list', '--nope');
    expect(bad.code).toBe(2);
    const first = bad.stderr.split('\n')[0]!;
    expect(first).toBe('✖ unknown option "--nope"');
    for (const quote of [`'`, '"']) expect(first.split(quote).length % 2).toBe(1);
  });

  it('upgrade at the latest version says it is up to date and exits 0; upgrades marks pre-releases', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    expect((await run(dir, 'install', 'fft', '--no-start')).code).toBe(0);
    const same = await run(dir, 'upgrade', 'fft');
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain('✔ fft 1.1.0 is up to date\n');
    const json = await run(dir, 'upgrade', 'fft', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).result).toMatchObject({
      up_to_date: true,
      from: { version: '1.1.0' },
      to: { version: '1.1.0' },
    });
    const list = await run(dir, 'upgrades', 'fft');
    expect(list.stdout).toMatch(/^ {2}1\.2\.0-rc\.1 +upgrade \(pre-release\)$/m);
    expect(list.stdout).toMatch(/^ {2}1\.1\.0 +same$/m);
    const versions = JSON.parse((await run(dir, 'upgrades', 'fft', '--json')).stdout).result.versions;
    expect(versions.map((v: { version: string; prerelease: boolean }) => [v.version, v.prerelease])).toEqual([
      ['1.2.0-rc.1', true],
      ['1.1.0', false],
      ['1.0.0', false],
    ]);
    expect((await run(dir, 'uninstall', 'fft')).code).toBe(0);
  }, 60_000);

  it("a failing dependency install shows the tool's output as separate lines, each escaped", async () => {
    const work = scratchDir('uv-fails-', scratch);
    const archive = join(work, 'fft-9.0.0.mpn');
    writeFileSync(
      archive,
      await packVariant(work, 'fft', '9.0.0', (d) => {
        const p = join(d, 'pyproject.toml');
        writeFileSync(
          p,
          readFileSync(p, 'utf8').replace('dependencies = []', 'dependencies = ["numpy>=1.26"]'),
        );
      }),
    );
    // A uv that makes venvs but, asked to install, prints several lines (one coloured) and then
    // exits with a status, or is killed by a signal.
    const fakeUv = (end: string) => {
      const bin = join(work, `bin-${end.split(' ')[0]}`);
      mkdirSync(bin);
      writeFileSync(
        join(bin, 'uv'),
        `#!/bin/sh
if [ "$1" = venv ]; then shift; while [ $# -gt 1 ]; do shift; done; exec python3 -m venv --without-pip "$1"; fi
printf 'Resolving dependencies\\n\\033[31merror\\033[0m: no wheel for numpy\\n  hint: add one to wheels/\\n' >&2
${end}
`,
      );
      chmodSync(join(bin, 'uv'), 0o755);
      return bin;
    };
    const dir = mkdtempSync(join(scratch, 'p-'));
    for (const [end, how] of [
      ['exit 1', 'exit status 1): error: no wheel for numpy'],
      ['kill -KILL $$', 'ended by SIGKILL): error: no wheel for numpy'],
    ] as const) {
      const env = cleanEnv({ PATH: `${fakeUv(end)}:${process.env.PATH}` });
      const r = await runIn({ env }, '--plugins-dir', dir, 'install-file', archive);
      expect(r.code).toBe(1);
      const lines = r.stderr.split('\n');
      const at = lines.findIndex((l) => l.startsWith('✖ '));
      expect(lines[at]).toBe(`✖ could not prepare the venv of fft 9.0.0: uv pip install failed (${how}`);
      expect(lines.slice(at + 1, at + 4)).toEqual([
        '  Resolving dependencies',
        '  \\e[31merror\\e[0m: no wheel for numpy',
        '    hint: add one to wheels/',
      ]);
      expect(r.stderr).not.toContain('\x1b');
      expect(r.stderr).not.toContain('\\n');
      const json = await runIn({ env }, '--plugins-dir', dir, 'install-file', archive, '--json');
      expect(JSON.parse(json.stdout).error.details).toEqual([
        'Resolving dependencies',
        '\x1b[31merror\x1b[0m: no wheel for numpy',
        '  hint: add one to wheels/',
      ]);
      expect(readdirSync(dir).filter((n) => !n.startsWith('.'))).toEqual([]);
    }
  }, 120_000);

  it('status shows the settings the plugin was started with (secrets masked), not the caller’s environment', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const started = cleanEnv({
      MAGELLON_PLUGIN_FFT_COLOUR: 'blue',
      MAGELLON_PLUGIN_FFT_API_TOKEN: 'tok-s3cret',
      MAGELLON_PLUGIN_FFT_SSH_KEY: 'key-s3cret',
    });
    const inst = await runIn(
      { env: started },
      '--unsigned',
      '--hub',
      hub.url,
      '--plugins-dir',
      dir,
      'install',
      'fft@1.0.0',
    );
    expect(inst.code, inst.stderr).toBe(0);
    // Another shell: other values, no secrets.
    const other = cleanEnv({
      MAGELLON_PLUGIN_FFT_COLOUR: 'not-blue',
      MAGELLON_PLUGIN_FFT_EXTRA: 'extra-value',
    });
    const json = await runIn({ env: other }, '--plugins-dir', dir, 'status', 'fft', '--json');
    const status = JSON.parse(json.stdout).result;
    expect(status.settings).toEqual([
      { key: 'api_token', value: '***', from: 'env' },
      { key: 'colour', value: 'blue', from: 'env' },
      { key: 'data_dir', value: join(dir, 'fft', 'data'), from: 'default' },
      { key: 'log_level', value: 'info', from: 'default' },
      { key: 'ssh_key', value: '***', from: 'env' },
    ]);
    expect(status.settings_from).toMatchObject({ replica: 0, started_at: status.replicas[0].started_at });
    expect(status.environment).toMatchObject({
      MAGELLON_PLUGIN_FFT_COLOUR: 'blue',
      MAGELLON_PLUGIN_FFT_API_TOKEN: '***',
      MAGELLON_PLUGIN_FFT_SSH_KEY: '***',
      MAGELLON_REPLICA_ID: 'fft-0',
    });
    const text = await runIn({ env: other }, '--plugins-dir', dir, 'status');
    expect(text.stdout).toContain('    colour = blue (environment)\n');
    expect(text.stdout).toContain('    api_token = *** (environment)\n');
    expect(text.stdout).toContain('    ssh_key = *** (environment)\n');
    for (const out of [json.stdout, text.stdout]) {
      expect(out).not.toMatch(/s3cret|not-blue|extra/);
    }
    // The record on disk holds no secret either.
    const record = readFileSync(join(dir, 'fft', 'run', '1.0.0', 'replica-0.json'), 'utf8');
    expect(record).not.toContain('s3cret');
    expect((await runIn({}, '--plugins-dir', dir, 'uninstall', 'fft')).code).toBe(0);
  }, 60_000);

  it('serve: heartbeat requests are logged only at --log-level debug, and never with their secret', async () => {
    const stderrOf = async (level: string[]) => {
      const dir = mkdtempSync(join(scratch, 'p-'));
      const env = cleanEnv({ MAGELLON_ADMIN_TOKEN: 'test-admin-token-0123456789abcdefXYZ' });
      const child = spawn(
        process.execPath,
        [BIN, '--unsigned', '--hub', hub.url, '--plugins-dir', dir, 'serve', '--port', '0', ...level],
        { env },
      );
      let out = '';
      let err = '';
      const seen = (re: RegExp) =>
        new Promise<RegExpExecArray>((resolve) => {
          const check = () => {
            const m = re.exec(out + err);
            if (m) resolve(m);
          };
          child.stdout.on('data', (d: Buffer) => {
            out += d;
            check();
          });
          child.stderr.on('data', (d: Buffer) => {
            err += d;
            check();
          });
        });
      const url = (await seen(/listening on (http:\/\/\S+)/))[1]!;
      const beat = await fetch(`${url}/internal/heartbeat/the-beat-secret`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ plugin_id: 'fft', replica_id: 'fft-0' }),
      });
      expect(beat.status).toBe(401);
      // The access line of a later request: every line before it has been written.
      const health = seen(/"path":"\/health"/);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      await health;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      return err;
    };
    const quiet = await stderrOf([]);
    expect(quiet).toContain('"msg":"plugins dir"');
    expect(quiet).not.toContain('heartbeat');
    const debug = await stderrOf(['--log-level', 'debug']);
    expect(debug).toContain('"path":"/internal/heartbeat/…","status":401');
    expect(debug).not.toContain('the-beat-secret');
    const wrong = await runIn({}, '--plugins-dir', scratch, 'serve', '--log-level', 'loud');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('--log-level takes error, warn, info or debug');
  }, 60_000);
});
