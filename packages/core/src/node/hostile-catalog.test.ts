import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCatalogArchives, locateArchive } from './check-archives';
import { loadCatalog } from './load-catalog';

const STARTER = join(import.meta.dirname, '../../../../catalog');
const ROOT = mkdtempSync(join(tmpdir(), 'hub-hostile-catalog-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

function copyStarter(): string {
  const dir = mkdtempSync(join(ROOT, 'catalog-'));
  cpSync(STARTER, dir, { recursive: true });
  return dir;
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

const load = (dir: string) => loadCatalog(dir, { displayFrom: dir });
const codesFor = (findings: { file: string; code: string }[], file: string) =>
  findings.filter((f) => f.file === file).map((f) => f.code);

describe('catalog files that are not what they seem', () => {
  it('reports a FIFO where an entry belongs, without opening it (the run does not hang)', async () => {
    const dir = copyStarter();
    mkfifo(join(dir, 'plugins/fft/9.9.9.yaml'));
    const catalog = await load(dir);
    expect(codesFor(catalog.findings, 'plugins/fft/9.9.9.yaml')).toEqual(['path.not-regular-file']);
    expect(catalog.entries).toHaveLength(15);
  });

  it('reports a link to a device as leaving the catalog, and a link to a FIFO inside it as not a file', async () => {
    const dir = copyStarter();
    symlinkSync('/dev/zero', join(dir, 'plugins/fft/9.9.9.yaml'));
    mkfifo(join(dir, 'pipe'));
    symlinkSync('../../pipe', join(dir, 'plugins/ctf/9.9.9.yaml'));
    const catalog = await load(dir);
    expect(codesFor(catalog.findings, 'plugins/fft/9.9.9.yaml')).toEqual(['path.outside-tree']);
    expect(codesFor(catalog.findings, 'plugins/ctf/9.9.9.yaml')).toEqual(['path.not-regular-file']);
  });

  it('never reads an entry whose link leaves the catalog, but follows links that stay inside', async () => {
    const dir = copyStarter();
    const outside = mkdtempSync(join(ROOT, 'outside-'));
    // A perfectly valid entry outside the catalog: had it been read, it would have been loaded.
    writeFileSync(join(outside, '1.0.0.yaml'), readFileSync(join(dir, 'plugins/fft/1.0.0.yaml')));
    unlinkSync(join(dir, 'plugins/fft/1.0.0.yaml'));
    symlinkSync(join(outside, '1.0.0.yaml'), join(dir, 'plugins/fft/1.0.0.yaml'));
    // A linked plugin folder outside, and one inside the catalog.
    symlinkSync(outside, join(dir, 'plugins/evil'));
    mkdirSync(join(dir, 'shared'));
    cpSync(join(dir, 'plugins/topaz'), join(dir, 'shared/topaz'), { recursive: true });
    rmSync(join(dir, 'plugins/topaz'), { recursive: true });
    symlinkSync('../shared/topaz', join(dir, 'plugins/topaz'));

    const catalog = await load(dir);
    expect(codesFor(catalog.findings, 'plugins/fft/1.0.0.yaml')).toEqual(['path.outside-tree']);
    expect(codesFor(catalog.findings, 'plugins/evil')).toEqual(['path.outside-tree']);
    const ids = catalog.entries.map((e) => `${e.entry.plugin_id}@${e.entry.version}`);
    expect(ids).not.toContain('fft@1.0.0');
    expect(ids).toContain('topaz@0.3.0');
  });

  it('counts the 64 KiB entry limit in bytes, not characters', async () => {
    const dir = copyStarter();
    // 30,000 three-byte characters: under 64 Ki characters, over 64 KiB.
    writeFileSync(join(dir, 'plugins/fft/9.9.9.yaml'), `description: "${'€'.repeat(30_000)}"\n`);
    const catalog = await load(dir);
    const f = catalog.findings.find((x) => x.file === 'plugins/fft/9.9.9.yaml');
    expect(f?.code).toBe('yaml.too-large');
    expect(f?.message).toMatch(/90\d{3} bytes/);
  });

  it('bounds maintainers.yaml too, and refuses a FIFO there', async () => {
    const big = copyStarter();
    writeFileSync(join(big, 'maintainers.yaml'), `maintainers:\n${'  - github: someone\n'.repeat(20_000)}`);
    expect(codesFor((await load(big)).findings, 'maintainers.yaml')).toEqual(['yaml.too-large']);
    const fifo = copyStarter();
    unlinkSync(join(fifo, 'maintainers.yaml'));
    mkfifo(join(fifo, 'maintainers.yaml'));
    expect(codesFor((await load(fifo)).findings, 'maintainers.yaml')).toEqual(['path.not-regular-file']);
  });

  it('bounds a plugin’s owners.yaml, refuses a FIFO or a link leaving the catalog there, and never counts it as an owner list', async () => {
    const OWNERS = 'plugins/fft/owners.yaml';
    const big = copyStarter();
    writeFileSync(join(big, OWNERS), `owners:\n${'  - github: someone\n'.repeat(5_000)}`);
    const loaded = await load(big);
    expect(codesFor(loaded.findings, OWNERS)).toEqual(['yaml.too-large']);
    expect(loaded.owners.has('fft')).toBe(false);
    expect(loaded.owners.get('ctf')?.owners.map((o) => o.github)).toEqual(['sstagg', 'magellon-bot']);
    const fifo = copyStarter();
    unlinkSync(join(fifo, OWNERS));
    mkfifo(join(fifo, OWNERS));
    expect(codesFor((await load(fifo)).findings, OWNERS)).toEqual(['path.not-regular-file']);
    const link = copyStarter();
    const outside = mkdtempSync(join(ROOT, 'outside-'));
    writeFileSync(join(outside, 'owners.yaml'), 'owners:\n  - github: mallory\n');
    unlinkSync(join(link, OWNERS));
    symlinkSync(join(outside, 'owners.yaml'), join(link, OWNERS));
    const linked = await load(link);
    expect(codesFor(linked.findings, OWNERS)).toEqual(['path.outside-tree']);
    expect(linked.owners.has('fft')).toBe(false);
  });

  it('refuses an owners.yaml that lists a login twice (in any case) or is not a list of logins', async () => {
    const dir = copyStarter();
    writeFileSync(join(dir, 'plugins/fft/owners.yaml'), 'owners:\n  - github: sstagg\n  - github: SSTAGG\n');
    writeFileSync(join(dir, 'plugins/ctf/owners.yaml'), 'owners:\n  - github: "a b"\n');
    writeFileSync(join(dir, 'plugins/topaz/owners.yaml'), 'owners: []\n');
    const { findings, owners } = await load(dir);
    const at = (file: string) => findings.filter((f) => f.file === file).map((f) => `${f.code}:${f.line}`);
    expect(at('plugins/fft/owners.yaml')).toEqual(['owners.invalid-value:3']);
    expect(at('plugins/ctf/owners.yaml')).toEqual(['owners.invalid-value:2']);
    expect(at('plugins/topaz/owners.yaml')).toEqual(['owners.invalid-value:1']);
    expect([...owners.keys()].sort()).not.toContain('fft');
    expect(findings.find((f) => f.file === 'plugins/fft/owners.yaml')!.message).toContain('listed twice');
  });

  it('warns about a plugin without owners.yaml, and takes no other file for one', async () => {
    const dir = copyStarter();
    unlinkSync(join(dir, 'plugins/fft/owners.yaml'));
    writeFileSync(join(dir, 'plugins/fft/owners.yml'), 'owners:\n  - github: mallory\n');
    const { findings, owners } = await load(dir);
    expect(codesFor(findings, 'plugins/fft/owners.yaml')).toEqual(['catalog.no-owners']);
    expect(findings.find((f) => f.file === 'plugins/fft/owners.yaml')!.severity).toBe('warning');
    const yml = findings.find((f) => f.file === 'plugins/fft/owners.yml')!;
    expect(yml).toMatchObject({ code: 'path.bad-layout', severity: 'error' });
    expect(yml.message).toContain('rename it to owners.yaml');
    expect(owners.has('fft')).toBe(false);
  });

  it('reports bytes that are not UTF-8 at their line instead of guessing', async () => {
    const dir = copyStarter();
    const file = join(dir, 'plugins/fft/1.0.0.yaml');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[5] = `name: "FFT \xff"`;
    writeFileSync(file, Buffer.from(lines.join('\n'), 'latin1'));
    const f = (await load(dir)).findings.find((x) => x.file === 'plugins/fft/1.0.0.yaml');
    expect([f?.code, f?.line]).toEqual(['yaml.syntax', 6]);
  });
});

describe('archive URLs', () => {
  it('decodes once and keeps the decoded path under assets/', () => {
    expect(locateArchive('/c', '/assets/plugins/fft-1.0.0.mpn')).toMatchObject({
      kind: 'local',
      path: '/c/assets/plugins/fft-1.0.0.mpn',
    });
    expect(locateArchive('/c', '/assets/plugins/a%20b.mpn')).toMatchObject({
      path: '/c/assets/plugins/a b.mpn',
    });
    // Double encoding is decoded once: the file is literally named "%2e%2e".
    expect(locateArchive('/c', '/assets/plugins/%252e%252e')).toMatchObject({
      path: '/c/assets/plugins/%2e%2e',
    });
    for (const url of [
      '/assets/plugins/%2e%2e/%2e%2e/maintainers.yaml',
      '/assets/%2E%2E/plugins/fft/1.0.0.yaml',
      '/assets/plugins/..%2f..%2fmaintainers.yaml',
      '/assets/plugins/%5c..%5cx.mpn',
      '/assets/plugins/x%00.mpn',
      '/plugins/fft/1.0.0.yaml',
      '/assets/plugins/fft%zz.mpn',
      '/assets/plugins/fft%e2%82.mpn',
    ]) {
      expect(locateArchive('/c', url).kind, url).toBe('bad');
    }
    expect(locateArchive('/c', 'https://cdn.example.org/x.mpn').kind).toBe('remote');
  });

  it('reports malformed and traversing URLs, and archives that are FIFOs, at the archive.url line', async () => {
    const dir = copyStarter();
    const edit = (file: string, url: string) => {
      const path = join(dir, file);
      writeFileSync(path, readFileSync(path, 'utf8').replace(/url: .*/, `url: ${url}`));
    };
    edit('plugins/fft/1.0.0.yaml', '/assets/plugins/fft%zz.mpn');
    edit('plugins/ctf/1.0.0.yaml', '/assets/plugins/%2e%2e/%2e%2e/maintainers.yaml');
    unlinkSync(join(dir, 'assets/plugins/topaz-0.3.0.mpn'));
    mkfifo(join(dir, 'assets/plugins/topaz-0.3.0.mpn'));
    const catalog = await load(dir);
    expect(catalog.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const findings = await checkCatalogArchives(dir, catalog.entries, { displayFrom: dir });
    expect(findings.map((f) => [f.file, f.code])).toEqual([
      ['plugins/ctf/1.0.0.yaml', 'archive.bad-url'],
      ['plugins/fft/1.0.0.yaml', 'archive.bad-url'],
      ['plugins/topaz/0.3.0.yaml', 'path.not-regular-file'],
    ]);
    const urlLine = (file: string) =>
      readFileSync(join(dir, file), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('url:')) + 1;
    for (const f of findings) expect(f.line, f.file).toBe(urlLine(f.file));
  });
});
