import { dump } from 'js-yaml';
import type { Finding } from '../findings';
import { ARCHIVE_SUFFIX, archiveKey, entryFileName, hubArchiveUrl } from '../layout';
import { type ArchiveManifest, PLACEHOLDER_ARCHIVE_ID } from '../schema/archive-manifest';
import { type CatalogEntryInput, DEFAULT_TIER, type Tier } from '../schema/catalog-entry';
import type { PathLocator } from '../yaml/locate';
import type { PackResult } from './pack';
import { checkEntryBytes } from './read-entry';

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

/**
 * What only packing and publishing know, as values the catalog schema accepts: the would-be entry
 * is judged on what the manifest gives it, nothing else.
 */
const WOULD_BE_ARCHIVE = { sha256: '0'.repeat(64), size_bytes: 1, archive_id: PLACEHOLDER_ARCHIVE_ID };
const WOULD_BE_DETAILS: EntryDetails = {
  tier: DEFAULT_TIER,
  published_at: '2000-01-01T00:00:00Z',
  url: `/${archiveKey(`would-be${ARCHIVE_SUFFIX}`)}`,
};

/**
 * The catalog's own checks (schema and entry rules, exactly as `hub publish` and `hub verify` run
 * them) on the entry `hub publish` would write from this manifest, reported at the manifest's lines
 * through `locator`: how `hub lint` refuses whatever publish and verify would refuse.
 */
export function wouldBeEntryFindings(
  manifest: ArchiveManifest,
  manifestFile: string,
  locator: PathLocator,
): Finding[] {
  const entry = entryForArchive({ manifest, ...WOULD_BE_ARCHIVE }, WOULD_BE_DETAILS);
  const { findings } = checkEntryBytes(Buffer.from(renderEntryYaml(entry)), {
    file: manifestFile,
    dir: manifest.plugin_id,
    fileName: entryFileName(manifest.version),
    locator,
  });
  // A problem with the entry file as a whole (too large to read) has no line of the manifest to name.
  return findings.map((f) =>
    f.code.startsWith('yaml.')
      ? { ...f, line: 1, column: 1, message: `the catalog entry made from this manifest: ${f.message}` }
      : f,
  );
}
