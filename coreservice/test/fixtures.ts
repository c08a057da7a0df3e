// Plugin archives made for the CoreService tests from the example plugins (packed by the hub's own
// pack, so they pass every check), and a hub that serves the real catalog's plugin document with
// one extra version whose archive the test controls.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { packPlugin } from '@magellon/hub-core/node';
import { copyPluginSources } from '@magellon/hub-core/test-support';
import { REPO } from '../../functions/test/harness';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Packs examples/plugins/<id> as `version`, after `mutate` has edited the copy (a main.py that
 * never gets ready, one that exits at once, another manifest…). Returns the archive's bytes.
 */
export async function packVariant(
  work: string,
  id: string,
  version: string,
  mutate: (dir: string) => void = () => {},
): Promise<Buffer> {
  return (await packVariantWithId(work, id, version, mutate)).bytes;
}

export async function packVariantWithId(
  work: string,
  id: string,
  version: string,
  mutate: (dir: string) => void = () => {},
): Promise<{ bytes: Buffer; archiveId: string }> {
  const src = join(REPO, 'examples', 'plugins', id);
  const dir = join(mkdtempSync(join(work, `${id}-${version}-`)), id);
  copyPluginSources(src, dir);
  const manifest = join(dir, 'manifest.yaml');
  writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/^version:.*$/m, `version: ${version}`));
  mutate(dir);
  const out = join(dir, '..', `${id}-${version}.mpn`);
  const packed = await packPlugin(dir, {
    out,
    force: true,
    followLinks: true,
    date: new Date('2025-01-01T00:00:00Z'),
  });
  return { bytes: readFileSync(out), archiveId: packed.archive_id };
}

/** Appends a file that file_checksums does not list, as Python's zipfile would. */
export function withUnlistedFile(work: string, bytes: Buffer): Buffer {
  const file = join(mkdtempSync(join(work, 'unlisted-')), 'x.mpn');
  writeFileSync(file, bytes);
  execFileSync('python3', [
    '-c',
    'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "a")\nz.writestr("unlisted.py", "print(1)\\n")\nz.close()',
    file,
  ]);
  return readFileSync(file);
}

export type DeliveryFault = 'none' | 'flip' | 'truncate' | 'longer' | 'slow' | 'trickle' | 'reset-once';

/**
 * A hub on 127.0.0.1 serving `<id>.json` from a real build plus one extra version whose archive is
 * `archive` (its sha256 and size announced as given, else as they are), delivered as `fault` says.
 * Everything else is proxied from the build dir.
 */
export class ControlledHub {
  server!: Server;
  url = '';
  archive: Buffer = Buffer.alloc(0);
  announced: { sha256: string; size: number } | undefined;
  fault: DeliveryFault = 'none';
  requests: { url: string; range?: string }[] = [];
  private resets = 0;

  constructor(
    private readonly buildDir: string,
    private readonly id: string,
    private readonly version: string,
    /** The extra version's tier (default: the tier of the version it is made from). */
    private readonly tier?: 'verified' | 'community',
  ) {}

