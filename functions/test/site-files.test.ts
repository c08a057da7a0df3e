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
/** The same, over a site whose 404.html is a link out of it (never followed). */
let bareServer: Server;
let bareUrl = '';

const NOT_FOUND_PAGE = '<!doctype html><header class="top">Magellon plugins</header><h1>Page not found</h1>';

function listen(files: ReturnType<typeof siteFiles>): Promise<{ server: Server; url: string }> {
  const s = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    if (!files.serve(req.method ?? 'GET', pathname, res)) {
      res.statusCode = 418;
      res.end();
    }
  });
  return new Promise((r) =>
    s.listen(0, '127.0.0.1', () =>
      r({ server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` }),
    ),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hub-site-files-'));
  const site = join(dir, 'site');
  mkdirSync(join(site, 'fft'), { recursive: true });
  mkdirSync(join(site, '_astro'));
  writeFileSync(join(site, 'index.html'), '<h1>catalog</h1>');
  writeFileSync(join(site, 'fft', 'index.html'), '<h1>fft</h1>');
  writeFileSync(join(site, '_astro', 'a.1234.js'), 'console.log(1)');
  writeFileSync(join(site, '404.html'), NOT_FOUND_PAGE);
  writeFileSync(join(site, 'favicon.ico'), Buffer.from([0, 0, 1, 0, 1, 0]));
  const bare = join(dir, 'bare');
  mkdirSync(bare);
  writeFileSync(join(bare, 'index.html'), '<h1>catalog</h1>');
  symlinkSync(join(dir, 'secret.txt'), join(bare, '404.html'));
  writeFileSync(join(dir, 'secret.txt'), 'not for the web');
  symlinkSync(join(dir, 'secret.txt'), join(site, 'leak.txt'));
  symlinkSync(dir, join(site, 'up'));
  execFileSync('mkfifo', [join(site, 'pipe.html')]);
  ({ server, url } = await listen(siteFiles(site)));
  ({ server: bareServer, url: bareUrl } = await listen(siteFiles(bare)));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((r) => bareServer.close(() => r()));
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
      const body = await r.text();
      expect(body, path).not.toContain('not for the web');
      expect(body, path).toBe(NOT_FOUND_PAGE);
    }
    expect((await get('/plugins/', 'POST')).status).toBe(405);
    expect((await get('/favicon.ico', 'POST')).status).toBe(405);
    expect((await get('/v1/index.json')).status).toBe(418);
  });

  it('answers an unknown page with the site’s 404 page, status 404, for GET and HEAD', async () => {
    const r = await get('/plugins/nope/');
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await r.text()).toBe(NOT_FOUND_PAGE);
    const head = await get('/plugins/nope/', 'HEAD');
    expect(head.status).toBe(404);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(NOT_FOUND_PAGE)));
    expect(await head.text()).toBe('');
  });

  it('never follows a 404.html that links out of the site: a plain line instead', async () => {
    const r = await fetch(`${bareUrl}/plugins/nope/`);
    expect(r.status).toBe(404);
    const body = await r.text();
    expect(body).not.toContain('not for the web');
    expect(body).toContain('<a href="/plugins/">Back to the catalog</a>');
  });

  it('redirects / to the site and answers /favicon.ico with its icon; leaves every other path to the API', async () => {
    for (const method of ['GET', 'HEAD']) {
      const root = await get('/', method);
      expect(root.status, method).toBe(302);
      expect(root.headers.get('location'), method).toBe('/plugins/');
    }
    // Anything but a read of / is the API's to answer.
    expect((await get('/', 'POST')).status).toBe(418);
    const icon = await get('/favicon.ico');
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toBe('image/x-icon');
    expect([...new Uint8Array(await icon.arrayBuffer())]).toEqual([0, 0, 1, 0, 1, 0]);
    for (const path of ['/favicon.ico/x', '/favicon.icox', '/index.html', '/v1/', '/pluginsx'])
      expect((await get(path)).status, path).toBe(418);
    // A site without an icon: the site's 404, not the API's.
    expect((await fetch(`${bareUrl}/favicon.ico`)).status).toBe(404);
  });
});
