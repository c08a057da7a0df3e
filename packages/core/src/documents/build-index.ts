import { groupByPlugin } from '../catalog/model';
import type { CategoryDocument } from '../schema/api';
import type { CatalogEntry } from '../schema/catalog-entry';
import {
  type CategoriesDocument,
  DOCUMENT_SCHEMA_VERSION,
  type IndexDocument,
  type IndexPlugin,
  type IndexVersion,
  type PluginDocument,
  type PluginVersion,
} from '../schema/documents';
import { latestVersion, sortVersionsDescending } from '../versions/semver';

export interface HubDocuments {
  index: IndexDocument;
  /** By plugin id, in plugin id order. */
  plugins: Map<string, PluginDocument>;
  categories: CategoriesDocument;
  /** `v1/categories/<slug>.json`: by category, in category order. */
  category: Map<string, CategoryDocument>;
}

/**
 * The catalog's own clock: the newest published_at or yanked.at. Using it instead of
 * "now" keeps the documents byte-identical for the same catalog.
 */
export function catalogTimestamp(entries: readonly CatalogEntry[]): string {
  let best = '1970-01-01T00:00:00.000Z';
  let bestMs = 0;
  for (const e of entries) {
    for (const t of [e.published_at, e.yanked?.at]) {
      if (!t) continue;
      const ms = Date.parse(t);
      if (ms > bestMs) {
        bestMs = ms;
        best = new Date(ms).toISOString();
      }
    }
  }
  return best;
}

function indexVersion(e: CatalogEntry): IndexVersion {
  return {
    version: e.version,
    archive_id: e.archive_id,
    url: e.archive.url,
    sha256: e.archive.sha256,
    size_bytes: e.archive.size_bytes,
    requires_sdk: e.requires_sdk,
    published_at: e.published_at,
  };
}

function pluginVersion(e: CatalogEntry): PluginVersion {
  return {
    ...indexVersion(e),
    archive: { url: e.archive.url, sha256: e.archive.sha256, size_bytes: e.archive.size_bytes },
    tier: e.tier,
    ...(e.yanked ? { yanked: { reason: e.yanked.reason, at: e.yanked.at } } : {}),
    ...(e.deprecated ? { deprecated: { ...e.deprecated } } : {}),
  };
}

/** Plugin-level fields come from the version clients get by default (or the newest, if all are yanked). */
function summary(head: CatalogEntry) {
  return {
    plugin_id: head.plugin_id,
    name: head.name,
    description: head.description,
    category: head.category,
    ...(head.backend_id ? { backend_id: head.backend_id } : {}),
    author: head.author,
    license: head.license,
    ...(head.homepage ? { homepage: head.homepage } : {}),
    tier: head.tier,
    tags: [...head.tags],
  };
}

/** Builds every /v1 document from catalog entries. Same entries in any order → same documents. */
export function buildHubDocuments(entries: readonly CatalogEntry[]): HubDocuments {
  const generated_at = catalogTimestamp(entries);
  const groups = groupByPlugin(entries.map((entry) => ({ entry })));
  const ids = [...groups.keys()].sort();
  const indexPlugins: IndexPlugin[] = [];
  const plugins = new Map<string, PluginDocument>();

  for (const id of ids) {
    const versions = sortVersionsDescending(
      groups.get(id)!.map((g) => g.entry),
      (e) => e.version,
    );
    const latest = latestVersion(versions);
    const head = versions.find((v) => v.version === latest) ?? versions[0]!;
    const base = summary(head);
    plugins.set(id, {
      schema_version: DOCUMENT_SCHEMA_VERSION,
      generated_at,
      ...base,
      latest_version: latest ?? null,
      ...(head.deprecated ? { deprecated: { ...head.deprecated } } : {}),
      versions: versions.map(pluginVersion),
    });
    if (latest !== undefined) {
      indexPlugins.push({
        ...base,
        latest_version: latest,
        versions: versions.filter((v) => !v.yanked).map(indexVersion),
      });
    }
  }

  const categories = buildCategories(indexPlugins, generated_at);
  const category = new Map<string, CategoryDocument>(
    categories.categories.map((c) => [
      c.category,
      { schema_version: DOCUMENT_SCHEMA_VERSION, generated_at, ...c },
    ]),
  );
  return {
    index: { schema_version: DOCUMENT_SCHEMA_VERSION, generated_at, plugins: indexPlugins },
    plugins,
    categories,
    category,
  };
}

function buildCategories(plugins: readonly IndexPlugin[], generated_at: string): CategoriesDocument {
  const byCategory = new Map<string, IndexPlugin[]>();
  for (const p of plugins) {
    const list = byCategory.get(p.category);
    if (list) list.push(p);
    else byCategory.set(p.category, [p]);
  }
  const categories = [...byCategory.keys()].sort().map((category) => {
    const members = byCategory.get(category)!;
    return {
      category,
      plugin_count: members.length,
      backends: members.map((p) => ({
        backend_id: p.backend_id ?? p.plugin_id,
        plugin_id: p.plugin_id,
        name: p.name,
        tier: p.tier,
        latest_version: p.latest_version,
      })),
    };
  });
  return { schema_version: DOCUMENT_SCHEMA_VERSION, generated_at, categories };
}

/** Serializes a document the way the hub stores and serves it: 2-space JSON and a final newline. */
export function serializeDocument(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
