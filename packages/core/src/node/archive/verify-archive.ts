import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Finding, FindingList, hasErrors } from '../../findings';
import { PLACEHOLDER_ARCHIVE_ID } from '../../manifest/lint-rules';
import { MAX_MANIFEST_BYTES, readManifest } from '../../manifest/read-manifest';
import type { ArchiveManifest } from '../../schema/archive-manifest';
import { extractZip, hashZip, readZipEntry, ZipError, type ZipFileDigest, type ZipLimits } from '../zip';

/** Files every archive holds at its root that are not listed in file_checksums. */
export const ARCHIVE_MANIFEST_FILES: ReadonlySet<string> = new Set(['manifest.yaml', 'plugin.yaml']);

export interface VerifyArchiveOptions {
  /** Extract into this (new or empty) dir while verifying; on failure it is removed again. */
  extractTo?: string;
  limits?: Partial<ZipLimits>;
  /** Name shown in findings; default the archive's file name. */
  label?: string;
}

export interface VerifiedArchive {
  ok: boolean;
  manifest?: ArchiveManifest;
  manifestText?: string;
  /** Every file in the archive with its sha256, sorted by name. */
  digests: ZipFileDigest[];
  findings: Finding[];
}

/**
 * The strict checks an untrusted .mpn must pass before anything trusts it: safe zip
 * structure, a valid manifest with a real archive_id, plugin.yaml equal to manifest.yaml,
 * and file_checksums that match the contents both ways.
 */
export async function verifyArchive(file: string, opts: VerifyArchiveOptions = {}): Promise<VerifiedArchive> {
  const label = opts.label ?? basename(file);
  const findings = new FindingList();
  const here = { file: label };
  let digests: ZipFileDigest[];
  try {
    digests = opts.extractTo
      ? await extractZip(file, opts.extractTo, opts.limits)
      : await hashZip(file, opts.limits);
  } catch (err) {
    if (err instanceof ZipError) {
      findings.error(err.code, err.message, here);
      return { ok: false, digests: [], findings: findings.items };
    }
    throw err;
  }
  const byName = new Map(digests.map((d) => [d.name, d]));
  const manifestDigest = byName.get('manifest.yaml');
  if (!manifestDigest) {
    findings.error(
      'archive.no-manifest',
      'the archive has no manifest.yaml at its root; build archives with `hub pack`',
      here,
    );
    return { ok: false, digests, findings: findings.items };
  }
  const aliasDigest = byName.get('plugin.yaml');
  if (aliasDigest && aliasDigest.sha256 !== manifestDigest.sha256) {
    findings.error(
      'archive.plugin-yaml-differs',
      'plugin.yaml (the legacy alias) differs from manifest.yaml; they must be identical',
      here,
    );
  }
  const bytes = opts.extractTo
    ? await readFile(join(opts.extractTo, 'manifest.yaml'))
    : await readZipEntry(file, 'manifest.yaml', MAX_MANIFEST_BYTES, opts.limits);
  const manifestText = bytes.toString('utf8');
  const read = readManifest(manifestText, `${label}!manifest.yaml`);
  if (!read.ok) {
    findings.items.push(...read.findings);
    return { ok: false, digests, manifestText, findings: findings.items };
  }
  const manifest = read.manifest;
  const inManifest = { file: `${label}!manifest.yaml` };
  if (!manifest.archive_id) {
    findings.error(
      'archive.no-archive-id',
      'manifest.yaml has no archive_id; `hub pack` writes one',
      inManifest,
    );
  } else if (manifest.archive_id === PLACEHOLDER_ARCHIVE_ID) {
    findings.error(
      'archive.placeholder-archive-id',
      'archive_id is the placeholder 00000000-…; pack the plugin with `hub pack`',
      inManifest,
    );
  }
  for (const d of digests) {
    if (ARCHIVE_MANIFEST_FILES.has(d.name)) continue;
    const listed = manifest.file_checksums[d.name];
    if (listed === undefined) {
      findings.error(
        'archive.unlisted-file',
        `"${d.name}" is in the archive but not in file_checksums`,
        inManifest,
      );
    } else if (listed !== d.sha256) {
      findings.error(
        'archive.checksum-mismatch',
        `"${d.name}" does not match its file_checksums entry (sha256 ${d.sha256}, listed ${listed})`,
        inManifest,
      );
    }
  }
  for (const name of Object.keys(manifest.file_checksums)) {
    if (!byName.has(name) && !ARCHIVE_MANIFEST_FILES.has(name)) {
      findings.error(
        'archive.missing-file',
        `file_checksums lists "${name}", which is not in the archive`,
        inManifest,
      );
    }
  }
  return { ok: !hasErrors(findings.items), manifest, manifestText, digests, findings: findings.items };
}
