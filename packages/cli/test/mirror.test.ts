// `hub mirror` as an air-gapped lab runs it: the starter hub served by the real Node server on
// 127.0.0.1, mirrored by the compiled CLI, the origin stopped, the mirror served by the same server,
// and the real CoreService installing and upgrading a plugin from the mirror alone. Hostile origins
// are a plain static file server (what a compromised host or CDN is) over a tampered copy. A signed
// hub (built with TUF keys) is mirrored and read back by tuf-js's client from the mirror alone;
// rollback, tampered targets and a wrong root are refused; the same mirror goes into a real S3
// bucket (OpenStack Swift on 127.0.0.1).
import { createHash, randomUUID } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { pluginDocumentSchema } from '@magellon/hub-core';
import { generateTufKeys, loadCatalog, writeHubBuild } from '@magellon/hub-core/node';
import { Updater } from 'tuf-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCoreservice, scratchDir, stopAllUnder } from '../../../coreservice/test/helpers';
import { buildRepoCatalog, REPO } from '../../../functions/test/harness';
import { startNode, type TestServer } from '../../../functions/test/servers';
import { type SwiftEndpoint, startSwift } from '../../../hub-api/test/swift';
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

describe('hub mirror of a signed hub (TUF)', () => {
  let keys: string;
  let v1: string;
  let v2: string;
  let rootFile: string;

  /** Builds the repo catalog signed with `keys` into `out` (a later build into it is the next version). */
  const signedBuild = async (out: string, now?: Date) => {
    const catalog = await loadCatalog(join(REPO, 'catalog'));
    const built = await writeHubBuild(catalog.root, catalog.entries, out, {
      removeOld: 'wait',
      tuf: { keysDir: keys, now, authors: catalog.authorRoles ?? [] },
    });
    if (!built.ok) throw new Error(`the repo catalog did not build: ${built.findings[0]?.message}`);
  };

  beforeAll(async () => {
    keys = join(scratch, 'tuf-keys');
    generateTufKeys(keys);
    rootFile = join(keys, 'root', '1.root.json');
    const dist = join(scratch, 'signed-dist');
    await signedBuild(dist);
    v1 = join(scratch, 'signed-v1');
    cpSync(dist, v1, { recursive: true });
    await signedBuild(dist);
    v2 = dist;
  }, 180_000);

  const signedMirror = (from: string, to: string, ...more: string[]) =>
    runHubAsync(['mirror', '--from', from, '--to', to, '--root', rootFile, ...more]);

  it('mirrors the metadata; a tuf-js client and CoreService pinning 1.root.json verify, install and upgrade from the mirror alone', async () => {
    const hub = await startNode(v1);
    servers.push(hub);
    const to = join(scratch, 'signed-mirror');
    const r = await signedMirror(hub.url, to);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('signed metadata version 1 verified');
    expect(r.stderr).not.toContain('on first use');
    expect(readdirSync(join(to, 'tuf/metadata')).sort()).toEqual(
      [
        '1.hub-bin-0.json',
        '1.hub-bin-1.json',
        '1.hub.json',
        '1.root.json',
        '1.snapshot.json',
        '1.targets.json',
        'root.json',
        'timestamp.json',
      ].sort(),
    );
    for (const f of readdirSync(join(to, 'tuf/metadata')))
      expect(
        readFileSync(join(to, 'tuf/metadata', f)).equals(readFileSync(join(v1, 'tuf/metadata', f))),
      ).toBe(true);
    await hub.close();
    await expect(fetch(`${hub.url}/healthz`)).rejects.toThrow();

    const host = await staticHost(to);
    const client = mkdtempSync(join(scratch, 'tuf-client-'));
    mkdirSync(join(client, 'metadata'));
    mkdirSync(join(client, 'targets'));
    copyFileSync(rootFile, join(client, 'metadata', 'root.json'));
    const updater = new Updater({
      metadataDir: join(client, 'metadata'),
      metadataBaseUrl: `${host.url}/tuf/metadata`,
      targetDir: join(client, 'targets'),
      targetBaseUrl: `${host.url}/`,
      config: { prefixTargetsWithHash: false, fetchRetries: 0 },
    });
    await updater.refresh();
    for (const path of ['assets/plugins/fft-1.1.0.mpn', 'v1/plugins/fft.json']) {
      const info = await updater.getTargetInfo(path);
      expect(info, path).toBeDefined();
      const file = await updater.downloadTarget(info!, join(client, 'targets', path.replaceAll('/', '_')));
      expect(readFileSync(file).equals(readFileSync(join(v1, path)))).toBe(true);
    }

    // CoreService pinning the same root installs from the mirror, served by the hub's server.
    const served = await startNode(to);
    servers.push(served);
    const dir = mkdtempSync(join(scratch, 'signed-plugins-'));
    const cs = (...args: string[]) =>
      runCoreservice(['--hub', served.url, '--hub-root', rootFile, '--plugins-dir', dir, ...args, '--json'], {
        env: process.env,
      });
    const installed = await cs('install', 'fft@1.0.0');
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    // And upgrades from it, the origin still stopped: the mirror alone, verified with the same root.
    const upgraded = await cs('upgrade', 'fft');
    expect(upgraded.code, upgraded.stdout + upgraded.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'fft', 'receipt.json'), 'utf8'))).toMatchObject({
      version: '1.1.0',
      registry: served.url,
    });
    await stopAllUnder(scratch);
  }, 240_000);

  it('refuses an origin that went back to older metadata (rollback), naming it; the mirror is unchanged', async () => {
    const old = await staticHost(v1);
    const newer = await staticHost(v2);
    const to = join(scratch, 'signed-rollback');
    const first = await signedMirror(old.url, to);
    expect(first.code, first.stderr).toBe(0);
    const second = await signedMirror(newer.url, to);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('signed metadata version 2 verified');
    // The previous set stays one more round: a reader holding the old timestamp still finds it.
    expect(readdirSync(join(to, 'tuf/metadata')).sort()).toEqual(
      // Top-level targets is reused (its delegations did not change); hub, its bins and snapshot are new.
      [
        '1.hub-bin-0.json',
        '1.hub-bin-1.json',
        '1.hub.json',
        '1.root.json',
        '1.snapshot.json',
        '1.targets.json',
        '2.hub-bin-0.json',
        '2.hub-bin-1.json',
        '2.hub.json',
        '2.snapshot.json',
        'root.json',
        'timestamp.json',
      ].sort(),
    );
    expect(
      readFileSync(join(to, 'tuf/metadata/timestamp.json')).equals(
        readFileSync(join(v2, 'tuf/metadata/timestamp.json')),
      ),
    ).toBe(true);
    const before = snapshot(to);
    // Without --root: the mirror's own state is what it trusts now.
    const back = await runHubAsync(['mirror', '--from', old.url, '--to', to]);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(
      /rollback refused: .* serves older signed metadata than this mirror already holds/,
    );
    expect(back.stderr).toContain('is unchanged');
    expect(snapshot(to)).toEqual(before);
    expect(readdirSync(scratch).filter((n) => n.includes('mirroring'))).toEqual([]);
    // Nor may an origin drop its signatures once the mirror holds a signed hub.
    const unsigned = await staticHost(origin.dir);
    const plain = await runHubAsync(['mirror', '--from', unsigned.url, '--to', to]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/serves no signed metadata .* this mirror holds a signed hub/);
    expect(snapshot(to)).toEqual(before);
  }, 180_000);

  it('refuses targets whose bytes differ from what the hub signed, even when the documents agree with them', async () => {
    const root = join(scratch, 'signed-tampered');
    cpSync(v1, root, { recursive: true });
    const host = await staticHost(root);
    const to = join(scratch, 'signed-tampered-mirror');
    // No --root on a first run: the origin's 1.root.json is trusted, loudly.
    const good = await runHubAsync(['mirror', '--from', host.url, '--to', to]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stderr).toMatch(
      /trusting .*\/tuf\/metadata\/1\.root\.json on first use: no --root was given/,
    );
    const before = snapshot(to);

    // Other archive bytes, and documents that give their sha256: only the signed targets tell.
    const archive = join(root, 'assets/plugins/fft-1.1.0.mpn');
    const bytes = readFileSync(archive);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(archive, bytes);
    const forged = sha256(bytes);
    const docPath = join(root, 'v1/plugins/fft.json');
    const doc = JSON.parse(readFileSync(docPath, 'utf8'));
    const v = doc.versions.find((x: { version: string }) => x.version === '1.1.0');
    v.sha256 = forged;
    v.archive.sha256 = forged;
    writeFileSync(docPath, `${JSON.stringify(doc, null, 2)}\n`);
    const indexPath = join(root, 'v1/index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    for (const p of index.plugins)
      for (const x of p.versions) if (x.archive_id === v.archive_id) x.sha256 = forged;
    writeFileSync(indexPath, `${JSON.stringify(index, null, 2)}\n`);

    const bad = await runHubAsync(['mirror', '--from', host.url, '--to', to]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /refused \/assets\/plugins\/fft-1\.1\.0\.mpn \(named by v1\/plugins\/fft\.json\): it does not match the hub's signed target/,
    );
    expect(bad.stderr).toMatch(
      /refused v1\/plugins\/fft\.json .*: it does not match the hub's signed target/,
    );
    expect(snapshot(to)).toEqual(before);
  }, 180_000);

  it('refuses a hub whose signed metadata has expired (freeze), and writes nothing', async () => {
    const stale = join(scratch, 'signed-stale');
    await signedBuild(stale, new Date(Date.now() - 30 * 24 * 3600 * 1000));
    const host = await staticHost(stale);
    const to = join(scratch, 'signed-frozen');
    const r = await signedMirror(host.url, to);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/freeze refused: .*signed metadata has expired/);
    expect(existsSync(to)).toBe(false);
  }, 120_000);

  it('refuses a hub signed by other keys than --root names, and writes nothing', async () => {
    const otherKeys = join(scratch, 'other-keys');
    generateTufKeys(otherKeys);
    const host = await staticHost(v1);
    const to = join(scratch, 'signed-wrong-root');
    const r = await runHubAsync([
      'mirror',
      '--from',
      host.url,
      '--to',
      to,
      '--root',
      join(otherKeys, 'root', '1.root.json'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/signed metadata does not verify against the trusted root/);
    expect(existsSync(to)).toBe(false);
    expect(readdirSync(scratch).filter((n) => n.includes('mirroring'))).toEqual([]);
  }, 120_000);

  describe('into an S3 bucket (OpenStack Swift)', () => {
    let swift: SwiftEndpoint | undefined;
    const buckets: string[] = [];
    const s3 = (s: SwiftEndpoint) =>
      new S3Client({
        endpoint: s.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    beforeAll(() => {
      swift = startSwift();
    }, 600_000);
    afterAll(async () => {
      if (swift) {
        const c = s3(swift);
        for (const b of buckets) {
          for (;;) {
            const page = await c.send(new ListObjectsV2Command({ Bucket: b })).catch(() => undefined);
            for (const o of page?.Contents ?? [])
              await c.send(new DeleteObjectCommand({ Bucket: b, Key: o.Key })).catch(() => {});
            if (!page?.IsTruncated) break;
          }
          await c.send(new DeleteBucketCommand({ Bucket: b })).catch(() => {});
        }
      }
      swift?.stop();
    });

    it('holds the same keys and bytes as a dir mirror; a second run sends nothing', async (ctx) => {
      const s = swift;
      if (!s) return ctx.skip();
      const c = s3(s);
      const bucket = `hub-mirror-${randomUUID().slice(0, 8)}`;
      // Swift's s3api says 503 until its account and container servers take requests.
      for (let attempt = 0; ; attempt++) {
        try {
          await c.send(new CreateBucketCommand({ Bucket: bucket }));
          break;
        } catch (err) {
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          if (status !== 503 || attempt >= 40) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      buckets.push(bucket);
      const host = await staticHost(v1);
      const dir = join(scratch, 'signed-for-s3');
      const d = await signedMirror(host.url, dir);
      expect(d.code, d.stderr).toBe(0);

      const env = { AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey };
      const args = [
        'mirror',
        '--from',
        host.url,
        '--to',
        `s3://${bucket}/lab`,
        '--endpoint',
        s.endpoint,
        '--region',
        'us-east-1',
        '--root',
        rootFile,
      ];
      const first = await runHubAsync(args, env);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/objects: [1-9]\d* sent, 0 already there/);

      const listed = await c.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
      expect(listed.IsTruncated).toBeFalsy();
      const keys = (listed.Contents ?? []).map((o) => o.Key as string).sort();
      const files = Object.keys(snapshot(dir)).map((f) => `lab/${f.startsWith('.') ? f.slice(1) : f}`);
      expect(keys).toEqual(files.sort());
      const want = snapshot(dir);
      for (const [f, hash] of Object.entries(want)) {
        const key = `lab/${f.startsWith('.') ? f.slice(1) : f}`;
        const o = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const got = Buffer.from(await o.Body!.transformToByteArray());
        expect(sha256(got), key).toBe(hash);
      }

      const again = await runHubAsync(args, env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/archives: 0 fetched \(0\.0 MiB\), 15 kept/);
      expect(again.stdout).toMatch(/objects: 0 sent, \d+ already there/);
    }, 600_000);
  });
});
