import { dump } from 'js-yaml';
import { hubArchiveUrl } from '../catalog/model';
import type { CatalogEntryInput, Tier } from '../schema/catalog-entry';
import type { PackResult } from './pack';

export interface EntryDetails {
  tier: Tier;
  published_at: string;
  /** Where the archive is served from (default: the hub-relative /assets/plugins/<id>-<version>.mpn). */
  url?: string;
  yanked?: { reason: string; at: string };
  deprecated?: { reason: string; replacement?: string };
}

/**
 * The catalog entry that describes a packed archive: every field the manifest and the archive
 * determine (ids, text, sha256, size, archive_id) comes from them, so the entry cannot disagree
 * with the archive it points at. Used by the starter catalog and by `hub publish`.
 */
export function entryForArchive(
  packed: Pick<PackResult, 'manifest' | 'sha256' | 'size_bytes' | 'archive_id'>,
  d: EntryDetails,
): CatalogEntryInput {
  const m = packed.manifest;
  return {
    plugin_id: m.plugin_id,
    version: m.version,
    name: m.name,
    description: m.description.trim().replace(/\s+/g, ' '),
    category: m.category,
    ...(m.backend_id ? { backend_id: m.backend_id } : {}),
    author: m.author,
    license: m.license,
    ...(m.homepage ? { homepage: m.homepage } : {}),
    tier: d.tier,
    tags: m.tags,
    requires_sdk: m.requires_sdk,
    published_at: d.published_at,
    archive: {
      url: d.url ?? hubArchiveUrl(m.plugin_id, m.version),
      sha256: packed.sha256,
      size_bytes: packed.size_bytes,
    },
    archive_id: packed.archive_id,
    ...(d.yanked ? { yanked: d.yanked } : {}),
    ...(d.deprecated ? { deprecated: d.deprecated } : {}),
  };
}

/** An entry as the catalog's YAML file: fields in schema order, strings quoted where YAML needs it. */
export function renderEntryYaml(entry: CatalogEntryInput | Record<string, unknown>, header = ''): string {
  return header + dump(entry, { lineWidth: 100, quotingType: '"', noRefs: true });
}
