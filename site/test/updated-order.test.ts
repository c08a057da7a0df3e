// "Recently updated" means one thing: the site's order (the Pagefind sort key each plugin page
// carries) and the API listing's `sort=-updated` put the plugins of the same catalog in the same
// order, on the repository's catalog, where ctf's newest version is yanked after its release.
import { join } from 'node:path';
import { buildHubDocuments, listPlugins } from '@magellon/hub-core';
import { loadCatalog } from '@magellon/hub-core/node';
import { describe, expect, it } from 'vitest';

const CATALOG = join(import.meta.dirname, '..', '..', 'catalog');

describe('recently updated', () => {
  it('sorts the site and the API listing identically on a catalog with a yank', async () => {
    process.env.HUB_SITE_CATALOG = CATALOG;
    const { siteData } = await import('../src/lib/catalog');
    const site = await siteData();
    const catalog = await loadCatalog(CATALOG);
    const index = buildHubDocuments(catalog.entries.map((e) => e.entry)).index;

    // The case that made the two disagree: a plugin whose newest release was yanked later on.
    const yanked = site.plugins.filter((p) =>
      p.doc.versions.some((v) => v.yanked && Date.parse(v.yanked.at) > Date.parse(p.updated)),
    );
    expect(yanked.map((p) => p.id)).toContain('ctf');

    const listed = listPlugins(index, { sort: '-updated', per_page: 100 }).items.map((p) => p.plugin_id);
    // The site sorts on each page's data-pagefind-sort="updated" (whole seconds), newest first;
    // equal times fall back to the id, as the listing's total order does.
    const seconds = (p: (typeof site.plugins)[number]) => Math.floor(Date.parse(p.updated) / 1000);
    const shown = site.plugins
      .filter((p) => listed.includes(p.id))
      .sort((a, b) => seconds(b) - seconds(a) || (a.id < b.id ? -1 : 1))
      .map((p) => p.id);
    expect(listed.length).toBeGreaterThan(5);
    expect(shown).toEqual(listed);
  });
});
