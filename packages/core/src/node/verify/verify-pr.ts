import { fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { isMaintainer, type LoadedEntry, type Maintainers } from '../../catalog/model';
import { MUTABLE_ENTRY_FIELDS } from '../../catalog/rules';
import { type Finding, FindingList, sortFindings } from '../../findings';
import { ARCHIVE_SUFFIX, ASSETS_DIR, catalogPathKind, MAINTAINERS_FILE } from '../../layout';
import type { VerifiedArchive } from '../archive/verify-archive';
import { checkOpenedArchive, locateArchive } from '../check-archives';
import { refusalFinding } from '../fs/tree-file';
import { ioFinding, TooLargeError } from '../io-error';
import { lintVerifiedArchive } from '../lint';
import { loadCatalogFrom, MAX_MAINTAINERS_BYTES, readMaintainers } from '../load-catalog';
import { checkEntryBytes, MAX_ENTRY_BYTES } from '../read-entry';
import { GitCatalogSource, git, resolveCommit } from '../source/git-source';
import { DEFAULT_ZIP_LIMITS } from '../zip';
import { checkAuthorSigned, signedTargetsTouched } from './author-signed';
import { checkOwnership, listChange, loginLine, ownersFilesTouched } from './ownership';

export interface VerifyOptions {
  /** A git repository (its work tree is never read or changed). */
  repo: string;
  /** The branch the pull request targets (what is published). */
  base: string;
  /** The pull request's commit (default HEAD). */
  head?: string;
  /** Where the catalog is in the repo (default "catalog"; "" for a repo that is the catalog). */
  catalogPath?: string;
  /** The pull request's author (GitHub login); unknown means "not a maintainer" and "not an owner". */
  author?: string;
  /** Logins that approved the pull request. */
  approvedBy?: readonly string[];
  /** Fetches an https archive into `dest` (created), refusing more than `maxBytes`; throws with a message. */
  download?: (url: string, dest: string, maxBytes: number) => Promise<void>;
  /**
   * Installs a new version's archive into a throw-away CoreService and checks its health; resolves
   * to undefined when it did, or to what went wrong. Absent: no install smoke test.
   */
  install?: (archive: string, loaded: LoadedEntry) => Promise<string | undefined>;
  onProgress?: (message: string) => void;
}

export type ChangeKind = 'added' | 'changed' | 'yanked' | 'deprecated' | 'deleted';

export interface EntryChange {
  kind: ChangeKind;
  /** The entry file, repo-relative. */
  file: string;
  pluginId?: string;
  version?: string;
  tier?: string;
}

export interface VerifyResult {
  base: string;
  head: string;
  /** The commit the pull request branched from (its changes are head against this). */
  mergeBase: string;
  changes: EntryChange[];
  /** Other catalog files the pull request touches (archives, maintainers.yaml, …). */
  otherFiles: string[];
  findings: Finding[];
  archivesChecked: number;
  installed: number;
  /** Entries in the head catalog. */
  entries: number;
  /** The label the pull request deserves: `tier:verified-request` when it sets or keeps tier verified. */
  label: 'tier:community' | 'tier:verified-request';
  /** Whether the author (or an approver) is a maintainer in the base's maintainers.yaml. */
  maintainerApproved: boolean;
}

/** Files outside the catalog named one finding each, up to this many; the last one counts the rest. */
const MAX_OUTSIDE_FINDINGS = 20;

/**
 * Checks a catalog pull request in a real git repository: the entries it adds or changes (schema,
 * rules, archive, a real install), what may change once published, who may change a plugin (its
 * owners) and who may say "verified"; plus the catalog-wide invariants of the result. A change
 * outside the catalog is an error: such a pull request is for a maintainer to review. Unchanged
 * entries are parsed once for the invariants but never re-checked or re-downloaded. Every problem
 * is a finding naming the repo-relative file and line; nothing stops at the first one.
 */
export async function verifyPullRequest(opts: VerifyOptions): Promise<VerifyResult> {
  const progress = opts.onProgress ?? (() => {});
  const repo = opts.repo;
  const prefix = (opts.catalogPath ?? 'catalog').replace(/^\/+|\/+$/g, '');
  const baseCommit = await resolveCommit(repo, opts.base);
  const headCommit = await resolveCommit(repo, opts.head ?? 'HEAD');
  let mergeBase = baseCommit;
  try {
    mergeBase =
      (await git(repo, ['merge-base', baseCommit, headCommit])).toString('utf8').trim() || baseCommit;
  } catch {
    // unrelated histories: compare with the base itself
  }

  progress('listing the changes');
  const diff = (await git(repo, ['diff', '--name-status', '-z', '--no-renames', mergeBase, headCommit]))
    .toString('utf8')
    .split('\0');
  const changed = new Map<string, string>(); // catalog-relative path → A | M | D | T
  const outside: string[] = []; // repo-relative paths outside the catalog
  for (let i = 0; i + 1 < diff.length; i += 2) {
    const status = diff[i]!;
    const path = diff[i + 1]!;
    if (!status) break;
    if (!prefix) changed.set(path, status[0]!);
    else if (path.startsWith(`${prefix}/`)) changed.set(path.slice(prefix.length + 1), status[0]!);
    else outside.push(path);
  }

  progress('reading the pull request’s catalog');
  const head = await GitCatalogSource.open(repo, headCommit, prefix);
  const loaded = loadCatalogFrom(head);
  const locate = loaded.locate!;
  const changedShown = new Set([...changed.keys()].map((rel) => head.show(rel)));
  const findings = new FindingList();
  // The whole catalog's invariants, and everything about the files this pull request touches.
  // (A plugin without owners.yaml is the ownership check's business, on the plugins this touches.)
  for (const f of loaded.findings) {
    if (f.code === 'catalog.no-owners') continue;
    if (changedShown.has(f.file) || f.code.startsWith('catalog.')) findings.items.push(f);
  }
  reportOutsideCatalog(outside, prefix, findings);

  progress('reading what is published');
  const ownersFiles = ownersFilesTouched(changed);
  const signedFiles = signedTargetsTouched(changed);
  const wantedInBase = (rel: string) =>
    rel === MAINTAINERS_FILE || changed.has(rel) || ownersFiles.has(rel) || signedFiles.has(rel);
  const base = await GitCatalogSource.open(repo, baseCommit, prefix, { wanted: wantedInBase });
  const baseMaintainers = readMaintainers(base, base.show(MAINTAINERS_FILE), new FindingList());
  const authorIsMaintainer = !!baseMaintainers && isMaintainer(baseMaintainers, opts.author);
  const approver = (opts.approvedBy ?? []).find((l) => !!baseMaintainers && isMaintainer(baseMaintainers, l));
  const maintainerApproved = authorIsMaintainer || approver !== undefined;
  const who = opts.author ? `@${opts.author}` : 'an unknown author';

  const headByFile = new Map(loaded.entries.map((e) => [e.file, e]));
  const changes: EntryChange[] = [];
  const otherFiles: string[] = [];
  const newVersions: LoadedEntry[] = [];
  let verifiedRequest = false;

  for (const [rel, status] of [...changed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const file = head.show(rel);
    if (catalogPathKind(rel) !== 'entry') {
      otherFiles.push(file);
      if (rel.startsWith(`${ASSETS_DIR}/`) && status !== 'A' && base.size(rel) !== undefined) {
        findings.error(
          'verify.archive-replaced',
          `${file} is already published; an archive is never replaced or deleted — publish a new version with a new archive instead`,
          { file },
        );
      }
      continue;
    }
    const before = publishedEntry(base, rel);
    if (status === 'D') {
      if (before) {
        const { plugin_id: id, version } = before.entry;
        findings.error(
          'verify.version-deleted',
          `${id} ${version} is published and may not be deleted (installs and lock files point at it); yank it instead: hub yank ${id}@${version} --reason "…"`,
          { file },
        );
        changes.push({ kind: 'deleted', file, pluginId: id, version });
      } else {
        changes.push({ kind: 'deleted', file });
      }
      continue;
    }
    const after = headByFile.get(file);
    if (!after) continue; // its schema findings are already reported
    const e = after.entry;
    if (e.tier === 'verified') {
      verifiedRequest = true;
      if (!maintainerApproved) {
        findings.error(
          'verify.tier-not-allowed',
          `tier "verified" may be set or kept only by a maintainer listed in maintainers.yaml on the base branch, or with a maintainer's approval; ${who} is not one${(opts.approvedBy ?? []).length > 0 ? ' and no approver is' : ''}. Use tier: community, or ask a maintainer to approve`,
          { file, ...locate(file, ['tier']) },
        );
      }
    }
    if (before && status !== 'A') {
      changes.push({
        kind: changeKind(before, after),
        file,
        pluginId: e.plugin_id,
        version: e.version,
        tier: e.tier,
      });
      comparePublished(before, after, locate, findings);
    } else {
      changes.push({ kind: 'added', file, pluginId: e.plugin_id, version: e.version, tier: e.tier });
      newVersions.push(after);
    }
  }

  if (changed.has(MAINTAINERS_FILE)) {
    checkMaintainersChange(head, baseMaintainers, loaded.maintainers, maintainerApproved, who, findings);
  }
  checkOwnership(
    {
      base,
      head,
      headOwners: loaded.owners,
      changed,
      kinds: new Map(changes.map((c) => [c.file, c.kind])),
      author: opts.author,
      approvedBy: opts.approvedBy ?? [],
      maintainerApproved,
    },
    findings,
  );
  checkAuthorSigned({ base, head, newVersions, changed, locate }, findings);

  let archivesChecked = 0;
  let installed = 0;
  const work = mkdtempSync(join(tmpdir(), 'hub-verify-'));
  try {
    for (const [i, entry] of newVersions.entries()) {
      const { plugin_id: id, version } = entry.entry;
      progress(`checking the archive of ${id} ${version} (${i + 1}/${newVersions.length})`);
      const at = { file: entry.file, ...locate(entry.file, ['archive', 'url']) };
      let archive: { path: string; label: string } | undefined;
      try {
        archive = await fetchArchive(
          entry,
          head,
          join(work, `${i}${ARCHIVE_SUFFIX}`),
          opts,
          locate,
          findings,
        );
      } catch (err) {
        // Too large to take, or git could not read it: a finding on this entry; the others go on.
        const code = err instanceof TooLargeError ? 'zip.too-large' : ioFinding(err, entry.file).code;
        findings.error(
          code,
          `archive ${entry.entry.archive.url} could not be taken from the pull request: ${(err as Error).message}`,
          at,
        );
        continue;
      }
      if (!archive) continue;
      archivesChecked++;
      let passed: boolean;
      try {
        const fd = openSync(archive.path, 'r');
        const verified = await checkOpenedArchive(
          entry,
          { fd, real: archive.path, stats: fstatSync(fd) },
          archive.label,
          locate,
          findings,
        );
        passed = !!verified && (await publishLintPasses(archive, verified, findings));
      } catch (err) {
        const f = ioFinding(err, entry.file);
        findings.error(f.code, `archive ${entry.entry.archive.url} could not be checked: ${f.message}`, at);
        continue;
      }
      if (!passed || !opts.install) continue;
      progress(`installing ${id} ${version} in a throw-away CoreService`);
      const problem = await opts.install(archive.path, entry);
      if (problem === undefined) installed++;
      else {
        findings.error(
          'verify.install-failed',
          `${id} ${version} did not install and pass its health check in a throw-away CoreService: ${problem}`,
          at,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  return {
    base: baseCommit,
    head: headCommit,
    mergeBase,
    changes,
    otherFiles,
    findings: sortFindings(findings.items),
    archivesChecked,
    installed,
    entries: loaded.entries.length,
    label: verifiedRequest ? 'tier:verified-request' : 'tier:community',
    maintainerApproved,
  };

  function publishedEntry(source: GitCatalogSource, rel: string): LoadedEntry | undefined {
    const read = source.read(rel, MAX_ENTRY_BYTES);
    if (!read.ok) return undefined;
    const [, dir, fileName] = rel.split('/');
    return checkEntryBytes(read.bytes, { file: source.show(rel), dir: dir!, fileName: fileName! }).loaded;
  }

  function checkMaintainersChange(
    source: GitCatalogSource,
    before: Maintainers | undefined,
    after: Maintainers | undefined,
    approved: boolean,
    author: string,
    list: FindingList,
  ): void {
    const file = source.show(MAINTAINERS_FILE);
    const { added, removed, what } = listChange(before?.maintainers, after?.maintainers);
    const read = source.read(MAINTAINERS_FILE, MAX_MAINTAINERS_BYTES);
    const text = read.ok ? read.bytes.toString('utf8') : '';
    const where = { file, ...(added[0] ? loginLine(text, added[0]) : {}) };
    if (!approved) {
      list.error(
        'verify.maintainers-not-allowed',
        `maintainers.yaml ${what || 'changes'}, but ${author} is not a maintainer on the base branch and no maintainer approved; only maintainers change who may set tier "verified"`,
        where,
      );
    } else if (what) {
      const self = removed.includes((opts.author ?? '').toLowerCase())
        ? ' (the author removes themself)'
        : '';
      list.warning(
        'verify.maintainers-changed',
        `maintainers.yaml ${what}${self}: a reviewer must confirm this change of who may set tier "verified"`,
        where,
      );
    }
  }
}

/**
 * The author's checks as `hub publish` runs them (purpose `publish`: lint.placeholder and the like are
 * errors), on a new version's archive that passed the strict check: their errors refuse it here as
 * they would have refused `hub publish`. Warnings are the author's business, not the catalog's.
 */
async function publishLintPasses(
  archive: { path: string; label: string },
  verified: VerifiedArchive,
  findings: FindingList,
): Promise<boolean> {
  const linted = await lintVerifiedArchive(archive.path, verified, archive.label, { purpose: 'publish' });
  const errors = linted.filter((f) => f.severity === 'error');
  findings.items.push(...errors);
  return errors.length === 0;
}

/**
 * Files a catalog pull request changes outside the catalog (workflows, scripts, the hub's own code):
 * each is an error, so such a pull request never gets the catalog check's green and a maintainer
 * reviews it. The first MAX_OUTSIDE_FINDINGS are named; the last of those counts the rest.
 */
function reportOutsideCatalog(outside: readonly string[], prefix: string, findings: FindingList): void {
  const named = outside.slice(0, MAX_OUTSIDE_FINDINGS);
  for (const [i, file] of named.entries()) {
    const more = outside.length - named.length;
    const rest =
      i === named.length - 1 && more > 0
        ? ` (and ${more} more file${more === 1 ? '' : 's'} outside ${prefix}/)`
        : '';
    findings.error(
      'verify.outside-catalog',
      `${file} is outside ${prefix}/${rest}: a catalog pull request may only change the catalog; a change to workflows, scripts or the hub's code needs a maintainer's review, not the catalog check — split it into its own pull request`,
      { file },
    );
  }
}

function changeKind(before: LoadedEntry, after: LoadedEntry): ChangeKind {
  if (!before.entry.yanked && after.entry.yanked) return 'yanked';
  if (!before.entry.deprecated && after.entry.deprecated) return 'deprecated';
  return 'changed';
}

const short = (v: unknown) => {
  const s = v === undefined ? '(absent)' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
};

/** A published entry may only gain or change yanked and deprecated; anything else is a finding on its line. */
function comparePublished(
  before: LoadedEntry,
  after: LoadedEntry,
  locate: (file: string, path: ReadonlyArray<PropertyKey>) => { line: number; column: number },
  findings: FindingList,
): void {
  const a = before.entry as Record<string, unknown>;
  const b = after.entry as Record<string, unknown>;
  const id = `${after.entry.plugin_id} ${after.entry.version}`;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(
    (k) => !(MUTABLE_ENTRY_FIELDS as readonly string[]).includes(k),
  );
  for (const key of keys) {
    if (isDeepStrictEqual(a[key], b[key])) continue;
    const pairs: Array<[PropertyKey[], unknown, unknown]> = [];
    const av = a[key];
    const bv = b[key];
    if (isPlainObject(av) && isPlainObject(bv)) {
      for (const sub of new Set([...Object.keys(av), ...Object.keys(bv)])) {
        if (!isDeepStrictEqual(av[sub], bv[sub])) pairs.push([[key, sub], av[sub], bv[sub]]);
      }
    } else {
      pairs.push([[key], av, bv]);
    }
    for (const [path, was, now] of pairs) {
      const at = now === undefined ? locate(after.file, [path[0]!]) : locate(after.file, path);
      findings.error(
        'verify.published-changed',
        `${id} is published: ${path.join('.')} may not change (was ${short(was)}, now ${short(now)}); only yanked and deprecated may be added or changed — publish a new version instead`,
        { file: after.file, ...at },
      );
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Brings a new version's archive to a local file: from the PR's own tree, or downloaded with a cap. */
async function fetchArchive(
  entry: LoadedEntry,
  head: GitCatalogSource,
  dest: string,
  opts: VerifyOptions,
  locate: (file: string, path: ReadonlyArray<PropertyKey>) => { line: number; column: number },
  findings: FindingList,
): Promise<{ path: string; label: string } | undefined> {
  const url = entry.entry.archive.url;
  const at = { file: entry.file, ...locate(entry.file, ['archive', 'url']) };
  const where = locateArchive('', url);
  if (where.kind === 'bad') {
    findings.error('archive.bad-url', where.message, at);
    return undefined;
  }
  // Never more than the entry says, and never more than any archive may be: one byte over is enough to tell.
  const cap = Math.min(entry.entry.archive.size_bytes + 1, DEFAULT_ZIP_LIMITS.maxArchiveBytes + 1);
  if (where.kind === 'local') {
    const label = head.show(where.rel);
    const size = head.size(where.rel);
    if (size === undefined) {
      const read = head.read(where.rel, 0);
      const missing = !read.ok && read.refusal.kind === 'io';
      if (missing) {
        findings.error(
          'archive.missing',
          `archive ${url} is not in the pull request (expected ${label})`,
          at,
        );
      } else if (!read.ok) {
        const f = refusalFinding(read.refusal, label, 'zip.too-large');
        findings.error(f.code, `archive ${url} ${f.message}`, at);
      }
      return undefined;
    }
    if (size !== entry.entry.archive.size_bytes) {
      findings.error(
        'archive.size-mismatch',
        `size_bytes is ${entry.entry.archive.size_bytes} but the archive has ${size} bytes`,
        { file: entry.file, ...locate(entry.file, ['archive', 'size_bytes']) },
      );
      return undefined;
    }
    await head.copyFile(where.rel, dest, cap);
    return { path: dest, label };
  }
  if (!opts.download) {
    findings.error(
      'verify.download-failed',
      `archive ${url} was not downloaded: this run has no downloader`,
      at,
    );
    return undefined;
  }
  try {
    await opts.download(url, dest, cap);
  } catch (err) {
    findings.error(
      'verify.download-failed',
      `archive ${url} could not be downloaded: ${(err as Error).message}`,
      at,
    );
    rmSync(dest, { force: true });
    return undefined;
  }
  return { path: dest, label: url };
}
