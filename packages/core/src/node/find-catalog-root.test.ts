import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { catalogAt, findCatalogRoot } from './find-catalog-root';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-find-catalog-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

function tree(base: string, files: string[]): string {
  for (const f of files) {
    mkdirSync(dirname(join(base, f)), { recursive: true });
    if (!f.endsWith('/')) writeFileSync(join(base, f), '');
  }
  return base;
}

describe('findCatalogRoot', () => {
  const repo = tree(join(ROOT, 'repo'), [
    'catalog/plugins/fft/1.0.0.yaml',
    'catalog/assets/plugins/',
    'plugin-src/manifest.yaml',
    'plugin-src/plugin/compute.py',
    'legacy-src/plugin.yaml',
    'docs/deep/er/',
  ]);

  it('finds a catalog from inside it, walking up', () => {
    for (const start of ['catalog', 'catalog/plugins', 'catalog/plugins/fft', 'catalog/assets/plugins'])
      expect(findCatalogRoot(join(repo, start)), start).toEqual({
        found: 'catalog',
        root: join(repo, 'catalog'),
        at: join(repo, 'catalog'),
      });
  });

  it("finds a repo's catalog/ from the repo root and from folders beside the catalog", () => {
    const viaRepo = { found: 'catalog', root: join(repo, 'catalog'), at: repo };
    expect(findCatalogRoot(repo)).toEqual(viaRepo);
    expect(findCatalogRoot(join(repo, 'docs/deep/er'))).toEqual(viaRepo);
  });

  it("stops at a plugin's sources (manifest.yaml or plugin.yaml), also from a subfolder of them", () => {
    expect(findCatalogRoot(join(repo, 'plugin-src'))).toEqual({
      found: 'plugin-sources',
      dir: join(repo, 'plugin-src'),
    });
    expect(findCatalogRoot(join(repo, 'plugin-src/plugin'))).toEqual({
      found: 'plugin-sources',
      dir: join(repo, 'plugin-src'),
    });
    expect(findCatalogRoot(join(repo, 'legacy-src')).found).toBe('plugin-sources');
  });

  it('reports every folder it looked in when there is no catalog up to the file-system root', () => {
    const lonely = tree(join(ROOT, 'lonely'), ['a/b/']);
    const r = findCatalogRoot(join(lonely, 'a/b'));
    expect(r.found).toBe('nothing');
    if (r.found !== 'nothing') return;
    expect(r.looked.slice(0, 3)).toEqual([join(lonely, 'a/b'), join(lonely, 'a'), lonely]);
    expect(r.looked.at(-1)).toBe(dirname(r.looked.at(-1)!));
  });

  it('catalogAt does not walk, and treats a file as nothing', () => {
    expect(catalogAt(join(repo, 'catalog/plugins/fft'))).toBeUndefined();
    expect(catalogAt(join(repo, 'plugin-src/manifest.yaml'))).toBeUndefined();
    expect(catalogAt(join(repo, 'no/such/dir'))).toBeUndefined();
  });
});
