import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCatalog } from '../../../../bench/generate-catalog';
import { indexDocumentSchema, pluginDocumentSchema } from '../schema/documents';
import { loadCatalog } from './load-catalog';
import { BUILD_MARKER, BuildError, writeHubBuild } from './write-build';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-write-build-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

function catalogWith(plugins: number, versions: number): string {
  const dir = mkdtempSync(join(ROOT, 'catalog-'));
  generateCatalog(dir, plugins, versions);
  return dir;
}

describe('writeHubBuild', () => {
  it('writes every document, and the same catalog twice gives the same bytes', async () => {
    const dir = catalogWith(12, 3);
    const { entries } = await loadCatalog(dir);
    const a = join(ROOT, 'a');
    const b = join(ROOT, 'b');
    const stats = writeHubBuild(dir, entries, a);
    writeHubBuild(dir, [...entries].reverse(), b);
    expect(stats).toMatchObject({ plugins: 12, versions: 36 });
    expect(readdirSync(join(a, 'v1', 'plugins'))).toHaveLength(12);
    for (const f of ['v1/index.json', 'v1/categories.json', 'v1/plugins/bench-plugin-00003.json']) {
      expect(readFileSync(join(b, f), 'utf8'), f).toBe(readFileSync(join(a, f), 'utf8'));
    }
    indexDocumentSchema.parse(JSON.parse(readFileSync(join(a, 'v1/index.json'), 'utf8')));
    pluginDocumentSchema.parse(
      JSON.parse(readFileSync(join(a, 'v1/plugins/bench-plugin-00000.json'), 'utf8')),
    );
  });

  it('replaces its own previous build, dropping documents of removed plugins', async () => {
    const dir = catalogWith(3, 1);
    const out = join(ROOT, 'replace');
    writeHubBuild(dir, (await loadCatalog(dir)).entries, out);
    rmSync(join(dir, 'plugins', 'bench-plugin-00002'), { recursive: true });
    writeHubBuild(dir, (await loadCatalog(dir)).entries, out);
    expect(readdirSync(join(out, 'v1', 'plugins')).sort()).toEqual([
      'bench-plugin-00000.json',
      'bench-plugin-00001.json',
    ]);
    expect(existsSync(join(out, BUILD_MARKER))).toBe(true);
    expect(readdirSync(ROOT).filter((n) => n.includes('.building-'))).toEqual([]);
  });

  it('refuses to replace a dir it did not make, or the catalog itself, and leaves them untouched', async () => {
    const dir = catalogWith(1, 1);
    const { entries } = await loadCatalog(dir);
    const precious = join(ROOT, 'precious');
    mkdirSync(precious);
    writeFileSync(join(precious, 'thesis.tex'), 'years of work');
    expect(() => writeHubBuild(dir, entries, precious)).toThrow(BuildError);
    expect(readFileSync(join(precious, 'thesis.tex'), 'utf8')).toBe('years of work');
    expect(() => writeHubBuild(dir, entries, dir)).toThrow(/holds the catalog/);
    expect(() => writeHubBuild(dir, entries, join(dir, '..'))).toThrow(/holds the catalog/);
  });

  it('a build that fails half-way leaves the previous one exactly as it was', async () => {
    const dir = catalogWith(2, 1);
    const out = join(ROOT, 'half-way');
    writeHubBuild(dir, (await loadCatalog(dir)).entries, out);
    const before = readdirSync(out, { recursive: true, encoding: 'utf8' }).sort();
    const index = readFileSync(join(out, 'v1', 'index.json'), 'utf8');
    // An archive path that is a directory: copying it fails after the documents were written.
    mkdirSync(join(dir, 'assets', 'plugins', 'bench-plugin-00001-1.0.0.mpn'), { recursive: true });
    rmSync(join(dir, 'plugins', 'bench-plugin-00000'), { recursive: true });
    const entries = (await loadCatalog(dir)).entries;
    expect(() => writeHubBuild(dir, entries, out)).toThrow(/could not write .*EISDIR/);
    expect(readdirSync(out, { recursive: true, encoding: 'utf8' }).sort()).toEqual(before);
    expect(readFileSync(join(out, 'v1', 'index.json'), 'utf8')).toBe(index);
    expect(readdirSync(ROOT).filter((n) => n.includes('.building-'))).toEqual([]);
  });
});
