import { basename } from 'node:path';
import { type Finding, FindingList, hasErrors } from '../../findings';
import { ARCHIVE_MANIFEST, LEGACY_MANIFEST, MANIFEST_NAMES } from '../../layout';
import { uvPyprojects } from '../../manifest/lint-rules';
import { parentDir } from '../../manifest/plugin-files';
import { MAX_PYPROJECT_BYTES, pyprojectDependencies } from '../../manifest/pyproject';
import { MAX_MANIFEST_BYTES, readManifest } from '../../manifest/read-manifest';
import { type ArchiveManifest, PLACEHOLDER_ARCHIVE_ID } from '../../schema/archive-manifest';
import { YamlLocator } from '../../yaml/locate';
import {
  type Prefetched,
  type ReadArchiveResult,
  readArchive,
  readZipEntry,
  type ZipEntryInfo,
  ZipError,
  type ZipFileDigest,
  type ZipLimits,
} from '../zip';

/** Files every archive holds at its root that are not listed in file_checksums. */
export const ARCHIVE_MANIFEST_FILES: ReadonlySet<string> = new Set(MANIFEST_NAMES);

export interface VerifyArchiveOptions {
  /**
   * Extract into this (new or empty) dir while verifying. On any failure (`ok: false` or a throw) it is
   * left exactly as before: removed if verifyArchive created it, emptied if it was an empty dir.
   */
  extractTo?: string;
  /** Also keep small files in memory during the one pass (manifest.yaml is always kept). */
  keep?: { maxFileBytes: number; maxTotalBytes: number };
  limits?: Partial<ZipLimits>;
  /** Name shown in findings; default the archive's file name. */
  label?: string;
  /** Entries already extracted while the archive downloaded (see StreamingExtractor). */
  prefetched?: Prefetched;
}

export interface VerifiedArchive {
  ok: boolean;
  manifest?: ArchiveManifest;
  manifestText?: string;
  /** Every file in the archive with its sha256, sorted by name. */
  digests: ZipFileDigest[];
  /** manifest.yaml and the small files `keep` asked for, by name. */
  files: ReadonlyMap<string, Buffer>;
  findings: Finding[];
}

/**
 * The strict checks an untrusted .mpn must pass before anything trusts it: safe zip
 * structure, a valid manifest with a real archive_id, plugin.yaml equal to manifest.yaml,
 * and file_checksums that match the contents both ways.
 */
export async function verifyArchive(file: string, opts: VerifyArchiveOptions = {}): Promise<VerifiedArchive> {
  let read: ReadArchiveResult;
  try {
    read = await readArchive(file, {
      extractTo: opts.extractTo,
      limits: opts.limits,
      keep: keeper(opts),
      prefetched: opts.prefetched,
    });
  } catch (err) {
    if (err instanceof ZipError) {
      const findings = new FindingList();
      const label = opts.label ?? basename(file);
      // The reader names the file it opened, which may be a temporary copy: say what the user knows.
      const message = err.message.split(`${err.code}: `).join('').split(file).join(label);
      findings.error(err.code, message, { file: label });
      return { ok: false, digests: [], files: new Map(), findings: findings.items };
    }
    throw err;
  }
  let verified: VerifiedArchive | undefined;
  try {
    verified = checkContents(read, opts.label ?? basename(file));
    if (verified.manifest) await checkDependencies(verified, file, opts, opts.label ?? basename(file));
    return verified;
  } finally {
    // Nothing extracted from an archive that was refused (or that made us throw) stays on disk.
    if (!verified?.ok) await read.discard();
  }
}

/** The pyproject files kept during the pass at most add up to this; any other is read afterwards. */
const KEEP_TOML_BYTES = 4 * 1024 * 1024;

/**
 * Which entries the single pass keeps in memory: manifest.yaml, `*.toml` files (a uv entry's
 * pyproject, which the manifest names only once it is read) and small files within a total budget.
 */
function keeper(opts: VerifyArchiveOptions): (entry: ZipEntryInfo) => boolean {
  let budget = opts.keep?.maxTotalBytes ?? 0;
  let tomlBudget = KEEP_TOML_BYTES;
  return (entry) => {
    if (entry.name === ARCHIVE_MANIFEST) return entry.size <= MAX_MANIFEST_BYTES;
    if (entry.name.endsWith('.toml') && entry.size <= MAX_PYPROJECT_BYTES && entry.size <= tomlBudget) {
      tomlBudget -= entry.size;
      return true;
    }
    if (!opts.keep || entry.size > opts.keep.maxFileBytes || entry.size > budget) return false;
    budget -= entry.size;
    return true;
  };
}

/**
 * Every pyproject.toml a uv install entry names: its dependencies must be plain requirements from an
 * index and its [tool.uv] must name no index, find-links or remote source, since the installer hands
 * them to pip or uv. Each problem is an error at its line in the pyproject.
 */
