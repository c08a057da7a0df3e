import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../schema/catalog-entry';
import {
  categoriesDocumentReadSchema,
  categoriesDocumentSchema,
  indexDocumentReadSchema,
  indexDocumentSchema,
  pluginDocumentReadSchema,
  pluginDocumentSchema,
} from '../schema/documents';
import { buildHubDocuments, serializeDocument } from './build-index';
import { listPlugins } from './listing';

let n = 0;
function entry(plugin_id: string, version: string, extra: Partial<CatalogEntry> = {}): CatalogEntry {
  n++;
  return {
    plugin_id,
    version,
    name: `${plugin_id} plugin`,
    description: `Does ${plugin_id} things`,
    category: 'ctf',
    author: 'Lab',
    license: 'MIT',
    tier: 'community',
    tags: ['cryo-em'],
    requires_sdk: '>=2.0,<3.0',
    published_at: `2025-0${(n % 9) + 1}-01T00:00:00Z`,
    archive: {
      url: `/assets/plugins/${plugin_id}-${version}.mpn`,
      sha256: 'a'.repeat(64),
      size_bytes: 100 + n,
    },
    archive_id: `01970000-0000-7000-8000-${String(n).padStart(12, '0')}`,
    ...extra,
  };
}

const entries = [
  entry('ctf', '1.0.0', { backend_id: 'ctffind4' }),
  entry('ctf', '1.1.0', {
    backend_id: 'ctffind4',
    yanked: { reason: 'wrong sign', at: '2025-09-02T00:00:00Z' },
  }),
  entry('ctf', '1.2.0-rc.1', { backend_id: 'ctffind4' }),
  entry('gctf', '0.1.0', { backend_id: 'gctf', tier: 'verified', tags: ['gpu'] }),
  entry('fft', '2.0.0', { category: 'fft' }),
  entry('gone', '1.0.0', { yanked: { reason: 'withdrawn', at: '2025-09-03T00:00:00Z' } }),
];

describe('buildHubDocuments', () => {
  const docs = buildHubDocuments(entries);

  it('index.json has the exact shape the Magellon web app reads', () => {
    expect(indexDocumentSchema.parse(docs.index)).toBeTruthy();
    const ctf = docs.index.plugins.find((p) => p.plugin_id === 'ctf')!;
    expect(Object.keys(ctf)).toEqual([
      'plugin_id',
      'name',
      'description',
      'category',
      'backend_id',
      'author',
      'license',
      'tier',
      'tags',
      'latest_version',
      'versions',
    ]);
    expect(Object.keys(ctf.versions[0]!)).toEqual([
      'version',
      'archive_id',
      'url',
      'sha256',
      'size_bytes',
      'requires_sdk',
      'published_at',
    ]);
  });

  it('leaves yanked versions and all-yanked plugins out of the default listing', () => {
    const ctf = docs.index.plugins.find((p) => p.plugin_id === 'ctf')!;
    expect(ctf.latest_version).toBe('1.0.0');
    expect(ctf.versions.map((v) => v.version)).toEqual(['1.2.0-rc.1', '1.0.0']);
    expect(docs.index.plugins.map((p) => p.plugin_id)).toEqual(['ctf', 'fft', 'gctf']);
  });

  it('keeps yanked versions downloadable by exact version in plugins/<id>.json, with both archive forms', () => {
    const ctf = pluginDocumentSchema.parse(docs.plugins.get('ctf'));
    const yanked = ctf.versions.find((v) => v.version === '1.1.0')!;
    expect(yanked.yanked).toEqual({ reason: 'wrong sign', at: '2025-09-02T00:00:00Z' });
    expect(yanked.archive).toEqual({ url: yanked.url, sha256: yanked.sha256, size_bytes: yanked.size_bytes });
    expect(docs.plugins.get('gone')?.latest_version).toBeNull();
  });

  it('lists categories with every backend that serves them', () => {
    const ctf = docs.categories.categories.find((c) => c.category === 'ctf')!;
    expect(ctf.backends.map((b) => b.backend_id)).toEqual(['ctffind4', 'gctf']);
    expect(ctf.plugin_count).toBe(2);
  });

  it('is deterministic: the same entries in any order give the same bytes', () => {
    const a = buildHubDocuments(entries);
    const b = buildHubDocuments([...entries].reverse());
    expect(serializeDocument(b.index)).toBe(serializeDocument(a.index));
    expect(serializeDocument(b.categories)).toBe(serializeDocument(a.categories));
    expect(a.index.generated_at).toBe('2025-09-03T00:00:00.000Z');
  });
});

