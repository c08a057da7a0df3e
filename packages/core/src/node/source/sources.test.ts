import { readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PrRepo } from '../../../test/pr-repo';
import { loadCatalog, loadCatalogFrom } from '../load-catalog';
import { GitCatalogSource } from './git-source';
import { MemoryCatalogSource } from './memory-source';

const repos: PrRepo[] = [];
afterAll(() => {
  for (const r of repos) r.cleanup();
});
function repo(): PrRepo {
  const r = new PrRepo('sources');
  repos.push(r);
  return r;
}

/** Every file of a directory tree, as catalog-relative path → bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

describe('one loader, three catalog sources', () => {
  it('a directory, a git commit and memory give the same entries and the same findings', async () => {
    const r = repo();
    // Something to find: a bad tier, a stray file, and a duplicate version.
    r.edit('catalog/plugins/topaz/0.2.0.yaml', (t) => t.replace('tier: community', 'tier: gold'));
    r.write('catalog/plugins/fft/notes.txt', 'not an entry\n');
    r.commit('problems');
    const fromDir = await loadCatalog(r.path('catalog'), { displayFrom: r.dir });
    const fromGit = loadCatalogFrom(await GitCatalogSource.open(r.dir, 'HEAD', 'catalog'));
    const fromMemory = loadCatalogFrom(new MemoryCatalogSource(filesOf(r.path('catalog')), 'catalog'));
    expect(fromDir.findings.map((f) => f.code)).toEqual(
      expect.arrayContaining(['entry.invalid-tier', 'path.bad-layout']),
    );
    for (const other of [fromGit, fromMemory]) {
      expect(other.findings).toEqual(fromDir.findings);
      expect(other.entries).toEqual(fromDir.entries);
      expect(other.maintainers).toEqual(fromDir.maintainers);
      expect(other.owners).toEqual(fromDir.owners);
    }
    expect(fromGit.entries.length).toBe(14);
    expect(fromGit.owners.size).toBe(9);
  });

  it('git: another ref sees that ref, not the work tree', async () => {
    const r = repo();
    r.remove('catalog/plugins/topaz');
    r.write('catalog/plugins/fft/9.9.9.yaml', 'uncommitted: true\n');
    r.commit('drop topaz');
    r.write('catalog/plugins/fft/8.8.8.yaml', 'not committed at all\n');
    const main = loadCatalogFrom(await GitCatalogSource.open(r.dir, 'main', 'catalog'));
    expect(main.entries.filter((e) => e.entry.plugin_id === 'topaz').length).toBe(2);
    expect(main.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const head = loadCatalogFrom(await GitCatalogSource.open(r.dir, 'HEAD', 'catalog'));
    expect(head.entries.some((e) => e.entry.plugin_id === 'topaz')).toBe(false);
    expect(head.findings.map((f) => f.file)).toContain('catalog/plugins/fft/9.9.9.yaml');
    expect(head.findings.map((f) => f.file)).not.toContain('catalog/plugins/fft/8.8.8.yaml');
  });

  it('git: a link in the tree is never followed and an oversized entry is refused unread', async () => {
    const r = repo();
    symlinkSync('/etc/passwd', r.path('catalog/plugins/fft/2.0.0.yaml'));
    symlinkSync('../fft', r.path('catalog/plugins/fft-alias'));
    r.write('catalog/plugins/ctf/3.0.0.yaml', `description: "${'x'.repeat(70 * 1024)}"\n`);
    r.commit('hostile');
    const head = loadCatalogFrom(await GitCatalogSource.open(r.dir, 'HEAD', 'catalog'));
    const by = (file: string) => head.findings.find((f) => f.file === file);
    expect(by('catalog/plugins/fft/2.0.0.yaml')).toMatchObject({ code: 'path.not-regular-file' });
    expect(by('catalog/plugins/fft/2.0.0.yaml')!.message).toContain('symbolic link');
    expect(by('catalog/plugins/fft-alias')).toMatchObject({ code: 'path.not-regular-file' });
    expect(by('catalog/plugins/ctf/3.0.0.yaml')).toMatchObject({ code: 'yaml.too-large' });
    // Nothing of /etc/passwd reached any message.
    expect(JSON.stringify(head.findings)).not.toContain('root:');
  });

  it('a catalog at the repo root, and one with no plugins/ folder', async () => {
    const r = repo();
    const atRoot = loadCatalogFrom(new MemoryCatalogSource(filesOf(r.path('catalog')), ''));
    expect(atRoot.entries[0]!.file).toMatch(/^plugins\//);
    const empty = loadCatalogFrom(await GitCatalogSource.open(r.dir, 'HEAD', 'nowhere'));
    expect(empty.findings.map((f) => f.code)).toEqual(['catalog.not-found']);
  });
});
