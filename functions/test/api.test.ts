// What a client of the /v1 API sees, on the Node server (parity.test.ts shows the Worker is the same).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import {
  apiErrorSchema,
  bundleManifestSchema,
  categoryDocumentSchema,
  indexDocumentReadSchema,
  listingPageSchema,
  pluginDocumentReadSchema,
} from '@magellon/hub-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MALFORMED } from './api-suite';
import { buildRepoCatalog, rawRequest } from './harness';
import { startNode, type TestServer } from './servers';

let build: Awaited<ReturnType<typeof buildRepoCatalog>>;
let node: TestServer;
const get = (target: string, headers?: Record<string, string>) =>
  rawRequest(node.url, 'GET', target, headers);
const json = (r: { body: Buffer }) => JSON.parse(r.body.toString('utf8'));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  build = await buildRepoCatalog();
  node = await startNode(build.dir);
}, 120_000);
afterAll(async () => {
  await node?.close();
  build?.cleanup();
});

describe('JSON documents', () => {
  it('serves the built bytes, gzip and brotli on request, each encoding with its own strong ETag', async () => {
    const built = readFileSync(join(build.dir, 'v1/index.json'));
    const plain = await get('/v1/index.json');
    const gz = await get('/v1/index.json', { 'accept-encoding': 'gzip' });
    const br = await get('/v1/index.json', { 'accept-encoding': 'br, gzip' });
    expect(plain.body.equals(built)).toBe(true);
    expect(gunzipSync(gz.body).equals(built)).toBe(true);
    expect(brotliDecompressSync(br.body).equals(built)).toBe(true);
    expect([
      plain.headers['content-encoding'],
      gz.headers['content-encoding'],
      br.headers['content-encoding'],
    ]).toEqual([undefined, 'gzip', 'br']);
    expect(new Set([plain.headers.etag, gz.headers.etag, br.headers.etag]).size).toBe(3);
    for (const r of [plain, gz, br]) {
      expect(r.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}(-gzip|-br)?"$/);
      expect(r.headers['cache-control']).toBe('public, max-age=300, stale-while-revalidate=86400');
      expect(r.headers.vary).toBe('Accept-Encoding');
      expect(r.headers['access-control-allow-origin']).toBe('*');
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(Number(r.headers['content-length'])).toBe(r.body.length);
    }
    const manifest = bundleManifestSchema.parse(
      JSON.parse(readFileSync(join(build.dir, 'hub-bundle.json'), 'utf8')),
    );
    expect(plain.headers.etag).toBe(manifest.documents['v1/index.json']!.etag);
  });

  it('answers If-None-Match with 304 for any encoding’s ETag, and 200 once it changed', async () => {
    const first = await get('/v1/plugins/fft.json', { 'accept-encoding': 'br' });
    for (const etag of [
      first.headers.etag!,
      `W/${first.headers.etag}`,
      `"other", ${first.headers.etag}`,
      '*',
    ]) {
      const again = await get('/v1/plugins/fft.json', { 'if-none-match': etag });
      expect(again.status, etag).toBe(304);
      expect(again.body.length).toBe(0);
    }
    expect((await get('/v1/plugins/fft.json', { 'if-none-match': '"stale"' })).status).toBe(200);
  });

  it('HEAD gives the headers of GET and no body', async () => {
    const head = await rawRequest(node.url, 'HEAD', '/v1/plugins/fft.json', { 'accept-encoding': 'gzip' });
    const got = await get('/v1/plugins/fft.json', { 'accept-encoding': 'gzip' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(got.headers['content-length']);
    expect(head.headers.etag).toBe(got.headers.etag);
  });

  it('one plugin: every version with nested and flat archive fields; unknown ids are a JSON 404', async () => {
    const doc = pluginDocumentReadSchema.parse(json(await get('/v1/plugins/fft.json')));
    for (const v of doc.versions) {
      expect(v.archive).toEqual({ url: v.url, sha256: v.sha256, size_bytes: v.size_bytes });
    }
    const missing = await get('/v1/plugins/no-such-plugin.json');
    expect(missing.status).toBe(404);
    expect(apiErrorSchema.parse(json(missing)).error).toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('no-such-plugin'),
    });
  });

  it('categories: all at once and one at a time, with each backend side by side', async () => {
    const all = json(await get('/v1/categories'));
    const ctf = categoryDocumentSchema.parse(json(await get('/v1/categories/ctf')));
    expect(ctf.backends.map((b) => b.plugin_id)).toEqual(
      all.categories
        .find((c: { category: string }) => c.category === 'ctf')
        .backends.map((b: { plugin_id: string }) => b.plugin_id),
    );
    expect(ctf.backends.length).toBeGreaterThan(0);
    expect(ctf.plugin_count).toBe(ctf.backends.length);
    expect((await get('/v1/categories/no-such')).status).toBe(404);
  });

  it('publishes an OpenAPI 3.1 document naming every route', async () => {
    const doc = json(await get('/v1/openapi.json'));
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/index.json',
        '/v1/plugins/{plugin_id}.json',
        '/v1/plugins',
        '/v1/categories/{category}',
        '/assets/plugins/{file}',
        '/tuf/metadata/{file}',
      ]),
    );
    const params = doc.paths['/v1/plugins'].get.parameters.map((p: { name: string }) => p.name);
    expect(params).toEqual(['category', 'tier', 'tag', 'q', 'sort', 'page', 'per_page']);
  });
});

