import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { type Finding, FindingList, hasErrors, sortFindings } from '../findings';
import { LINT_RULES, type LintContext } from '../manifest/lint-rules';
import type { PluginFiles } from '../manifest/plugin-files';
import { MAX_MANIFEST_BYTES, readManifest } from '../manifest/read-manifest';
import type { ArchiveManifest } from '../schema/archive-manifest';
import { CURRENT_SDK_VERSION } from '../versions/sdk-range';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { ARCHIVE_MANIFEST_FILES, verifyArchive } from './archive/verify-archive';
import { DirPluginFiles, listPluginDir, MAX_PLUGIN_FILE_READ_BYTES, readSourceManifest } from './plugin-dir';
import { readZipEntry } from './zip';

export interface LintOptions {
  sdkVersion?: string;
  /** As `hub pack --follow-links`: links leaving a plugin dir are followed instead of refused. */
  followLinks?: boolean;
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
  const locator = new YamlLocator(manifestText);
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
    locate: (p, key) => locator.locate(p, key),
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
  const sorted = sortFindings(findings.items);
  return { kind: 'dir', manifest: read.manifest, findings: sorted, ok: !hasErrors(sorted) };
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
  const findings = new FindingList();
  findings.items.push(...verified.findings);
  if (verified.manifest && verified.manifestText !== undefined) {
    const files = new ArchivePluginFiles(
      file,
      verified.digests.map((d) => d.name),
      verified.files,
      label,
    );
    await runRules(
      verified.manifest,
      verified.manifestText,
      `${label}!manifest.yaml`,
      files,
      findings,
      opts.sdkVersion ?? CURRENT_SDK_VERSION,
      'archive',
    );
  }
  const sorted = sortFindings(findings.items);
  return { kind: 'archive', manifest: verified.manifest, findings: sorted, ok: !hasErrors(sorted) };
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
