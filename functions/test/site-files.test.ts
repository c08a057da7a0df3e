// `hub serve --site`: the built site under /plugins/, and nothing else of the disk.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { siteFiles } from '../node/site-files';

let dir = '';
let server: Server;
let url = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hub-site-files-'));
  const site = join(dir, 'site');
  mkdirSync(join(site, 'fft'), { recursive: true });
  mkdirSync(join(site, '_astro'));
  writeFileSync(join(site, 'index.html'), '<h1>catalog</h1>');
  writeFileSync(join(site, 'fft', 'index.html'), '<h1>fft</h1>');
  writeFileSync(join(site, '_astro', 'a.1234.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'not for the web');
  symlinkSync(join(dir, 'secret.txt'), join(site, 'leak.txt'));
  symlinkSync(dir, join(site, 'up'));
  execFileSync('mkfifo', [join(site, 'pipe.html')]);
  const files = siteFiles(site);
  server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    if (!files.serve(req.method ?? 'GET', pathname, res)) {
      res.statusCode = 418;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, method = 'GET') => fetch(`${url}${path}`, { method, redirect: 'manual' });

describe('the site under /plugins/', () => {
  it('serves pages, folders by their index.html, and redirects a folder without its slash', async () => {
    const home = await get('/plugins/');
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await home.text()).toBe('<h1>catalog</h1>');
    expect(await (await get('/plugins/fft/')).text()).toBe('<h1>fft</h1>');
    const bare = await get('/plugins/fft');
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/plugins/fft/');
    const asset = await get('/plugins/_astro/a.1234.js');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  });

  it('never serves a link out of the site, a FIFO, an escape, or a write', async () => {
    for (const path of [
      '/plugins/leak.txt',
      '/plugins/up/secret.txt',
      '/plugins/pipe.html',
      '/plugins/%2e%2e%2fsecret.txt',
      '/plugins/..%5csecret.txt',
      '/plugins/%00',
      '/plugins/nope/',
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(await r.text(), path).not.toContain('not for the web');
    }
    expect((await get('/plugins/', 'POST')).status).toBe(405);
    expect((await get('/v1/index.json')).status).toBe(418);
  });
});
