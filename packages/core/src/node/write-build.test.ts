import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { generateCatalog } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE_MANIFEST, bytesEtag } from '../layout';
import { bundleManifestSchema } from '../schema/api';
import { indexDocumentSchema, pluginDocumentSchema } from '../schema/documents';
import { loadCatalog } from './load-catalog';
import { BUILD_MARKER, BuildError, writeHubBuild } from './write-build';

const STARTER = join(import.meta.dirname, '../../../../catalog');
const ROOT = mkdtempSync(join(tmpdir(), 'hub-write-build-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true, maxRetries: 3 }));

function catalogWith(plugins: number, versions: number): string {
  const dir = mkdtempSync(join(ROOT, 'catalog-'));
  generateCatalog(dir, plugins, versions);
  return dir;
}

function copyStarter(): string {
  const dir = mkdtempSync(join(ROOT, 'starter-'));
  cpSync(STARTER, dir, { recursive: true });
  return dir;
}

const wait = { removeOld: 'wait' } as const;
const tree = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

async function build(catalog: string, out: string) {
  const { entries } = await loadCatalog(catalog, { displayFrom: catalog });
  return writeHubBuild(catalog, entries, out, { ...wait, displayFrom: catalog });
}

describe('writeHubBuild', () => {
  it('writes every document, and the same catalog twice gives the same bytes', async () => {
    const dir = catalogWith(12, 3);
    const { entries } = await loadCatalog(dir);
    const a = join(ROOT, 'a');
    const b = join(ROOT, 'b');
    const result = await writeHubBuild(dir, entries, a, wait);
    await writeHubBuild(dir, [...entries].reverse(), b, wait);
    expect(result.ok && result.stats).toMatchObject({ plugins: 12, versions: 36, archives: 0 });
    expect(readdirSync(join(a, 'v1', 'plugins')).filter((f) => f.endsWith('.json'))).toHaveLength(12);
    for (const f of [
      'v1/index.json',
      'v1/categories.json',
      'v1/plugins/bench-plugin-00003.json',
      BUNDLE_MANIFEST,
    ]) {
      expect(readFileSync(join(b, f), 'utf8'), f).toBe(readFileSync(join(a, f), 'utf8'));
    }
    indexDocumentSchema.parse(JSON.parse(readFileSync(join(a, 'v1/index.json'), 'utf8')));
    pluginDocumentSchema.parse(
      JSON.parse(readFileSync(join(a, 'v1/plugins/bench-plugin-00000.json'), 'utf8')),
    );
  });

  it('writes each document gzip- and brotli-encoded beside it, and a manifest with its ETag and sizes', async () => {
    const dir = copyStarter();
    const out = join(ROOT, 'bundle-out');
    expect((await build(dir, out)).ok).toBe(true);
    const manifest = bundleManifestSchema.parse(JSON.parse(readFileSync(join(out, BUNDLE_MANIFEST), 'utf8')));
    const paths = Object.keys(manifest.documents);
    expect(paths).toEqual(
      expect.arrayContaining(['v1/index.json', 'v1/openapi.json', 'v1/categories/ctf.json']),
    );
    const etags = new Set<string>();
    for (const path of paths) {
      const identity = readFileSync(join(out, path));
      const doc = manifest.documents[path]!;
      expect(gunzipSync(readFileSync(join(out, `${path}.gz`))).equals(identity), path).toBe(true);
      expect(brotliDecompressSync(readFileSync(join(out, `${path}.br`))).equals(identity), path).toBe(true);
      expect([doc.size, doc.gzip, doc.br]).toEqual([
        identity.length,
        statSync(join(out, `${path}.gz`)).size,
        statSync(join(out, `${path}.br`)).size,
      ]);
      expect(doc.etag).toBe(await bytesEtag(identity));
      etags.add(doc.etag);
    }
    expect(etags.size).toBe(paths.length);
    expect(manifest.archives['assets/plugins/fft-1.1.0.mpn']?.size).toBe(
      statSync(join(out, 'assets/plugins/fft-1.1.0.mpn')).size,
    );
    expect(Object.keys(manifest.archives)).toHaveLength(15);
  });

  it('copies every local archive byte for byte into assets/plugins/', async () => {
    const dir = copyStarter();
    const out = join(ROOT, 'starter-out');
    const result = await build(dir, out);
    expect(result.ok && result.stats.archives).toBe(15);
    const mpn = 'assets/plugins/fft-1.1.0.mpn';
    expect(readFileSync(join(out, mpn)).equals(readFileSync(join(dir, mpn)))).toBe(true);
  });

  it('replaces its own previous build, dropping documents of removed plugins and leaving no temp dirs', async () => {
    const dir = catalogWith(3, 1);
    const out = join(ROOT, 'replace');
    await writeHubBuild(dir, (await loadCatalog(dir)).entries, out, wait);
    rmSync(join(dir, 'plugins', 'bench-plugin-00002'), { recursive: true });
    await writeHubBuild(dir, (await loadCatalog(dir)).entries, out, wait);
    expect(readdirSync(join(out, 'v1', 'plugins')).sort()).toEqual([
      'bench-plugin-00000.json',
      'bench-plugin-00000.json.br',
      'bench-plugin-00000.json.gz',
      'bench-plugin-00001.json',
      'bench-plugin-00001.json.br',
      'bench-plugin-00001.json.gz',
    ]);
    expect(existsSync(join(out, BUILD_MARKER))).toBe(true);
    expect(readdirSync(ROOT).filter((n) => n.includes('.building-') || n.includes('.old-'))).toEqual([]);
  });

  it('rebuilding reuses the compressed copies of unchanged documents and remakes the rest', async () => {
    const dir = catalogWith(6, 2);
    const out = join(ROOT, 'reuse');
    expect((await build(dir, out)).ok).toBe(true);
    const ino = (f: string) => statSync(join(out, f)).ino;
    const before = new Map(
      tree(out)
        .filter((f) => f.startsWith('v1/plugins/'))
        .map((f) => [f, ino(f)]),
    );
    // Change one plugin: its document (and the index) change, the other plugins' do not.
    const [first] = readdirSync(join(dir, 'plugins')).sort();
    const entryFile = join(dir, 'plugins', first!, readdirSync(join(dir, 'plugins', first!))[0]!);
    writeFileSync(
      entryFile,
      readFileSync(entryFile, 'utf8').replace(
        /^description: .*$/m,
        'description: changed for the reuse test',
      ),
    );
    // A previous copy that is not what the manifest says is never reused.
    const [, second] = readdirSync(join(dir, 'plugins')).sort();
    writeFileSync(join(out, 'v1/plugins', `${second}.json.gz`), 'not gzip');
    expect((await build(dir, out)).ok).toBe(true);
    for (const [f, i] of before) {
      const changed = f.startsWith(`v1/plugins/${first}.json`) || f.startsWith(`v1/plugins/${second}.json`);
      expect(ino(f) === i, f).toBe(!changed);
    }
    const manifest = bundleManifestSchema.parse(JSON.parse(readFileSync(join(out, BUNDLE_MANIFEST), 'utf8')));
    for (const [path, d] of Object.entries(manifest.documents)) {
      const identity = readFileSync(join(out, path));
      expect(await bytesEtag(identity), path).toBe(d.etag);
      expect(gunzipSync(readFileSync(join(out, `${path}.gz`))).equals(identity), path).toBe(true);
      expect(brotliDecompressSync(readFileSync(join(out, `${path}.br`))).equals(identity), path).toBe(true);
    }
    expect(readFileSync(join(out, 'v1/plugins', `${first}.json`), 'utf8')).toContain(
      'changed for the reuse test',
    );
  });

  it('an unchanged catalog leaves an intact output untouched; a missing file makes it build again', async () => {
    const dir = copyStarter();
    const out = join(ROOT, 'unchanged');
    const first = await build(dir, out);
    expect(first.ok && first.stats.unchanged).toBeFalsy();
    const inos = new Map(tree(out).map((f) => [f, statSync(join(out, f)).ino]));
    const again = await build(dir, out);
    expect(again.ok && again.stats.unchanged).toBe(true);
    expect(new Map(tree(out).map((f) => [f, statSync(join(out, f)).ino]))).toEqual(inos);
    unlinkSync(join(out, 'v1/plugins/fft.json.br'));
    const repaired = await build(dir, out);
    expect(repaired.ok && repaired.stats.unchanged).toBeFalsy();
    expect(existsSync(join(out, 'v1/plugins/fft.json.br'))).toBe(true);
    expect(tree(out)).toEqual([...inos.keys()]);
  });

  it('reuses nothing from a previous build whose v1 dir is a link', async () => {
    const dir = catalogWith(3, 1);
    const out = join(ROOT, 'reuse-link');
    expect((await build(dir, out)).ok).toBe(true);
    const elsewhere = join(ROOT, 'elsewhere-v1');
    cpSync(join(out, 'v1'), elsewhere, { recursive: true });
    rmSync(join(out, 'v1'), { recursive: true });
    symlinkSync(elsewhere, join(out, 'v1'));
    const inos = tree(elsewhere).map((f) => statSync(join(elsewhere, f)).ino);
    expect((await build(dir, out)).ok).toBe(true);
    const now = new Set(tree(join(out, 'v1')).map((f) => statSync(join(out, 'v1', f)).ino));
    expect(inos.filter((i) => now.has(i))).toEqual([]);
  });

  it('removes the previous build in the background by default', async () => {
    const dir = catalogWith(2, 1);
    const out = join(ROOT, 'background');
    const { entries } = await loadCatalog(dir);
    await writeHubBuild(dir, entries, out);
    await writeHubBuild(dir, entries, out);
    expect(tree(out)).toContain('v1/index.json');
    // The detached remover finishes on its own; poll (bounded) until the renamed-aside tree is gone.
    for (let i = 0; i < 100 && readdirSync(ROOT).some((n) => n.startsWith('.background.old-')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(readdirSync(ROOT).filter((n) => n.startsWith('.background.old-'))).toEqual([]);
  });

  it('refuses to replace a dir it did not make, the catalog, its parent, or a dir inside it', async () => {
    const dir = catalogWith(1, 1);
    const { entries } = await loadCatalog(dir);
    const precious = join(ROOT, 'precious');
    mkdirSync(precious);
    writeFileSync(join(precious, 'thesis.tex'), 'years of work');
    await expect(writeHubBuild(dir, entries, precious)).rejects.toThrow(BuildError);
    expect(readFileSync(join(precious, 'thesis.tex'), 'utf8')).toBe('years of work');
    await expect(writeHubBuild(dir, entries, dir)).rejects.toThrow(/holds the catalog/);
    await expect(writeHubBuild(dir, entries, join(dir, '..'))).rejects.toThrow(/holds the catalog/);
    await expect(writeHubBuild(dir, entries, join(dir, 'plugins', 'dist'))).rejects.toThrow(
      /inside the catalog/,
    );
    expect(existsSync(join(dir, 'plugins', 'dist'))).toBe(false);
  });

  it('refuses an --out under a regular file or under /proc cleanly, creating nothing', async () => {
    const dir = catalogWith(1, 1);
    const { entries } = await loadCatalog(dir);
    const file = join(ROOT, 'a-file');
    writeFileSync(file, 'x');
    const err = await writeHubBuild(dir, entries, join(file, 'dist')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('build.bad-out');
    expect((err as BuildError).message).not.toMatch(/ENOTDIR: ENOTDIR/);
    await expect(writeHubBuild(dir, entries, '/proc/hub-build-test/dist')).rejects.toThrow(BuildError);
    expect(existsSync('/proc/hub-build-test')).toBe(false);
  });

  it('creates missing parents of --out', async () => {
    const dir = catalogWith(1, 1);
    const out = join(ROOT, 'deep', 'er', 'dist');
    const result = await writeHubBuild(dir, (await loadCatalog(dir)).entries, out, wait);
    expect(result.ok).toBe(true);
    expect(existsSync(join(out, 'v1', 'index.json'))).toBe(true);
  });
});

describe('a build whose archives fail their checks', () => {
  it('is refused with findings on the entry lines, and the previous build stays exactly as it was', async () => {
    const dir = copyStarter();
    const out = join(ROOT, 'fail-closed');
    expect((await build(dir, out)).ok).toBe(true);
    const before = tree(out);
    const index = readFileSync(join(out, 'v1', 'index.json'), 'utf8');

    unlinkSync(join(dir, 'assets/plugins/ptolemy-0.2.0.mpn'));
    const file = join(dir, 'assets/plugins/topaz-0.3.0.mpn');
    const bytes = readFileSync(file);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30]! + 1) % 256;
    writeFileSync(file, bytes);

    const result = await build(dir, out);
    expect(result.ok).toBe(false);
    expect(result.findings.map((f) => [f.file, f.code])).toEqual([
      ['plugins/ptolemy/0.2.0.yaml', 'archive.missing'],
      ['plugins/topaz/0.3.0.yaml', 'archive.sha256-mismatch'],
    ]);
    expect(result.findings.every((f) => (f.line ?? 0) > 1)).toBe(true);
    expect(tree(out)).toEqual(before);
    expect(readFileSync(join(out, 'v1', 'index.json'), 'utf8')).toBe(index);
    expect(readdirSync(ROOT).filter((n) => n.includes('.building-'))).toEqual([]);
  });

  it('never copies an archive that is a link out of the catalog', async () => {
    const dir = copyStarter();
    const secret = join(ROOT, 'secret.mpn');
    cpSync(join(dir, 'assets/plugins/fft-1.0.0.mpn'), secret);
    unlinkSync(join(dir, 'assets/plugins/fft-1.0.0.mpn'));
    symlinkSync(secret, join(dir, 'assets/plugins/fft-1.0.0.mpn'));
    const out = join(ROOT, 'outside-link');
    const result = await build(dir, out);
    expect(result.ok).toBe(false);
    expect(result.findings.map((f) => [f.file, f.code])).toEqual([
      ['plugins/fft/1.0.0.yaml', 'path.outside-tree'],
    ]);
    expect(existsSync(out)).toBe(false);
  });
});
