import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCatalog, loadCatalogFrom } from './load-catalog';
import { MemoryCatalogSource } from './source/memory-source';

const MAINTAINERS = 'maintainers:\n  - github: octocat\n';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-load-catalog-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

const BROKEN = join(import.meta.dirname, '../../test/fixtures/broken-catalog');
const expected: Array<{ file: string; line: number | null; code: string }> = JSON.parse(
  readFileSync(join(BROKEN, 'expected-findings.json'), 'utf8'),
);

describe('loadCatalog on the broken fixtures (one problem per file)', async () => {
  const catalog = await loadCatalog(BROKEN, { displayFrom: BROKEN });
  const errors = catalog.findings.filter((f) => f.severity === 'error');

  it('reports exactly one finding per broken file, with its code and line', () => {
    const got = errors.map((f) => ({ file: f.file, line: f.line ?? null, code: f.code }));
    expect(got).toEqual([...expected].sort((a, b) => (a.file < b.file ? -1 : 1)));
  });

  it('still loads the valid entries around them', () => {
    expect(catalog.entries.map((e) => e.file)).toContain('plugins/good/1.0.0.yaml');
  });

  it('gives messages that say what to fix, never a stack trace', () => {
    // What each message must name for the author to act on it.
    const says: Record<string, RegExp> = {
      'yaml.syntax': /YAML/,
      'yaml.duplicate-key': /duplicate key/,
      'yaml.alias': /anchors, aliases and merge keys/,
      'yaml.not-mapping': /mapping/,
      'entry.unknown-field': /colour/,
      'entry.invalid-slug': /slug/,
      'entry.invalid-semver': /SemVer|quote it/,
      'entry.invalid-sha256': /64 lowercase hex/,
      'entry.invalid-tier': /verified/,
      'entry.invalid-date': /ISO 8601/,
      'entry.missing-field': /author/,
      'path.plugin-id-mismatch': /folder/,
      'path.version-mismatch': /file name/,
      'path.bad-layout': /\.yaml/,
      'catalog.duplicate-version': /same SemVer precedence/,
    };
    for (const f of errors) {
      expect(f.message).not.toMatch(/\n\s+at /);
      expect(f.message, f.code).toMatch(says[f.code] ?? /^$/);
    }
    const tier = errors.find((f) => f.code === 'entry.invalid-tier');
    expect(tier?.message).toContain('verified');
    const unknown = errors.find((f) => f.code === 'entry.unknown-field');
    expect(unknown?.message).toContain('colour');
    expect(unknown?.column).toBe(1);
  });
});

describe('loadCatalog on odd trees', () => {
  it('reports a missing plugins/ dir as one finding', async () => {
    const dir = mkdtempSync(join(ROOT, 'empty-'));
    const catalog = await loadCatalog(dir, { displayFrom: dir });
    expect(catalog.findings.map((f) => f.code)).toEqual(['catalog.not-found']);
  });

  it('refuses an oversized entry before parsing it', async () => {
    const dir = mkdtempSync(join(ROOT, 'big-'));
    mkdirSync(join(dir, 'plugins', 'big'), { recursive: true });
    writeFileSync(join(dir, 'plugins', 'big', '1.0.0.yaml'), `description: "${'x'.repeat(70_000)}"\n`);
    const catalog = await loadCatalog(dir, { displayFrom: dir });
    expect(catalog.findings.find((f) => f.file === 'plugins/big/1.0.0.yaml')?.code).toBe('yaml.too-large');
  });
});

describe('file names under assets/ that a case-insensitive checkout would merge', () => {
  const collisions = (files: Record<string, string>) =>
    loadCatalogFrom(
      new MemoryCatalogSource({ 'plugins/README.md': 'x', 'maintainers.yaml': MAINTAINERS, ...files }),
    )
      .findings.filter((f) => f.code === 'catalog.asset-name-collision')
      .map((f) => f.file);

  it('are a finding on each file of the group, for case, Unicode normalization and full case folding', () => {
    expect(
      collisions({
        'assets/plugins/fft-1.0.0.mpn': 'a',
        'assets/plugins/FFT-1.0.0.mpn': 'b',
        'assets/plugins/caf\u00e9.mpn': 'c',
        'assets/plugins/cafe\u0301.mpn': 'd',
        'assets/plugins/stra\u00dfe.mpn': 'e',
        'assets/plugins/STRASSE.mpn': 'f',
        'assets/Plugins/x.mpn': 'g',
        'assets/plugins/x.mpn': 'h',
      }).sort(),
    ).toEqual(
      [
        'catalog/assets/Plugins/x.mpn',
        'catalog/assets/plugins/FFT-1.0.0.mpn',
        'catalog/assets/plugins/STRASSE.mpn',
        'catalog/assets/plugins/caf\u00e9.mpn',
        'catalog/assets/plugins/cafe\u0301.mpn',
        'catalog/assets/plugins/fft-1.0.0.mpn',
        'catalog/assets/plugins/stra\u00dfe.mpn',
        'catalog/assets/plugins/x.mpn',
      ].sort(),
    );
  });

  it('leave distinct names, and names only outside assets/, alone', () => {
    expect(
      collisions({
        'assets/plugins/fft-1.0.0.mpn': 'a',
        'assets/plugins/fft-1.1.0.mpn': 'b',
        'assets/plugins/__proto__.mpn': 'c',
        'assets/plugins/constructor.mpn': 'd',
        'docs/README.md': 'e',
        'docs/readme.md': 'f',
      }),
    ).toEqual([]);
  });
});
