import { describe, expect, it } from 'vitest';
import { readManifest } from '../manifest/read-manifest';
import { loadCatalogFrom } from '../node/load-catalog';
import { checkEntryBytes } from '../node/read-entry';
import { MemoryCatalogSource } from '../node/source/memory-source';
import { parseYaml } from './parse-yaml';

const ENTRY = `plugin_id: fft
version: 1.0.0
name: FFT
description: Spectra.
category: fft
author: Lab
license: MIT
tier: community
requires_sdk: ">=2.0,<3.0"
published_at: "2025-03-10T09:00:00Z"
archive:
  url: /assets/plugins/fft-1.0.0.mpn
  sha256: ${'a'.repeat(64)}
  size_bytes: 100
archive_id: 01957f48-4e80-7226-be34-36819bfa9d81
`;

const MANIFEST = `manifest_version: "1"
plugin_id: fft
name: FFT
version: 1.0.0
requires_sdk: ">=2.0,<3.0"
category: fft
install:
  - method: uv
    pyproject: pyproject.toml
`;

const entry = (text: string) =>
  checkEntryBytes(Buffer.from(text), { file: 'plugins/fft/1.0.0.yaml', dir: 'fft', fileName: '1.0.0.yaml' });
const where = (findings: readonly { code: string; line?: number }[]) => findings.map((f) => [f.code, f.line]);

describe('anchors, aliases and merge keys are refused (yaml.alias), scalars included', () => {
  // Each changes a valid document in one way; the finding points at the line of the anchor or key.
  const cases: Array<[string, (t: string) => string, number]> = [
    ['a scalar anchor and its alias', (t) => t.replace('author: Lab', 'author: &who Lab\nx-who: *who'), 6],
    ['an anchor on a scalar, never used', (t) => t.replace('name: FFT', 'name: &n FFT'), 3],
    ['an alias of a mapping', (t) => `${t}x-a: &a {k: v}\nx-b: *a\n`, 16],
    ['a merge key with an alias', (t) => `${t}base: &b {k: v}\nx-m:\n  <<: *b\n`, 16],
    ['a merge key with an inline mapping', (t) => `${t}x-m:\n  <<: {k: v}\n`, 17],
    ['an anchor on a key', (t) => t.replace('category: fft', '&k category: fft'), 5],
  ];

  it.each(cases)('a catalog entry with %s', (_what, change, line) => {
    expect(where(entry(change(ENTRY)).findings)).toEqual([['yaml.alias', line]]);
  });

  it.each(cases)('a manifest (read as PyYAML would, merge keys included) with %s', (_what, change) => {
    const text = change(MANIFEST.replace('name: FFT', 'name: FFT\nauthor: Lab'));
    const read = readManifest(text, 'manifest.yaml');
    expect(read.ok).toBe(false);
    expect(read.ok ? [] : read.findings.map((f) => f.code)).toEqual(['yaml.alias']);
  });

  it('maintainers.yaml with an aliased login', () => {
    const source = new MemoryCatalogSource({
      'plugins/README.md': 'x',
      'maintainers.yaml': 'maintainers:\n  - github: &me octocat\n  - github: *me\n',
    });
    const { findings } = loadCatalogFrom(source);
    expect(findings.map((f) => [f.file, f.code, f.line])).toEqual([
      ['catalog/maintainers.yaml', 'yaml.alias', 2],
    ]);
  });

  it('leaves "&", "*" and "<<" inside ordinary text alone', () => {
    const text = ENTRY.replace(
      'description: Spectra.',
      'description: "R&D *fast* <<and>> a & b"\n# a comment: &x *x',
    );
    expect(entry(text).findings).toEqual([]);
    const quotedKey = parseYaml('"<<": 1\n', 'x.yaml', { flavour: 'core', maxBytes: 1024 });
    expect(quotedKey.ok).toBe(true);
  });

  it('a "billion laughs" document is refused without expanding it', () => {
    let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 30; i++)
      text += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    // Expanded, this would be 10^30 strings: the test could not finish.
    const read = parseYaml(text, 'bomb.yaml', { flavour: 'sdk', maxBytes: 1 << 20 });
    expect(read.ok ? undefined : [read.finding.code, read.finding.line]).toEqual(['yaml.alias', 1]);
  });
});

describe('keys named like Object.prototype members are ordinary keys', () => {
  it('"__proto__", "constructor" and "toString" in a catalog entry are unknown fields at their lines', () => {
    const text = `${ENTRY}__proto__: {tier: verified}\nconstructor: x\ntoString: y\n`;
    expect(where(entry(text).findings)).toEqual([
      ['entry.unknown-field', 16],
      ['entry.unknown-field', 17],
      ['entry.unknown-field', 18],
    ]);
  });

  it('file_checksums keys "constructor" and "__proto__" with a bad sha256 are invalid-sha256 at their lines', () => {
    const read = readManifest(
      `${MANIFEST}file_checksums:\n  constructor: nothex\n  __proto__: nothex\n`,
      'manifest.yaml',
    );
    expect(read.ok ? [] : read.findings.map((f) => [f.code, f.line])).toEqual([
      ['manifest.invalid-sha256', 11],
      ['manifest.invalid-sha256', 12],
    ]);
    const good = readManifest(
      `${MANIFEST}file_checksums:\n  __proto__: ${'a'.repeat(64)}\n`,
      'manifest.yaml',
    );
    expect(good.ok && Object.keys(good.manifest.file_checksums)).toEqual(['__proto__']);
  });

  it('"__proto__" in a manifest is kept as a key (never the prototype), so it cannot set fields', () => {
    const read = readManifest(`${MANIFEST}__proto__: {plugin_id: evil, tier: verified}\n`, 'manifest.yaml');
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.manifest.plugin_id).toBe('fft');
    expect(Object.getPrototypeOf(read.raw)).toBe(Object.prototype);
    expect(Object.hasOwn(read.raw, '__proto__')).toBe(true);
  });
});
