// `hub mirror` as an air-gapped lab runs it: the starter hub served by the real Node server on
// 127.0.0.1, mirrored by the compiled CLI, the origin stopped, the mirror served by the same server,
// and the real CoreService installing and upgrading a plugin from the mirror alone. Hostile origins
// are a plain static file server (what a compromised host or CDN is) over a tampered copy.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pluginDocumentSchema } from '@magellon/hub-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCoreservice, scratchDir, stopAllUnder } from '../../../coreservice/test/helpers';
import { buildRepoCatalog } from '../../../functions/test/harness';
import { startNode, type TestServer } from '../../../functions/test/servers';
import { runHubAsync } from './run-hub';

// 0755: as root, CoreService runs each plugin under a uid of its own that must reach its files.
const scratch = scratchDir('hub-mirror-test-');
let origin: Awaited<ReturnType<typeof buildRepoCatalog>>;
const servers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  origin = await buildRepoCatalog();
}, 120_000);
afterAll(async () => {
  await stopAllUnder(scratch);
  for (const s of servers) await s.close().catch(() => {});
  origin?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** A static file server on 127.0.0.1 over `root`: no ETags, no API, just bytes by path. */
async function staticHost(root: string): Promise<TestServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = join(root, path);
    if (!/^\/[A-Za-z0-9._/-]+$/.test(path) || path.includes('..') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const bytes = readFileSync(file);
      res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const s = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
  servers.push(s);
  return s;
}

const mirror = (from: string, to: string) => runHubAsync(['mirror', '--from', from, '--to', to]);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file under a dir with its sha256, to compare a dir before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    try {
      out[name] = sha256(readFileSync(join(dir, name)));
    } catch {
      // a folder
    }
  }
  return out;
}

describe('hub mirror', () => {
  it('mirrors the starter hub; the mirror alone (origin stopped) serves an install and an upgrade; a second run fetches nothing', async () => {
    const hub = await startNode(origin.dir);
    servers.push(hub);
    const to = join(scratch, 'mirror');
    const first = await mirror(hub.url, to);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/archives: 15 fetched \([0-9.]+ MiB\), 0 kept; 0 refused/);
    expect(readdirSync(join(to, 'assets', 'plugins')).sort()).toEqual(
      readdirSync(join(origin.dir, 'assets', 'plugins')).sort(),
    );
    const fft = pluginDocumentSchema.parse(JSON.parse(readFileSync(join(to, 'v1/plugins/fft.json'), 'utf8')));
    for (const v of fft.versions) expect(v.archive.url).toBe(`/assets/plugins/fft-${v.version}.mpn`);

    const again = await mirror(hub.url, to);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /documents: 0 fetched, \d+ unchanged; archives: 0 fetched \(0\.0 MiB\), 15 kept/,
    );

    await hub.close();
    await expect(fetch(`${hub.url}/healthz`)).rejects.toThrow();
    const served = await startNode(to);
    servers.push(served);
    const dir = mkdtempSync(join(scratch, 'plugins-'));
    const run = (...args: string[]) =>
      runCoreservice(['--unsigned', '--hub', served.url, '--plugins-dir', dir, ...args], {
        env: process.env,
      });
    const installed = await run('install', 'fft@1.0.0', '--json');
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    const up = await run('upgrade', 'fft', '--json');
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(JSON.parse(up.stdout).result.to.version).toBe('1.1.0');
    await stopAllUnder(scratch);
  }, 240_000);

  it('an archive whose bytes do not match its document is refused and named; the mirror keeps its previous copy', async () => {
    const root = join(scratch, 'tampered-origin');
    cpSync(origin.dir, root, { recursive: true });
    const host = await staticHost(root);
    const to = join(scratch, 'mirror-kept');
    const good = await mirror(host.url, to);
    expect(good.code, good.stderr).toBe(0);
    const before = snapshot(to);

    // The origin now says fft 1.1.0 has other bytes, and serves bytes that are neither.
    const docPath = join(root, 'v1/plugins/fft.json');
    const doc = JSON.parse(readFileSync(docPath, 'utf8'));
    const v = doc.versions.find((x: { version: string }) => x.version === '1.1.0');
    const claimed = sha256(Buffer.from('what the document claims'));
    v.sha256 = claimed;
    v.archive.sha256 = claimed;
    writeFileSync(docPath, `${JSON.stringify(doc, null, 2)}\n`);
    const indexPath = join(root, 'v1/index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    for (const p of index.plugins)
      for (const x of p.versions) if (x.archive_id === v.archive_id) x.sha256 = claimed;
    writeFileSync(indexPath, `${JSON.stringify(index, null, 2)}\n`);
    const archive = join(root, 'assets/plugins/fft-1.1.0.mpn');
    const bytes = readFileSync(archive);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(archive, bytes);

    const bad = await mirror(host.url, to);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /refused \/assets\/plugins\/fft-1\.1\.0\.mpn \(named by v1\/plugins\/fft\.json\): .*sha256/,
    );
    expect(bad.stderr).toContain('is unchanged');
    expect(snapshot(to)).toEqual(before);
    expect(readdirSync(scratch).filter((n) => n.includes('mirroring') || n.includes('.old-'))).toEqual([]);
  }, 120_000);

  it('a document pointing an archive outside assets/plugins/ is refused and nothing is written', async () => {
    const root = join(scratch, 'climbing-origin');
    cpSync(origin.dir, root, { recursive: true });
    const docPath = join(root, 'v1/plugins/fft.json');
    const doc = JSON.parse(readFileSync(docPath, 'utf8'));
    doc.versions[0].url = '../../etc/x';
    doc.versions[0].archive.url = '../../etc/x';
    writeFileSync(docPath, `${JSON.stringify(doc, null, 2)}\n`);
    const host = await staticHost(root);
    const to = join(scratch, 'deep', 'mirror-climb');
    const r = await mirror(host.url, to);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /refused \.\.\/\.\.\/etc\/x \(named by v1\/plugins\/fft\.json\): .*outside the mirror/,
    );
    expect(existsSync(to)).toBe(false);
    expect(existsSync(join(scratch, 'etc'))).toBe(false);
  }, 120_000);

  it('refuses a non-http origin and a target it did not make', async () => {
    const r = await runHubAsync(['mirror', '--from', 'file:///etc', '--to', join(scratch, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('must be an http(s) URL');
    const busy = mkdtempSync(join(scratch, 'busy-'));
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    const b = await runHubAsync(['mirror', '--from', 'http://127.0.0.1:9', '--to', busy]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('not empty and was not made by hub mirror');
    expect(readdirSync(busy)).toEqual(['notes.txt']);
  });
});
