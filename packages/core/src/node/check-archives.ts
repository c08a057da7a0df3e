import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { compareEntryWithManifest } from '../catalog/archive-rules';
import type { LoadedEntry } from '../catalog/model';
import { type Finding, FindingList, sortFindings } from '../findings';
import { YamlLocator } from '../yaml/locate';
import { verifyArchive } from './archive/verify-archive';
import { hashFile } from './hash-file';

/** Where a hub-relative archive URL lives inside a catalog dir, or undefined for absolute URLs. */
export function localArchivePath(root: string, url: string): string | undefined {
  if (!url.startsWith('/')) return undefined;
  const path = resolve(root, `.${decodeURIComponent(url)}`);
  return relative(root, path).startsWith('..') ? undefined : path;
}

export interface CheckArchivesOptions {
  /** Directory paths in findings are relative to (must match loadCatalog's). */
  displayFrom?: string;
  onProgress?: (done: number, total: number, entry: LoadedEntry) => void;
}

/**
 * For entries whose archive is hub-relative: the file must exist under the catalog dir,
 * match size_bytes and sha256, pass the strict archive checks, and carry a manifest that
 * agrees with the entry. Absolute URLs are left to the PR check, which downloads them.
 */
export async function checkCatalogArchives(
  root: string,
  entries: readonly LoadedEntry[],
  opts: CheckArchivesOptions = {},
): Promise<Finding[]> {
  const findings = new FindingList();
  const from = resolve(opts.displayFrom ?? process.cwd());
  const locate = (file: string, path: ReadonlyArray<PropertyKey>) =>
    new YamlLocator(readFileSync(resolve(from, file), 'utf8')).locate(path);
  let done = 0;
  for (const loaded of entries) {
    opts.onProgress?.(done++, entries.length, loaded);
    const { entry, file } = loaded;
    const path = localArchivePath(root, entry.archive.url);
    if (!path) continue;
    const at = (p: PropertyKey[]) => ({ file, ...locate(file, p) });
    if (!existsSync(path)) {
      findings.error(
        'archive.missing',
        `archive ${entry.archive.url} is not in the catalog (expected ${relative(from, path)})`,
        at(['archive', 'url']),
      );
      continue;
    }
    const digest = await hashFile(path);
    if (digest.size !== entry.archive.size_bytes) {
      findings.error(
        'archive.size-mismatch',
        `size_bytes is ${entry.archive.size_bytes} but the archive has ${digest.size} bytes`,
        at(['archive', 'size_bytes']),
      );
    }
    if (digest.sha256 !== entry.archive.sha256) {
      findings.error(
        'archive.sha256-mismatch',
        `sha256 does not match the archive (its sha256 is ${digest.sha256})`,
        at(['archive', 'sha256']),
      );
      continue;
    }
    const verified = await verifyArchive(path, { label: relative(from, path) });
    findings.items.push(...verified.findings);
    if (verified.manifest) compareEntryWithManifest(loaded, verified.manifest, findings, locate);
  }
  return sortFindings(findings.items);
}
