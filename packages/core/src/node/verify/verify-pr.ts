// `hub verify`'s library: loads both sides of a catalog pull request from git objects and its change
// set into a PrContext, then applies PR_RULES (pr-rules.ts) in order and reports what they found.
import { isMaintainer, type LoadedEntry, type Maintainers } from '../../catalog/model';
import { type Finding, FindingList, sortFindings } from '../../findings';
import { catalogPathKind, MAINTAINERS_FILE } from '../../layout';
import { type LoadedCatalog, loadCatalogFrom, readMaintainers } from '../load-catalog';
import { checkEntryBytes, MAX_ENTRY_BYTES } from '../read-entry';
import { GitCatalogSource, git, resolveCommit } from '../source/git-source';
import { signedTargetsTouched } from './author-signed';
import { ownersFilesTouched } from './ownership';
import { type PrContext, runPrRules, type TouchedEntry } from './pr-rules';

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

export interface PrCommits {
  base: string;
  head: string;
  /** The commit the pull request branched from (its changes are head against this). */
  mergeBase: string;
}

async function resolveCommits(opts: VerifyOptions): Promise<PrCommits> {
  const base = await resolveCommit(opts.repo, opts.base);
  const head = await resolveCommit(opts.repo, opts.head ?? 'HEAD');
  let mergeBase = base;
  try {
    mergeBase = (await git(opts.repo, ['merge-base', base, head])).toString('utf8').trim() || base;
  } catch {
    // unrelated histories: compare with the base itself
  }
  return { base, head, mergeBase };
}

/** The files the pull request touches: catalog-relative with their status letter, and those outside the catalog. */
async function listChanges(
  repo: string,
  prefix: string,
  commits: PrCommits,
): Promise<{ changed: Map<string, string>; outside: string[] }> {
  const diff = (
    await git(repo, ['diff', '--name-status', '-z', '--no-renames', commits.mergeBase, commits.head])
  )
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
  return { changed, outside };
}

/** The published side: only maintainers.yaml and the files the change set needs are read. */
async function openBase(
  opts: VerifyOptions,
  prefix: string,
  commit: string,
  changed: ReadonlyMap<string, string>,
): Promise<{
  base: GitCatalogSource;
  baseMaintainers: Maintainers | undefined;
  maintainerApproved: boolean;
}> {
  const ownersFiles = ownersFilesTouched(changed);
  const signedFiles = signedTargetsTouched(changed);
  const wantedInBase = (rel: string) =>
    rel === MAINTAINERS_FILE || changed.has(rel) || ownersFiles.has(rel) || signedFiles.has(rel);
  const base = await GitCatalogSource.open(opts.repo, commit, prefix, { wanted: wantedInBase });
  const baseMaintainers = readMaintainers(base, base.show(MAINTAINERS_FILE), new FindingList());
  const authorIsMaintainer = !!baseMaintainers && isMaintainer(baseMaintainers, opts.author);
  const approver = (opts.approvedBy ?? []).find((l) => !!baseMaintainers && isMaintainer(baseMaintainers, l));
  return { base, baseMaintainers, maintainerApproved: authorIsMaintainer || approver !== undefined };
}

function publishedEntry(source: GitCatalogSource, rel: string): LoadedEntry | undefined {
  const read = source.read(rel, MAX_ENTRY_BYTES);
  if (!read.ok) return undefined;
  const [, dir, fileName] = rel.split('/');
  return checkEntryBytes(read.bytes, { file: source.show(rel), dir: dir!, fileName: fileName! }).loaded;
}

function changeKind(before: LoadedEntry, after: LoadedEntry): ChangeKind {
  if (!before.entry.yanked && after.entry.yanked) return 'yanked';
  if (!before.entry.deprecated && after.entry.deprecated) return 'deprecated';
  return 'changed';
}

