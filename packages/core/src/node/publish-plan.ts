// The decisions a publish makes, in one place so `hub pack`, `hub publish` and the starter-catalog
// script apply the same checks: lint before packing (what blocks depends on why the plugin is
// packed), what makes an archive publishable, which tier an author may set (and the default), and
// the catalog entry an archive gives (checked against the catalog's own schema and rules before
// anything is proposed). The callers own the output and the process; nothing here prints.
import { closeSync, openSync } from 'node:fs';
import { isMaintainer, type Maintainers } from '../catalog/model';
import type { Finding } from '../findings';
import { archiveFileName, archiveKey, entryFileName, entryPath, hubArchiveUrl } from '../layout';
import type { ArchiveManifest } from '../schema/archive-manifest';
import { type CatalogEntryInput, DEFAULT_TIER, type Tier } from '../schema/catalog-entry';
import { type EntryDetails, entryForArchive, renderEntryYaml } from './entry-for-archive';
import { hashFd } from './hash-file';
import { type LintPurpose, type LintResult, lintDir, lintPlugin } from './lint';
import { PackError, type PackOptions, type PackResult, packPlugin } from './pack';
import { checkEntryBytes } from './read-entry';
import { DEFAULT_ZIP_LIMITS } from './zip';

// ——— lint, then pack ———

export interface LintThenPackOptions extends PackOptions {
  /**
   * `author` (hub pack, the default): what only the catalog refuses is a warning. `publish`
   * (hub publish, the starter catalog): it blocks, as the catalog's check would.
   */
  purpose?: LintPurpose;
  /** Told when lint has passed and packing starts (progress lines). */
  onPacking?: () => void;
}

/** What `lintThenPack` did: packed; refused by lint (nothing packed); or pack refused or failed. */
export type LintThenPackResult =
  | { status: 'packed'; lint: LintResult; packed: PackResult }
  | { status: 'lint-failed'; lint: LintResult }
  | { status: 'pack-failed'; lint: LintResult; error: PackError };

/**
 * Lints a plugin source dir and packs it only if lint finds no error: findings name the author's
 * own files and lines, not the archive's. A PackError is returned (with the lint findings, which
 * the caller shows first); any other error is thrown.
 */
export async function lintThenPack(dir: string, opts: LintThenPackOptions = {}): Promise<LintThenPackResult> {
  const { purpose, onPacking, ...packOptions } = opts;
  const lint = await lintDir(dir, { followLinks: opts.followLinks, purpose });
  if (!lint.ok) return { status: 'lint-failed', lint };
  onPacking?.();
  try {
    return { status: 'packed', lint, packed: await packPlugin(dir, packOptions) };
  } catch (err) {
    if (err instanceof PackError) return { status: 'pack-failed', lint, error: err };
    throw err;
  }
}

// ——— the archive a publish proposes ———

/** The facts of an archive an entry is made from. */
export interface ArchiveFacts {
  manifest: ArchiveManifest;
  sha256: string;
  size_bytes: number;
  archive_id: string;
}

/**
 * Whether an archive may be published: lint (purpose `publish`: the same checks as `hub lint` and
 * the catalog's pull-request check) finds no error, and it carries an archive_id. `problem` says
 * what else is missing when lint passed.
 */
export type PublishableArchive =
  | ({ ok: true; lint: LintResult } & ArchiveFacts)
  | { ok: false; lint: LintResult; problem?: string };

/** Lints an .mpn as publishing judges it and, if it passes, reads its sha256 and size. */
export async function checkPublishable(archive: string): Promise<PublishableArchive> {
  const lint = await lintPlugin(archive, { purpose: 'publish' });
  if (!lint.ok || !lint.manifest) return { ok: false, lint };
  const fd = openSync(archive, 'r');
  let digest: { sha256: string; size: number };
  try {
    digest = await hashFd(fd, { maxBytes: DEFAULT_ZIP_LIMITS.maxArchiveBytes });
  } finally {
    closeSync(fd);
  }
  const m = lint.manifest;
  if (!m.archive_id)
    return { ok: false, lint, problem: 'the archive has no archive_id; pack it with hub pack' };
  return {
    ok: true,
    lint,
    manifest: m,
    sha256: digest.sha256,
    size_bytes: digest.size,
    archive_id: m.archive_id,
  };
}

// ——— the tier ———

/** The tier to publish at, or why the one asked for is not allowed. */
export type TierDecision =
  | { ok: true; tier: Tier }
  | { ok: false; reason: 'not-a-maintainer' | 'unknown-author' };

/**
 * `verified` only for a maintainer (listed in the catalog's maintainers.yaml on the base the
 * change targets); without a request, a maintainer publishes `verified` and anyone else
 * DEFAULT_TIER. The catalog's check (verify.tier-not-allowed) applies the same rule to the pull request.
 */
export function decideTier(
  requested: Tier | undefined,
  author: string | undefined,
  maintainers: Maintainers | undefined,
): TierDecision {
  const maintainer = !!maintainers && isMaintainer(maintainers, author);
  if (requested === 'verified' && !maintainer) {
    return { ok: false, reason: author ? 'not-a-maintainer' : 'unknown-author' };
  }
  return { ok: true, tier: requested ?? (maintainer ? 'verified' : DEFAULT_TIER) };
}

// ——— the entry ———

export interface EntryPlanOptions extends Omit<EntryDetails, 'url'> {
  /** The https URL a bucket is served at; default: the hub-relative archive URL (the catalog repo's assets). */
  archiveBaseUrl?: string;
  /** The catalog's folder, prefixed to the entry's path in findings (e.g. `catalog`). */
  catalogDir?: string;
  /** Text written before the YAML (a generated-file comment). */
  header?: string;
}

export interface EntryPlan {
  entry: CatalogEntryInput;
  /** The entry file's bytes, as written to the catalog. */
  yaml: string;
  /** The entry's path: relative to the catalog, or under `catalogDir` when given. */
  entryFile: string;
  /** The archive's key in the hub's storage (`assets/plugins/<id>-<version>.mpn`). */
  archiveKey: string;
  /** Where the entry says the archive is served. */
  url: string;
  /** The catalog's own checks on the entry; `ok` when none is an error. */
  findings: Finding[];
  ok: boolean;
}

/**
 * The entry an archive gives (every field the archive determines comes from it), where it goes,
 * and what the catalog's schema and entry rules say about it: an entry they refuse is never proposed.
 */
export function planEntry(archive: ArchiveFacts, opts: EntryPlanOptions): EntryPlan {
  const m = archive.manifest;
  const key = archiveKey(archiveFileName(m.plugin_id, m.version));
  const url = opts.archiveBaseUrl
    ? `${opts.archiveBaseUrl.replace(/\/+$/, '')}/${key}`
    : hubArchiveUrl(m.plugin_id, m.version);
  const { archiveBaseUrl: _base, catalogDir, header, ...details } = opts;
  const entry = entryForArchive(archive, { ...details, url });
  const yaml = renderEntryYaml(entry, header);
  const rel = entryPath(m.plugin_id, m.version);
  const entryFile = catalogDir ? `${catalogDir}/${rel}` : rel;
  const checked = checkEntryBytes(Buffer.from(yaml), {
    file: entryFile,
    dir: m.plugin_id,
    fileName: entryFileName(m.version),
  });
  return { entry, yaml, entryFile, archiveKey: key, url, findings: checked.findings, ok: !!checked.loaded };
}
