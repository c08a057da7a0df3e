import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { type Finding, FindingList, hasErrors, sortFindings } from '../findings';
import { ARCHIVE_MANIFEST } from '../layout';
import { LINT_RULES, type LintContext, PUBLISH_BLOCKING } from '../manifest/lint-rules';
import type { PluginFiles } from '../manifest/plugin-files';
import { MAX_MANIFEST_BYTES, readManifest } from '../manifest/read-manifest';
import type { ArchiveManifest } from '../schema/archive-manifest';
import { CURRENT_SDK_VERSION } from '../versions/sdk-range';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { ARCHIVE_MANIFEST_FILES, type VerifiedArchive, verifyArchive } from './archive/verify-archive';
import { DirPluginFiles, listPluginDir, MAX_PLUGIN_FILE_READ_BYTES, readSourceManifest } from './plugin-dir';
import { readZipEntry, ZipError } from './zip';
import { checkEntryName } from './zip/entry-name';
import { checkEntryPaths } from './zip/entry-paths';

/**
 * Why a plugin is linted. `author` (hub lint, hub pack): an author iterating, so what only the catalog
 * refuses (PUBLISH_BLOCKING) is a warning. `publish` (hub publish, hub verify): it is an error.
 */
export type LintPurpose = 'author' | 'publish';

export interface LintOptions {
  sdkVersion?: string;
  /** As `hub pack --follow-links`: links leaving a plugin dir are followed instead of refused. */
  followLinks?: boolean;
  /** Default `author`. */
  purpose?: LintPurpose;
}

/** The findings as the purpose judges them: publish-blocking warnings become errors when publishing. */
function forPurpose(findings: readonly Finding[], purpose: LintPurpose = 'author'): Finding[] {
  if (purpose === 'author') return [...findings];
  return findings.map((f) => (PUBLISH_BLOCKING.has(f.code) ? { ...f, severity: 'error' } : f));
}

export interface LintResult {
  kind: 'dir' | 'archive';
  manifest?: ArchiveManifest;
  findings: Finding[];
  /** True when nothing would stop the plugin from packing or installing. */
  ok: boolean;
}

async function runRules(
  manifest: ArchiveManifest,
  manifestText: string,
  manifestFile: string,
  files: PluginFiles,
  findings: FindingList,
  sdkVersion: string,
  origin: LintContext['origin'],
  raw?: unknown,
): Promise<void> {
  let locator: YamlLocator | undefined;
  const lazy = () => {
    locator ??= new YamlLocator(manifestText);
    return locator;
  };
  const reread =
    raw === undefined
      ? parseYaml(manifestText, manifestFile, { flavour: 'sdk', maxBytes: MAX_MANIFEST_BYTES })
      : undefined;
  const ctx: LintContext = {
    manifest,
    manifestFile,
    files,
    origin,
    findings,
    sdkVersion,
    raw: raw ?? (reread?.ok ? reread.value.data : undefined),
    locate: (p, key) => lazy().locate(p, key),
    written: (p) => lazy().written(p),
  };
  for (const rule of LINT_RULES) await rule(ctx);
}

/** The author's checks on a plugin source dir: errors only where it could not pack or install. */
export async function lintDir(dirArg: string, opts: LintOptions = {}): Promise<LintResult> {
  const dir = resolve(dirArg);
  const findings = new FindingList();
  const source = readSourceManifest(dir, { followLinks: opts.followLinks });
  if (!source.ok) {
    const finding =
      source.finding.code === 'lint.no-manifest' ? { ...source.finding, file: dirArg } : source.finding;
    return { kind: 'dir', findings: [finding], ok: false };
  }
  const manifestFile = join(basename(dir), source.name);
  const text = source.text;
  const read = readManifest(text, manifestFile);
  if (!read.ok) return { kind: 'dir', findings: read.findings, ok: false };
  // Exactly the files pack would see, and the links that would stop it.
  const listing = listPluginDir(dir, { followLinks: opts.followLinks });
  for (const problem of listing.problems)
    findings.error(problem.code, problem.message, { file: `${basename(dir)}/${problem.path}` });
  checkArchiveNames(listing.files, basename(dir), findings);
  const files = new DirPluginFiles(dir, listing.files, basename(dir));
  await runRules(
    read.manifest,
    text,
    manifestFile,
    files,
    findings,
    opts.sdkVersion ?? CURRENT_SDK_VERSION,
    'dir',
    read.raw,
  );
  const sorted = sortFindings(forPurpose(findings.items, opts.purpose));
  return { kind: 'dir', manifest: read.manifest, findings: sorted, ok: !hasErrors(sorted) };
}

