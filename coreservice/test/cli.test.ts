// The compiled `coreservice` command against the real hub server on 127.0.0.1.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoHubForTests, scratchDir } from './helpers';

const BIN = join(import.meta.dirname, '..', 'bin', 'coreservice.js');
const { scratch, hub } = repoHubForTests('cli');

/** Runs the CLI without blocking this process (the hub it talks to runs in this process). */
const run = (dir: string, ...args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, '--hub', hub.url, '--plugins-dir', dir, ...args], {
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });

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
    expect((await run(dir, 'uninstall', 'fft')).code).toBe(0);
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
              [BIN, '--hub', hub.url, '--plugins-dir', dir, 'install', 'topaz'],
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
    const text = await run(dir, 'status');
    expect(text.stdout).toMatch(/ctf 1\.0\.0 \(uv\): running/);
    expect(text.stdout).toMatch(/replica 0: running, healthy on 127\.0\.0\.1:\d+/);
    const logs = await run(dir, 'logs', 'ctf', '--tail', '2');
    expect(logs.code).toBe(0);
    expect(logs.stdout.trim().split('\n')).toHaveLength(2);
    expect(JSON.parse((await run(dir, 'stop', 'ctf', '--json')).stdout).result.state).toBe('stopped');
    expect(JSON.parse((await run(dir, 'start', 'ctf', '--json')).stdout).result.state).toBe('running');
    const none = await run(dir, 'install', 'fft', '--method', 'slurm', '--json');
    expect(none.code).toBe(1);
    expect(JSON.parse(none.stdout).error).toMatchObject({ code: 'incompatible', status: 422 });
    expect((await run(dir, 'uninstall', 'ctf')).code).toBe(0);
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

  it('a relative --plugins-dir works from any working dir', async () => {
    const cwd = scratchDir('cwd-', scratch);
    const code = await new Promise<number | null>((resolve) => {
      const c = spawn(
        process.execPath,
        [BIN, '--hub', hub.url, '--plugins-dir', 'rel/plugins', 'install', 'fft@1.0.0'],
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
    writeFileSync(cfg, `registries:\n  - url: ${hub.url}\n    trust: allow-list\n    allow: [fft]\n`);
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
      [BIN, '--hub', hub.url, '--plugins-dir', dir, 'serve', '--port', '0'],
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