describe('the listing', () => {
  it('filters, sorts and pages with a total, a stable order and Link headers', async () => {
    const all = listingPageSchema.parse(json(await get('/v1/plugins?per_page=100')));
    const pages: string[] = [];
    for (let page = 1; page <= Math.ceil(all.total / 2); page++) {
      const r = await get(`/v1/plugins?per_page=2&page=${page}`);
      const body = listingPageSchema.parse(json(r));
      pages.push(...body.plugins.map((p) => p.plugin_id));
      expect(r.headers.link).toContain('rel="first"');
      if (page < body.pages)
        expect(r.headers.link).toContain(`</v1/plugins?per_page=2&page=${page + 1}>; rel="next"`);
      else expect(r.headers.link).not.toContain('rel="next"');
    }
    expect(pages).toEqual(all.plugins.map((p) => p.plugin_id));
    expect(new Set(pages).size).toBe(all.total);
    const ctf = listingPageSchema.parse(json(await get('/v1/plugins?category=ctf')));
    expect(ctf.total).toBeGreaterThan(0);
    expect(ctf.plugins.every((p) => p.category === 'ctf')).toBe(true);
    const byName = listingPageSchema
      .parse(json(await get('/v1/plugins?sort=-name')))
      .plugins.map((p) => p.name.toLowerCase());
    expect([...byName].sort().reverse()).toEqual(byName);
  });

  it('says which parameter is wrong, with a 400', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/v1/plugins?per_page=500', /per_page/],
      ['/v1/plugins?tier=gold', /tier/],
      ['/v1/plugins?sort=stars', /sort/],
      ['/v1/plugins?page=1&page=2', /page.*more than once/],
      ['/v1/plugins?colour=red', /unknown parameter "colour"/],
      ['/v1/plugins?__proto__=x', /unknown parameter "__proto__"/],
      ['/v1/plugins?toString=1&toString=2', /unknown parameter "toString"/],
      ['/v1/plugins?constructor=x&tier=verified', /unknown parameter "constructor"/],
    ];
    for (const [target, message] of cases) {
      const r = await get(target);
      expect(r.status, target).toBe(400);
      expect(apiErrorSchema.parse(json(r)).error.message, target).toMatch(message);
    }
  });

  it('revalidates a page with its ETag', async () => {
    const first = await get('/v1/plugins?tag=gpu');
    expect((await get('/v1/plugins?tag=gpu', { 'if-none-match': first.headers.etag! })).status).toBe(304);
  });
});