/**
 * The names pack would give the archive's entries, judged as the safe reader judges every archive
 * (zip.* codes): a name Windows cannot hold, or two that collide on a case-insensitive disk, would
 * stop pack, publish and verify, so lint says so first, at the file.
 */
function checkArchiveNames(files: readonly string[], label: string, findings: FindingList): void {
  const refused = (err: unknown) => {
    if (!(err instanceof ZipError)) throw err;
    const message = `${err.message.slice(`${err.code}: `.length)}; hub pack and the catalog refuse it`;
    findings.error(err.code, message, { file: `${label}/${err.entry ?? ''}` });
  };
  for (const name of files) {
    try {
      checkEntryName(name, label);
    } catch (err) {
      refused(err);
    }
  }
  const names = [...new Set([...files, ...ARCHIVE_MANIFEST_FILES])];
  try {
    checkEntryPaths(
      names.map((name) => ({ name, isDirectory: false })),
      label,
    );
  } catch (err) {
    refused(err);
  }
}

/** Files up to this size are kept in memory during lintArchive's one pass, so rules rarely reopen the zip. */
const KEEP_FILE_BYTES = 256 * 1024;
const KEEP_TOTAL_BYTES = 16 * 1024 * 1024;

/**
 * An archive's contents through the PluginFiles interface: small files come from memory (kept during
 * the verifying pass); only a larger one a rule asks for is read from the zip again.
 */
class ArchivePluginFiles implements PluginFiles {
  private readonly names: string[];
  private readonly set: Set<string>;

  constructor(
    private readonly file: string,
    names: readonly string[],
    private readonly kept: ReadonlyMap<string, Buffer>,
    readonly label: string,
  ) {
    this.names = names.filter((n) => !ARCHIVE_MANIFEST_FILES.has(n));
    this.set = new Set(this.names);
  }

  list(): readonly string[] {
    return this.names;
  }

  has(path: string): boolean {
    return this.set.has(path);
  }

  read(path: string): Promise<Buffer> {
    const kept = this.kept.get(path);
    return kept ? Promise.resolve(kept) : readZipEntry(this.file, path, MAX_PLUGIN_FILE_READ_BYTES);
  }
}

/** Strict checks on an archive (safety, integrity), then the same author's checks as for a dir. */
export async function lintArchive(file: string, opts: LintOptions = {}): Promise<LintResult> {
  const label = basename(file);
  const verified = await verifyArchive(file, {
    label,
    keep: { maxFileBytes: KEEP_FILE_BYTES, maxTotalBytes: KEEP_TOTAL_BYTES },
  });
  const findings = [...verified.findings, ...(await lintVerifiedArchive(file, verified, label, opts))];
  const sorted = sortFindings(findings);
  return { kind: 'archive', manifest: verified.manifest, findings: sorted, ok: !hasErrors(sorted) };
}

/**
 * The author's checks on an archive the strict check has already read (`verified`, whose own
 * findings are not repeated): what `hub verify` runs on each new version, with purpose `publish`.
 * `label` names the archive in findings, as it did for the strict check.
 */
export async function lintVerifiedArchive(
  file: string,
  verified: VerifiedArchive,
  label: string,
  opts: LintOptions = {},
): Promise<Finding[]> {
  if (!verified.manifest || verified.manifestText === undefined) return [];
  const findings = new FindingList();
  const files = new ArchivePluginFiles(
    file,
    verified.digests.map((d) => d.name),
    verified.files,
    label,
  );
  await runRules(
    verified.manifest,
    verified.manifestText,
    `${label}!${ARCHIVE_MANIFEST}`,
    files,
    findings,
    opts.sdkVersion ?? CURRENT_SDK_VERSION,
    'archive',
  );
  return sortFindings(forPurpose(findings.items, opts.purpose));
}

/** Lints a dir or an .mpn, whichever `target` is. */
export async function lintPlugin(target: string, opts: LintOptions = {}): Promise<LintResult> {
  if (!existsSync(target)) {
    return {
      kind: 'dir',
      findings: [
        { file: target, severity: 'error', code: 'lint.not-found', message: 'no such file or directory' },
      ],
      ok: false,
    };
  }
  return statSync(target).isDirectory() ? lintDir(target, opts) : lintArchive(target, opts);
}