async function checkDependencies(
  verified: VerifiedArchive,
  file: string,
  opts: VerifyArchiveOptions,
  label: string,
): Promise<void> {
  const sizes = new Map(verified.digests.map((d) => [d.name, d.size]));
  const start = verified.findings.length;
  for (const path of uvPyprojects(verified.manifest!, (p) => sizes.has(p))) {
    const at = { file: `${label}!${path}` };
    if (sizes.get(path)! > MAX_PYPROJECT_BYTES) {
      verified.findings.push({
        ...at,
        line: 1,
        severity: 'error',
        code: 'archive.unsafe-dependency',
        message: `${path} is ${sizes.get(path)} bytes, over the ${MAX_PYPROJECT_BYTES} the hub reads; its dependencies cannot be checked`,
      });
      continue;
    }
    let bytes = verified.files.get(path);
    try {
      bytes ??= await readZipEntry(file, path, MAX_PYPROJECT_BYTES, opts.limits);
    } catch (err) {
      if (!(err instanceof ZipError)) throw err;
      verified.findings.push({
        ...at,
        severity: 'error',
        code: 'archive.unsafe-dependency',
        message: `${path} could not be read again to check its dependencies (${err.code})`,
      });
      continue;
    }
    const read = pyprojectDependencies(bytes.toString('utf8'), parentDir(path));
    for (const r of read.refusals) {
      verified.findings.push({
        ...at,
        line: r.line,
        ...(r.column ? { column: r.column } : {}),
        severity: 'error',
        code: 'archive.unsafe-dependency',
        message:
          r.kind === 'toml'
            ? `${path} is ${r.message}; its dependencies cannot be checked`
            : `${r.message}; the archive is refused`,
      });
    }
  }
  if (verified.findings.length > start) verified.ok = false;
}

function checkContents(pass: ReadArchiveResult, label: string): VerifiedArchive {
  const { digests, kept: files } = pass;
  const findings = new FindingList();
  const here = { file: label };
  const byName = new Map(digests.map((d) => [d.name, d]));
  const manifestDigest = byName.get(ARCHIVE_MANIFEST);
  if (!manifestDigest) {
    findings.error(
      'archive.no-manifest',
      'the archive has no manifest.yaml at its root; build archives with `hub pack`',
      here,
    );
    return { ok: false, digests, files, findings: findings.items };
  }
  const aliasDigest = byName.get(LEGACY_MANIFEST);
  if (aliasDigest && aliasDigest.sha256 !== manifestDigest.sha256) {
    findings.error(
      'archive.plugin-yaml-differs',
      'plugin.yaml (the legacy alias) differs from manifest.yaml; they must be identical',
      here,
    );
  }
  const bytes = files.get(ARCHIVE_MANIFEST);
  if (!bytes) {
    findings.error(
      'yaml.too-large',
      `manifest.yaml is ${manifestDigest.size} bytes; the limit is ${MAX_MANIFEST_BYTES}`,
      { file: `${label}!${ARCHIVE_MANIFEST}` },
    );
    return { ok: false, digests, files, findings: findings.items };
  }
  const manifestText = bytes.toString('utf8');
  const read = readManifest(manifestText, `${label}!${ARCHIVE_MANIFEST}`);
  if (!read.ok) {
    findings.items.push(...read.findings);
    return { ok: false, digests, files, manifestText, findings: findings.items };
  }
  const manifest = read.manifest;
  const manifestFile = `${label}!${ARCHIVE_MANIFEST}`;
  let locator: YamlLocator | undefined;
  // Positions only for what is reported: where the user would fix it in manifest.yaml.
  const inManifest = (path: ReadonlyArray<PropertyKey> = [], keyOf = false) => {
    locator ??= new YamlLocator(manifestText);
    return { file: manifestFile, ...locator.locate(path, keyOf) };
  };
  if (!manifest.archive_id) {
    findings.error(
      'archive.no-archive-id',
      'manifest.yaml has no archive_id; `hub pack` writes one',
      inManifest(),
    );
  } else if (manifest.archive_id === PLACEHOLDER_ARCHIVE_ID) {
    findings.error(
      'archive.placeholder-archive-id',
      'archive_id is the placeholder 00000000-…; pack the plugin with `hub pack`',
      inManifest(['archive_id']),
    );
  }
  for (const d of digests) {
    if (ARCHIVE_MANIFEST_FILES.has(d.name)) continue;
    // File names are data: "constructor" is listed only if the manifest lists it.
    const listed = Object.hasOwn(manifest.file_checksums, d.name)
      ? manifest.file_checksums[d.name]
      : undefined;
    if (listed === undefined) {
      findings.error(
        'archive.unlisted-file',
        `"${d.name}" is in the archive but not in file_checksums`,
        inManifest(['file_checksums'], true),
      );
    } else if (listed !== d.sha256) {
      findings.error(
        'archive.checksum-mismatch',
        `"${d.name}" does not match its file_checksums entry (sha256 ${d.sha256}, listed ${listed})`,
        inManifest(['file_checksums', d.name]),
      );
    }
  }
  for (const name of Object.keys(manifest.file_checksums)) {
    if (!byName.has(name) && !ARCHIVE_MANIFEST_FILES.has(name)) {
      findings.error(
        'archive.missing-file',
        `file_checksums lists "${name}", which is not in the archive`,
        inManifest(['file_checksums', name], true),
      );
    }
  }
  return {
    ok: !hasErrors(findings.items),
    manifest,
    manifestText,
    digests,
    files,
    findings: findings.items,
  };
}