describe('archives', () => {
  const target = '/assets/plugins/fft-1.1.0.mpn';
  it('stream with ETag = sha256, immutable caching and Content-Length', async () => {
    const bytes = readFileSync(join(build.dir, 'assets/plugins/fft-1.1.0.mpn'));
    const r = await get(target);
    expect(r.status).toBe(200);
    expect(r.body.equals(bytes)).toBe(true);
    expect(r.headers.etag).toBe(`"${sha256(bytes)}"`);
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers['content-length']).toBe(String(bytes.length));
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect((await get(target, { 'if-none-match': r.headers.etag! })).status).toBe(304);
  });

  it('serve one byte range (206), refuse one outside the file (416), and ignore what they cannot serve', async () => {
    const bytes = readFileSync(join(build.dir, 'assets/plugins/fft-1.1.0.mpn'));
    const part = await get(target, { range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.body.equals(bytes.subarray(10, 20))).toBe(true);
    expect(part.headers['content-range']).toBe(`bytes 10-19/${bytes.length}`);
    const tail = await get(target, { range: 'bytes=-22' });
    expect(tail.body.equals(bytes.subarray(bytes.length - 22))).toBe(true);
    const outside = await get(target, { range: `bytes=${bytes.length}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers['content-range']).toBe(`bytes */${bytes.length}`);
    expect(apiErrorSchema.parse(json(outside)).error.code).toBe('range_not_satisfiable');
    const several = await get(target, { range: 'bytes=0-1,5-6' });
    expect(several.status).toBe(200);
    expect(several.body.equals(bytes)).toBe(true);
    const changed = await get(target, { range: 'bytes=0-1', 'if-range': '"old"' });
    expect(changed.status).toBe(200);
  });
});

describe('the two real clients', () => {
  const origin = () => node.url;
  it('the Magellon web app: index.json → hub-relative url + sha256 → download matches', async () => {
    const index = indexDocumentReadSchema.parse(json(await get('/v1/index.json')));
    expect(index.schema_version).toBe('1');
    expect(index.plugins.length).toBeGreaterThan(0);
    for (const plugin of index.plugins) {
      const v = plugin.versions.find((x) => x.version === plugin.latest_version)!;
      const r = await rawRequest(origin(), 'GET', v.url);
      expect(r.status, v.url).toBe(200);
      expect(sha256(r.body), v.url).toBe(v.sha256);
      expect(r.body.length).toBe(v.size_bytes);
    }
  });

  it('CoreService: plugins/<id>.json → pinned version (yanked too) → nested or flat archive → download matches', async () => {
    const index = indexDocumentReadSchema.parse(json(await get('/v1/index.json')));
    let yanked = 0;
    for (const { plugin_id } of index.plugins) {
      const doc = pluginDocumentReadSchema.parse(json(await get(`/v1/plugins/${plugin_id}.json`)));
      for (const v of doc.versions) {
        if (v.yanked) yanked++;
        // Both ways CoreService resolves an archive: the nested object, or the flat fields.
        for (const { url, sha256: want } of [v.archive, { url: v.url, sha256: v.sha256 }]) {
          const r = await rawRequest(origin(), 'GET', url);
          expect(sha256(r.body), `${plugin_id} ${v.version}`).toBe(want);
        }
      }
    }
    expect(yanked).toBeGreaterThan(0);
  });
});

describe('malformed requests', () => {
  it(`never get a 500, and every error is JSON (${MALFORMED.length} requests)`, async () => {
    expect(MALFORMED.length).toBeGreaterThanOrEqual(40);
    for (const r of MALFORMED) {
      const got = await rawRequest(node.url, r.method, r.target, r.headers);
      expect(got.status, `${r.method} ${r.target.slice(0, 80)}`).toBeLessThan(500);
      if (got.status >= 400) {
        expect(got.headers['content-type'], r.target).toBe('application/json; charset=utf-8');
        apiErrorSchema.parse(json(got));
      }
    }
  });

  it('cannot reach files outside the documents and archives', async () => {
    for (const target of [
      '/hub-bundle.json',
      '/v1/index.json.br',
      '/assets/plugins/..%2F..%2Fhub-bundle.json',
      '/.hub-build',
    ]) {
      expect((await get(target)).status, target).toBe(404);
    }
  });
});

/** Sends `text` as it is on one connection and returns all the server wrote back. */
function rawExchange(base: string, text: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let out = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer in 10 s')));
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.end(text);
  });
}

describe('the Node server', () => {
  const statusOf = (answer: string) => answer.slice(0, answer.indexOf('\r\n'));
  const bodyOf = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4);

  it('answers a request Node cannot parse with a JSON 400 or 431', async () => {
    const garbage = await rawExchange(node.url, 'NOT HTTP AT ALL\r\n\r\n');
    expect(statusOf(garbage)).toBe('HTTP/1.1 400 Bad Request');
    expect(apiErrorSchema.parse(JSON.parse(bodyOf(garbage))).error.code).toBe('bad_request');
    const huge = await rawExchange(
      node.url,
      `GET /v1/index.json HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
    );
    expect(statusOf(huge)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(JSON.parse(bodyOf(huge)).error.message).toBe('the request headers are too large');
  });

  it('answers by the target alone: any Host header or none, `*`, backslashes and dot segments as fetch parses them', async () => {
    const index = readFileSync(join(build.dir, 'v1', 'index.json'), 'latin1');
    for (const host of ['Host: a b', 'Host: [::1', '']) {
      const got = await rawExchange(
        node.url,
        `GET /v1/index.json HTTP/1.1\r\n${host ? `${host}\r\n` : ''}Connection: close\r\n\r\n`,
      );
      expect(statusOf(got), host).toBe(host ? 'HTTP/1.1 200 OK' : 'HTTP/1.1 400 Bad Request');
      if (host) expect(bodyOf(got)).toBe(index);
    }
    const old = await rawExchange(node.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(statusOf(old)).toBe('HTTP/1.1 200 OK');
    expect(bodyOf(old)).toBe('{"status":"ok"}\n');
    const star = await rawExchange(node.url, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(statusOf(star)).toBe('HTTP/1.1 204 No Content');
    expect(star.toLowerCase()).toContain('\r\naccess-control-allow-methods: get, head, options\r\n');
    for (const target of ['/assets\\..\\hub-bundle.json', '/v1/plugins/../../hub-bundle.json']) {
      const got = await rawExchange(
        node.url,
        `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(statusOf(got), target).toBe('HTTP/1.1 404 Not Found');
      expect(JSON.parse(bodyOf(got)).error.message, target).toBe(
        'nothing at "/hub-bundle.json"; see /v1/openapi.json',
      );
    }
  });
});