  set(archive: Buffer, fault: DeliveryFault = 'none', announced?: { sha256: string; size: number }): void {
    this.archive = archive;
    this.fault = fault;
    this.announced = announced;
    this.resets = 0;
    this.requests = [];
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests.push({ url: req.url ?? '', range: req.headers.range });
      if (req.url === `/v1/plugins/${this.id}.json`) {
        const doc = JSON.parse(readFileSync(join(this.buildDir, `v1/plugins/${this.id}.json`), 'utf8'));
        const base = doc.versions.find((v: { yanked?: unknown }) => !v.yanked);
        const sha = this.announced?.sha256 ?? sha256(this.archive);
        const size = this.announced?.size ?? this.archive.length;
        const url = `/assets/plugins/${this.id}-${this.version}.mpn`;
        const extra = {
          ...base,
          version: this.version,
          archive: { url, sha256: sha, size_bytes: size },
          ...(this.tier ? { tier: this.tier } : {}),
        };
        for (const k of ['download_url', 'url']) if (k in extra) extra[k] = url;
        if ('sha256' in extra) extra.sha256 = sha;
        if ('size_bytes' in extra) extra.size_bytes = size;
        doc.versions.unshift(extra);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
        return;
      }
      if (req.url === `/assets/plugins/${this.id}-${this.version}.mpn`) return this.deliver(req, res);
      try {
        res.writeHead(200).end(readFileSync(join(this.buildDir, (req.url ?? '/').slice(1))));
      } catch {
        res.writeHead(404).end('{}');
      }
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  private deliver(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    const bytes = this.archive;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    switch (this.fault) {
      case 'flip': {
        const b = Buffer.from(bytes);
        b[100] = (b[100]! + 1) % 256;
        res.writeHead(200, { 'content-length': b.length }).end(b);
        return;
      }
      case 'truncate':
        res.writeHead(200).end(bytes.subarray(0, bytes.length - 10));
        return;
      case 'longer':
        res.writeHead(200).end(Buffer.concat([bytes, Buffer.from('extra')]));
        return;
      case 'slow': {
        // One byte a second, for ever: only a timeout ends it.
        res.writeHead(200, { 'content-length': bytes.length });
        let i = 0;
        const t = setInterval(
          () => (i < bytes.length ? res.write(bytes.subarray(i, ++i)) : clearInterval(t)),
          1000,
        );
        res.on('close', () => clearInterval(t));
        return;
      }
      case 'trickle': {
        // 64 bytes every 100 ms: never idle long enough for the idle timeout, far below any
        // useful rate (an archive of a few hundred KiB would take many minutes).
        res.writeHead(200, { 'content-length': bytes.length });
        let i = 0;
        const t = setInterval(() => {
          if (i >= bytes.length) return clearInterval(t);
          res.write(bytes.subarray(i, i + 64));
          i += 64;
        }, 100);
        res.on('close', () => clearInterval(t));
        return;
      }
      case 'reset-once':
        if (this.resets++ === 0) {
          res.writeHead(200, { 'content-length': bytes.length, 'accept-ranges': 'bytes', etag: '"a1"' });
          res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => req.socket.destroy());
          return;
        }
        if (range) {
          const from = Number(range[1]);
          res
            .writeHead(206, {
              'content-length': bytes.length - from,
              'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}`,
              'accept-ranges': 'bytes',
              etag: '"a1"',
            })
            .end(bytes.subarray(from));
          return;
        }
        res.writeHead(200, { 'content-length': bytes.length, 'accept-ranges': 'bytes' }).end(bytes);
        return;
      default:
        res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    }
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

/**
 * A build of the repo catalog plus one more plugin, `<from>` packed again under the id `newId`
 * (community tier), for tests that need more plugins than the catalog has. Returns the build dir.
 */
export async function buildCatalogWithCopy(work: string, from: string, newId: string): Promise<string> {
  return buildCatalogWithPlugin(work, from, newId, [{ version: '1.0.0' }]);
}

/**
 * A build of the repo catalog plus the plugin `newId` (community tier) in the given versions, each
 * `<from>`'s sources packed again under that id after `mutate` edited them (an install section of
 * one method, a main.py that never gets ready…). Returns the build dir.
 */
export async function buildCatalogWithPlugin(
  work: string,
  from: string,
  newId: string,
  versions: { version: string; mutate?: (dir: string) => void }[],
): Promise<string> {
  const { loadCatalog, writeHubBuild } = await import('@magellon/hub-core/node');
  const catalog = join(mkdtempSync(join(work, 'catalog-')), 'catalog');
  cpSync(join(REPO, 'catalog'), catalog, { recursive: true });
  mkdirSync(join(catalog, 'plugins', newId));
  for (const { version, mutate } of versions) {
    const { bytes, archiveId } = await packVariantWithId(work, from, version, (d) => {
      const m = join(d, 'manifest.yaml');
      writeFileSync(m, readFileSync(m, 'utf8').replace(/^plugin_id:.*$/m, `plugin_id: ${newId}`));
      mutate?.(d);
    });
    const file = `${newId}-${version}.mpn`;
    writeFileSync(join(catalog, 'assets', 'plugins', file), bytes);
    const entry = readFileSync(join(catalog, 'plugins', from, '1.0.0.yaml'), 'utf8')
      .replace(/^plugin_id:.*$/m, `plugin_id: ${newId}`)
      .replace(/^version:.*$/m, `version: ${version}`)
      .replace(/^tier:.*$/m, 'tier: community')
      .replace(/url: .*$/m, `url: /assets/plugins/${file}`)
      .replace(/sha256: .*$/m, `sha256: ${sha256(bytes)}`)
      .replace(/size_bytes: .*$/m, `size_bytes: ${bytes.length}`)
      .replace(/^archive_id:.*$/m, `archive_id: ${archiveId}`);
    writeFileSync(join(catalog, 'plugins', newId, `${version}.yaml`), entry);
  }
  const loaded = await loadCatalog(catalog);
  const out = join(work, `build-${newId}`);
  const built = await writeHubBuild(loaded.root, loaded.entries, out, { removeOld: 'wait' });
  if (!built.ok) throw new Error(`the test catalog did not build: ${built.findings[0]?.message}`);
  return out;
}

/** Makes `entries` (YAML list items, two-space indented) the whole install section of the plugin in `dir`. */
export function installOnly(dir: string, entries: string): void {
  const m = join(dir, 'manifest.yaml');
  const text = readFileSync(m, 'utf8');
  const next = text.replace(/^install:\n(?:(?: .*)?\n)*/m, `install:\n${entries}`);
  if (next === text) throw new Error(`${m} has no install section`);
  writeFileSync(m, next);
}