/** What one touched entry file is to the reviewer: added, changed, yanked, … (undefined: it did not parse). */
function describeChange({ file, status, before, after }: TouchedEntry): EntryChange | undefined {
  if (status === 'D') {
    if (!before) return { kind: 'deleted', file };
    return { kind: 'deleted', file, pluginId: before.entry.plugin_id, version: before.entry.version };
  }
  if (!after) return undefined; // its schema findings are already reported
  const { plugin_id: pluginId, version, tier } = after.entry;
  const kind = before && status !== 'A' ? changeKind(before, after) : 'added';
  return { kind, file, pluginId, version, tier };
}

/** The touched catalog files sorted by path, each entry file with both of its sides, and what changed. */
function classifyChanges(
  changed: ReadonlyMap<string, string>,
  head: GitCatalogSource,
  headCatalog: LoadedCatalog,
  base: GitCatalogSource,
) {
  const headByFile = new Map(headCatalog.entries.map((e) => [e.file, e]));
  const touched: TouchedEntry[] = [];
  const touchedOther: Array<{ rel: string; file: string; status: string }> = [];
  for (const [rel, status] of [...changed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const file = head.show(rel);
    if (catalogPathKind(rel) !== 'entry') touchedOther.push({ rel, file, status });
    else touched.push({ rel, file, status, before: publishedEntry(base, rel), after: headByFile.get(file) });
  }
  const changes: EntryChange[] = [];
  const newVersions: LoadedEntry[] = [];
  for (const t of touched) {
    const change = describeChange(t);
    if (!change) continue;
    changes.push(change);
    if (change.kind === 'added') newVersions.push(t.after!);
  }
  return { touched, touchedOther, changes, newVersions };
}

/** Both sides of the pull request and its change set, as the rules read them (no rule has run yet). */
export async function loadPrContext(opts: VerifyOptions): Promise<PrContext> {
  const commits = await resolveCommits(opts);
  const progress = opts.onProgress ?? (() => {});
  const prefix = (opts.catalogPath ?? 'catalog').replace(/^\/+|\/+$/g, '');
  progress('listing the changes');
  const { changed, outside } = await listChanges(opts.repo, prefix, commits);
  progress('reading the pull request’s catalog');
  const head = await GitCatalogSource.open(opts.repo, commits.head, prefix);
  const headCatalog = loadCatalogFrom(head);
  progress('reading what is published');
  const published = await openBase(opts, prefix, commits.base, changed);
  return {
    opts,
    progress,
    commits,
    prefix,
    changed,
    outside,
    head,
    headCatalog,
    locate: headCatalog.locate!,
    ...published,
    who: opts.author ? `@${opts.author}` : 'an unknown author',
    ...classifyChanges(changed, head, headCatalog, published.base),
    findings: new FindingList(),
    archivesChecked: 0,
    installed: 0,
  };
}

/**
 * Checks a catalog pull request in a real git repository: the entries it adds or changes (schema,
 * rules, archive, a real install), what may change once published, who may change a plugin (its
 * owners) and who may say "verified"; plus the catalog-wide invariants of the result. A change
 * outside the catalog is an error: such a pull request is for a maintainer to review. Unchanged
 * entries are parsed once for the invariants but never re-checked or re-downloaded. Every problem
 * is a finding naming the repo-relative file and line; nothing stops at the first one.
 */
export async function verifyPullRequest(opts: VerifyOptions): Promise<VerifyResult> {
  const ctx = await loadPrContext(opts);
  await runPrRules(ctx);
  const { commits } = ctx;
  const verifiedRequest = ctx.touched.some((t) => t.status !== 'D' && t.after?.entry.tier === 'verified');
  return {
    base: commits.base,
    head: commits.head,
    mergeBase: commits.mergeBase,
    changes: [...ctx.changes],
    otherFiles: ctx.touchedOther.map((o) => o.file),
    findings: sortFindings(ctx.findings.items),
    archivesChecked: ctx.archivesChecked,
    installed: ctx.installed,
    entries: ctx.headCatalog.entries.length,
    label: verifiedRequest ? 'tier:verified-request' : 'tier:community',
    maintainerApproved: ctx.maintainerApproved,
  };
}
