// `hub serve` as a user runs it: the compiled CLI in its own process, stopped by signal.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HUB_BIN, REPO_ROOT, runHub } from './run-hub';

const scratch = mkdtempSync(join(tmpdir(), 'hub-serve-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts `hub serve …` and waits for its URL line (or its exit). */
function startServe(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [HUB_BIN, 'serve', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hub serve did not start in 60 s:\n${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /serving the hub at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`hub serve exited ${code}:\n${out}`), { code, out }));
    });
  });
}

describe('hub serve', () => {
  it('validates, builds and serves the catalog from several processes, and stops cleanly on SIGTERM', async () => {
    const s = await startServe(['catalog', '--port', '0', '--workers', '2']);
    expect(s.output()).toContain('(2 processes)');
    const index = await fetch(`${s.url}/v1/index.json`);
    expect(index.status).toBe(200);
    expect(((await index.json()) as { plugins: unknown[] }).plugins.length).toBeGreaterThan(0);
    const archive = await fetch(`${s.url}/assets/plugins/fft-1.1.0.mpn`);
    expect(archive.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/);
    await archive.arrayBuffer();
    // Without --site, / and /favicon.ico are the API's: JSON 404s, no redirect.
    for (const path of ['/', '/favicon.ico', '/plugins/']) {
      const r = await fetch(`${s.url}${path}`, { redirect: 'manual' });
      expect(r.status, path).toBe(404);
      expect(r.headers.get('content-type'), path).toContain('application/json');
      await r.arrayBuffer();
    }
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toContain('stopped');
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });

  it('serves an existing build with --build', async () => {
    const out = join(scratch, 'dist');
    expect(runHub(['build', 'catalog', '--out', out]).code).toBe(0);
    const s = await startServe(['--build', out, '--port', '0', '--workers', '1']);
    expect((await fetch(`${s.url}/v1/plugins/fft.json`)).status).toBe(200);
    s.child.kill('SIGINT');
    expect(await s.exited).toBe(0);
  });

  it('with --site: the site under /plugins/ with its 404 page, its icon at /favicon.ico, and / redirected to it', async () => {
    const site = join(scratch, 'site');
    mkdirSync(site, { recursive: true });
    writeFileSync(join(site, 'index.html'), '<h1>catalog</h1>');
    writeFileSync(
      join(site, '404.html'),
      '<h1>Page not found</h1><a href="/plugins/">Back to the catalog</a>',
    );
    writeFileSync(join(site, 'favicon.ico'), Buffer.from([0, 0, 1, 0, 0, 0]));
    const s = await startServe(['catalog', '--port', '0', '--workers', '2', '--site', site]);
    try {
      // The second line of the banner may come a moment after the first.
      await expect.poll(() => s.output()).toContain(`the site: ${s.url}/plugins/`);
      const root = await fetch(`${s.url}/`, { redirect: 'manual' });
      expect(root.status).toBe(302);
      expect(root.headers.get('location')).toBe('/plugins/');
      const landed = await fetch(`${s.url}/`);
      expect(landed.url).toBe(`${s.url}/plugins/`);
      expect(await landed.text()).toBe('<h1>catalog</h1>');
      const icon = await fetch(`${s.url}/favicon.ico`);
      expect(icon.status).toBe(200);
      expect(icon.headers.get('content-type')).toBe('image/x-icon');
      expect(new Uint8Array(await icon.arrayBuffer()).length).toBe(6);
      const missing = await fetch(`${s.url}/plugins/nope/`);
      expect(missing.status).toBe(404);
      expect(await missing.text()).toContain('<h1>Page not found</h1>');
      // The API beside it is unchanged.
      expect((await fetch(`${s.url}/v1/plugins/fft.json`)).status).toBe(200);
      const unknown = await fetch(`${s.url}/nope`);
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('content-type')).toContain('application/json');
      await unknown.arrayBuffer();
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('refuses a catalog with errors, naming them, and serves nothing', () => {
    const bad = join(scratch, 'bad');
    cpSync(join(REPO_ROOT, 'catalog'), bad, { recursive: true });
    writeFileSync(join(bad, 'plugins', 'fft', '1.1.0.yaml'), 'plugin_id: fft\nversion: [\n');
    const r = runHub(['serve', bad, '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/1\.1\.0\.yaml:\d+/);
    expect(r.stderr).toContain('not serving');
  });

  it('says so when the port is taken, and exits 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      for (const workers of ['1', '2']) {
        const r = runHub(['serve', 'catalog', '--port', String(port), '--workers', workers]);
        expect(r.code, `--workers ${workers}`).toBe(1);
        expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
      }
    } finally {
      blocker.close();
    }
  });

  it('rejects bad options with a usage error', () => {
    for (const args of [
      ['--port', '70000'],
      ['--workers', '0'],
      ['--port', 'x'],
      ['--host', 'a b'],
    ]) {
      const r = runHub(['serve', 'catalog', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/--(port|workers|host)/);
    }
  });
});
