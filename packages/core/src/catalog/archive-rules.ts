import type { FindingList } from '../findings';
import type { ArchiveManifest } from '../schema/archive-manifest';
import type { LoadedEntry, Locate } from './model';

/** Fields that must agree between a catalog entry and the manifest inside its archive. */
export const ENTRY_MANIFEST_FIELDS = [
  'plugin_id',
  'version',
  'category',
  'requires_sdk',
  'archive_id',
] as const;

/** Reports every field where the archive's manifest disagrees with the catalog entry that points at it. */
export function compareEntryWithManifest(
  loaded: LoadedEntry,
  manifest: ArchiveManifest,
  findings: FindingList,
  locate: Locate,
): void {
  for (const field of ENTRY_MANIFEST_FIELDS) {
    const inEntry = loaded.entry[field];
    const inArchive = manifest[field];
    if (inEntry !== inArchive) {
      findings.error(
        'archive.entry-mismatch',
        `${field} is "${inEntry}" here but "${inArchive ?? '(missing)'}" in the archive's manifest.yaml; the entry must describe the archive it points at`,
        { file: loaded.file, ...locate(loaded.file, [field]) },
      );
    }
  }
}