describe('listPlugins', () => {
  const { index } = buildHubDocuments(entries);

  it('filters by category, tier, tag and free text', () => {
    expect(listPlugins(index, { category: 'ctf' }).items.map((p) => p.plugin_id)).toEqual(['ctf', 'gctf']);
    expect(listPlugins(index, { tier: 'verified' }).items.map((p) => p.plugin_id)).toEqual(['gctf']);
    expect(listPlugins(index, { tag: 'gpu' }).total).toBe(1);
    expect(listPlugins(index, { q: 'FFT things' }).items.map((p) => p.plugin_id)).toEqual(['fft']);
    expect(listPlugins(index, { q: 'nothing-like-this' }).total).toBe(0);
  });

  it('pages with clamped bounds', () => {
    const page = listPlugins(index, { per_page: 2, page: 2 });
    expect(page).toMatchObject({ total: 3, page: 2, per_page: 2, pages: 2 });
    expect(page.items.map((p) => p.plugin_id)).toEqual(['gctf']);
    expect(listPlugins(index, { per_page: 10_000, page: -5 })).toMatchObject({ per_page: 100, page: 1 });
    expect(listPlugins(index, { per_page: 2, page: 9 })).toMatchObject({ items: [], total: 3, page: 9 });
  });

  it('sorts by name, category or update time, either way, ties broken by plugin_id', () => {
    const ids = (sort: Parameters<typeof listPlugins>[1]['sort']) =>
      listPlugins(index, { sort }).items.map((p) => p.plugin_id);
    expect(ids(undefined)).toEqual(['ctf', 'fft', 'gctf']);
    expect(ids('-plugin_id')).toEqual(['gctf', 'fft', 'ctf']);
    expect(ids('category')).toEqual(['ctf', 'gctf', 'fft']);
    expect(ids('-category')).toEqual(['fft', 'ctf', 'gctf']); // ties stay in plugin_id order
    const updated = ids('-updated');
    const times = updated.map((id) => {
      const p = index.plugins.find((x) => x.plugin_id === id)!;
      return p.versions.find((v) => v.version === p.latest_version)!.published_at;
    });
    expect([...times].sort().reverse()).toEqual(times);
  });
});

describe('the /v1 document schemas', () => {
  const docs = buildHubDocuments(entries);

  it('every document the hub writes carries schema_version "1", the string the web app declares', () => {
    expect(docs.index.schema_version).toBe('1');
    expect(docs.categories.schema_version).toBe('1');
    for (const doc of docs.plugins.values()) expect(doc.schema_version).toBe('1');
    expect(serializeDocument(docs.index)).toContain('"schema_version": "1"');
  });

  it('are strict for writing and tolerant for reading what a newer hub may add', () => {
    const newer = JSON.parse(serializeDocument(docs.index));
    newer.mirrors = ['https://mirror.example'];
    newer.plugins[0].popularity = 7;
    newer.plugins[0].versions[0].signature = 'sig';
    expect(indexDocumentSchema.safeParse(newer).success).toBe(false);
    const read = indexDocumentReadSchema.parse(newer);
    expect(read.plugins[0]!.versions[0]!.version).toBe(docs.index.plugins[0]!.versions[0]!.version);

    const plugin = JSON.parse(serializeDocument(docs.plugins.get('ctf')));
    plugin.versions[0].archive.mirrors = [];
    expect(pluginDocumentSchema.safeParse(plugin).success).toBe(false);
    expect(pluginDocumentReadSchema.safeParse(plugin).success).toBe(true);

    const categories = JSON.parse(serializeDocument(docs.categories));
    categories.categories[0].icon = 'ctf.svg';
    expect(categoriesDocumentSchema.safeParse(categories).success).toBe(false);
    expect(categoriesDocumentReadSchema.safeParse(categories).success).toBe(true);
  });

  it('readers still need the fields they use, and a schema_version they understand', () => {
    const doc = JSON.parse(serializeDocument(docs.index));
    delete doc.plugins[0].latest_version;
    expect(indexDocumentReadSchema.safeParse(doc).success).toBe(false);
    const future = { ...JSON.parse(serializeDocument(docs.index)), schema_version: '2' };
    expect(indexDocumentReadSchema.safeParse(future).success).toBe(false);
    const old = { ...JSON.parse(serializeDocument(docs.index)), schema_version: 1 };
    expect(indexDocumentSchema.safeParse(old).success).toBe(false);
    expect(indexDocumentReadSchema.parse(old).schema_version).toBe('1');
  });
});
