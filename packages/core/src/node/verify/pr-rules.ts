// The rules `hub verify` applies to a catalog pull request, as a list in the style of CATALOG_RULES:
// each rule names the finding codes it can report and checks one thing on the PrContext that
// verify-pr.ts loads (both sides of the pull request, its change set, who asks). The new versions'
// archives go through ARCHIVE_STEPS (take, check, install), one version at a time.
import { fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { LoadedEntry, Locate, Maintainers } from '../../catalog/model';
import { MUTABLE_ENTRY_FIELDS } from '../../catalog/rules';
import { FINDING_CODES, type FindingCode } from '../../finding-codes';
import type { Finding, FindingList, SourceLocation } from '../../findings';
import { ARCHIVE_SUFFIX, ASSETS_DIR, MAINTAINERS_FILE } from '../../layout';
import type { VerifiedArchive } from '../archive/verify-archive';
import { checkOpenedArchive, locateArchive } from '../check-archives';
import { refusalFinding } from '../fs/tree-file';
import { ioFinding, TooLargeError } from '../io-error';
import { lintVerifiedArchive } from '../lint';
import { type LoadedCatalog, MAX_MAINTAINERS_BYTES } from '../load-catalog';
import type { GitCatalogSource } from '../source/git-source';
import { DEFAULT_ZIP_LIMITS } from '../zip';
import { checkAuthorSigned } from './author-signed';
import { checkOwnership, listChange, loginLine } from './ownership';
import type { EntryChange, PrCommits, VerifyOptions } from './verify-pr';

/** An entry file the pull request adds, changes or deletes, with both of its sides. */
export interface TouchedEntry {
  /** Catalog-relative path. */
  rel: string;
  /** Repo-relative path, as findings name it. */
  file: string;
  /** git's status letter: A, M, D or T. */
  status: string;
  /** The published entry (base side), when it parses. */
  before?: LoadedEntry;
  /** The pull request's entry (head side), when it passed the schema. */
  after?: LoadedEntry;
}

/** Everything a PR rule sees: loaded once by verifyPullRequest, then read (and reported on) by each rule. */
export interface PrContext {
  readonly opts: VerifyOptions;
  readonly progress: (message: string) => void;
  readonly commits: PrCommits;
  /** Where the catalog is in the repo ("" for a repo that is the catalog). */
  readonly prefix: string;
  /** Catalog-relative path → git status letter, for every catalog file the pull request touches. */
  readonly changed: ReadonlyMap<string, string>;
  /** Repo-relative paths the pull request touches outside the catalog. */
  readonly outside: readonly string[];
  /** The pull request's side, and its catalog as `hub validate` loads it. */
  readonly head: GitCatalogSource;
  readonly headCatalog: LoadedCatalog;
  readonly locate: Locate;
  /** The published side (only the files the rules need are read). */
  readonly base: GitCatalogSource;
  readonly baseMaintainers: Maintainers | undefined;
  /** The author, or an approver, is a maintainer on the base. */
  readonly maintainerApproved: boolean;
  /** The author as messages name them. */
  readonly who: string;
  /** Entry files touched, sorted by path. */
  readonly touched: readonly TouchedEntry[];
  /** Other catalog files touched, sorted by path. */
  readonly touchedOther: ReadonlyArray<{ rel: string; file: string; status: string }>;
  readonly changes: readonly EntryChange[];
  /** Entries the pull request adds: their archives are taken, checked and installed. */
  readonly newVersions: readonly LoadedEntry[];
  readonly findings: FindingList;
  archivesChecked: number;
  installed: number;
}

export interface PrRule {
  name: string;
  /** Every finding code the rule can report (a test runs each one's fixture through the rules). */
  codes: readonly FindingCode[];
  check(ctx: PrContext): void | Promise<void>;
}

/** Every code of these families (`archive` → `archive.*`). */
function codesOf(...families: string[]): FindingCode[] {
  return (Object.keys(FINDING_CODES) as FindingCode[]).filter((c) =>
    families.some((f) => c.startsWith(`${f}.`)),
  );
}

/** Files outside the catalog named one finding each, up to this many; the last one counts the rest. */
const MAX_OUTSIDE_FINDINGS = 20;

/** The head catalog's invariants, and everything the loader found in the files this pull request touches. */
const headCatalogFindings: PrRule = {
  name: 'head-catalog',
  // (A plugin without owners.yaml is the ownership rule's business, on the plugins this touches.)
  codes: codesOf('yaml', 'json', 'entry', 'maintainers', 'owners', 'path', 'catalog', 'io').filter(
    (c) => c !== 'catalog.no-owners',
  ),
  check({ changed, head, headCatalog, findings }) {
    const changedShown = new Set([...changed.keys()].map((rel) => head.show(rel)));
    for (const f of headCatalog.findings) {
      if (f.code === 'catalog.no-owners') continue;
      if (changedShown.has(f.file) || f.code.startsWith('catalog.')) findings.items.push(f);
    }
  },
};

/**
 * Files a catalog pull request changes outside the catalog (workflows, scripts, the hub's own code):
 * each is an error, so such a pull request never gets the catalog check's green and a maintainer
 * reviews it. The first MAX_OUTSIDE_FINDINGS are named; the last of those counts the rest.
 */
const outsideCatalog: PrRule = {
  name: 'outside-catalog',
  codes: ['verify.outside-catalog'],
  check({ outside, prefix, findings }) {
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
  },
};

/** An archive already published is never replaced or deleted. */
const archiveNotReplaced: PrRule = {
  name: 'archive-not-replaced',
  codes: ['verify.archive-replaced'],
  check({ touchedOther, base, findings }) {
    for (const { rel, file, status } of touchedOther) {
      if (rel.startsWith(`${ASSETS_DIR}/`) && status !== 'A' && base.size(rel) !== undefined) {
        findings.error(
          'verify.archive-replaced',
          `${file} is already published; an archive is never replaced or deleted — publish a new version with a new archive instead`,
          { file },
        );
      }
    }
  },
};

/** A published version's entry is never deleted: installs and lock files point at it. */
const versionNotDeleted: PrRule = {
  name: 'version-not-deleted',
  codes: ['verify.version-deleted'],
  check({ touched, findings }) {
    for (const { file, status, before } of touched) {
      if (status !== 'D' || !before) continue;
      const { plugin_id: id, version } = before.entry;
      findings.error(
        'verify.version-deleted',
        `${id} ${version} is published and may not be deleted (installs and lock files point at it); yank it instead: hub yank ${id}@${version} --reason "…"`,
        { file },
      );
    }
  },
};

/** Tier verified is set or kept only by a maintainer of the base, or with one's approval. */
const tierVerifiedByMaintainer: PrRule = {
  name: 'tier-verified-by-maintainer',
  codes: ['verify.tier-not-allowed'],
  check({ touched, maintainerApproved, who, opts, locate, findings }) {
    if (maintainerApproved) return;
    for (const { file, status, after } of touched) {
      if (status === 'D' || after?.entry.tier !== 'verified') continue;
      findings.error(
        'verify.tier-not-allowed',
        `tier "verified" may be set or kept only by a maintainer listed in maintainers.yaml on the base branch, or with a maintainer's approval; ${who} is not one${(opts.approvedBy ?? []).length > 0 ? ' and no approver is' : ''}. Use tier: community, or ask a maintainer to approve`,
        { file, ...locate(file, ['tier']) },
      );
    }
  },
};

const short = (v: unknown) => {
  const s = v === undefined ? '(absent)' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The differing paths of one top-level field: its sub-fields when both sides are mappings. */
function differingPaths(key: string, av: unknown, bv: unknown): Array<[PropertyKey[], unknown, unknown]> {
  if (!isPlainObject(av) || !isPlainObject(bv)) return [[[key], av, bv]];
  const pairs: Array<[PropertyKey[], unknown, unknown]> = [];
  for (const sub of new Set([...Object.keys(av), ...Object.keys(bv)])) {
    if (!isDeepStrictEqual(av[sub], bv[sub])) pairs.push([[key, sub], av[sub], bv[sub]]);
  }
  return pairs;
}

/** A published entry may only gain or change yanked and deprecated; anything else is a finding on its line. */
function comparePublished(
  before: LoadedEntry,
  after: LoadedEntry,
  locate: Locate,
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
    for (const [path, was, now] of differingPaths(key, a[key], b[key])) {
      const at = now === undefined ? locate(after.file, [path[0]!]) : locate(after.file, path);
      findings.error(
        'verify.published-changed',
        `${id} is published: ${path.join('.')} may not change (was ${short(was)}, now ${short(now)}); only yanked and deprecated may be added or changed — publish a new version instead`,
        { file: after.file, ...at },
      );
    }
  }
}

/** A published entry changes only in yanked and deprecated. */
const publishedUnchanged: PrRule = {
  name: 'published-unchanged',
  codes: ['verify.published-changed'],
  check({ touched, locate, findings }) {
    for (const { status, before, after } of touched) {
      if (status === 'D' || status === 'A' || !before || !after) continue;
      comparePublished(before, after, locate, findings);
    }
  },
};

/** maintainers.yaml changes only by or with a maintainer of the base; any change is flagged for review. */
const maintainersChange: PrRule = {
  name: 'maintainers-change',
  codes: ['verify.maintainers-not-allowed', 'verify.maintainers-changed'],
  check({ changed, head, baseMaintainers, headCatalog, maintainerApproved, who, opts, findings }) {
    if (!changed.has(MAINTAINERS_FILE)) return;
    const file = head.show(MAINTAINERS_FILE);
    const { added, removed, what } = listChange(
      baseMaintainers?.maintainers,
      headCatalog.maintainers?.maintainers,
    );
    const read = head.read(MAINTAINERS_FILE, MAX_MAINTAINERS_BYTES);
    const text = read.ok ? read.bytes.toString('utf8') : '';
    const where = { file, ...(added[0] ? loginLine(text, added[0]) : {}) };
    if (!maintainerApproved) {
      findings.error(
        'verify.maintainers-not-allowed',
        `maintainers.yaml ${what || 'changes'}, but ${who} is not a maintainer on the base branch and no maintainer approved; only maintainers change who may set tier "verified"`,
        where,
      );
    } else if (what) {
      const self = removed.includes((opts.author ?? '').toLowerCase())
        ? ' (the author removes themself)'
        : '';
      findings.warning(
        'verify.maintainers-changed',
        `maintainers.yaml ${what}${self}: a reviewer must confirm this change of who may set tier "verified"`,
        where,
      );
    }
  },
};

/** Who may change a plugin: its owners in the base's owners.yaml (ownership.ts). */
const ownership: PrRule = {
  name: 'ownership',
  codes: ['verify.not-owner', 'verify.new-plugin-owner', 'verify.owners-changed'],
  check(ctx) {
    const { base, head, headCatalog, changed, changes, opts, maintainerApproved, findings } = ctx;
    checkOwnership(
      {
        base,
        head,
        headOwners: headCatalog.owners,
        changed,
        kinds: new Map(changes.map((c) => [c.file, c.kind])),
        author: opts.author,
        approvedBy: opts.approvedBy ?? [],
        maintainerApproved,
      },
      findings,
    );
  },
};

/** A new version of an author-signed plugin comes signed by the base's keys (author-signed.ts). */
const authorSigned: PrRule = {
  name: 'author-signed',
  codes: ['verify.unsigned-version', 'verify.bad-author-signature', 'verify.owners-changed'],
  check({ base, head, newVersions, changed, locate, findings }) {
    checkAuthorSigned({ base, head, newVersions, changed, locate }, findings);
  },
};

/** One new version on its way through ARCHIVE_STEPS. */
export interface NewVersionRun {
  entry: LoadedEntry;
  /** Where its archive goes (a file in a temp dir removed after the run). */
  dest: string;
  /** The entry's archive.url line: where problems with the archive itself are reported. */
  at: SourceLocation;
  /** The archive as a local file, once taken. */
  archive?: { path: string; label: string };
}

export interface ArchiveStep {
  name: string;
  codes: readonly FindingCode[];
  /** False: this version stops here (its findings are reported); the next version goes on. */
  run(ctx: PrContext, v: NewVersionRun): Promise<boolean>;
}

/** Copies an archive from the pull request's own tree, after checking it is there and of the entry's size. */
async function copyLocalArchive(
  { entry, dest, at }: NewVersionRun,
  rel: string,
  cap: number,
  { head, locate, findings }: PrContext,
): Promise<{ path: string; label: string } | undefined> {
  const url = entry.entry.archive.url;
  const label = head.show(rel);
  const size = head.size(rel);
  if (size === undefined) {
    const read = head.read(rel, 0);
    if (!read.ok && read.refusal.kind === 'io') {
      findings.error('archive.missing', `archive ${url} is not in the pull request (expected ${label})`, at);
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
  await head.copyFile(rel, dest, cap);
  return { path: dest, label };
}

/** Downloads an https archive with the run's downloader, capped. */
async function downloadArchive(
  { entry, dest, at }: NewVersionRun,
  cap: number,
  { opts, findings }: PrContext,
): Promise<{ path: string; label: string } | undefined> {
  const url = entry.entry.archive.url;
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

/** Brings a new version's archive to a local file: from the PR's own tree, or downloaded with a cap. */
async function fetchArchive(
  v: NewVersionRun,
  ctx: PrContext,
): Promise<{ path: string; label: string } | undefined> {
  const where = locateArchive('', v.entry.entry.archive.url);
  if (where.kind === 'bad') {
    ctx.findings.error('archive.bad-url', where.message, v.at);
    return undefined;
  }
  // Never more than the entry says, and never more than any archive may be: one byte over is enough to tell.
  const cap = Math.min(v.entry.entry.archive.size_bytes + 1, DEFAULT_ZIP_LIMITS.maxArchiveBytes + 1);
  if (where.kind === 'local') return copyLocalArchive(v, where.rel, cap, ctx);
  return downloadArchive(v, cap, ctx);
}

/** Takes the archive from the pull request or its URL. */
const takeArchive: ArchiveStep = {
  name: 'take-archive',
  codes: [
    'archive.bad-url',
    'archive.missing',
    'archive.size-mismatch',
    'path.outside-tree',
    'path.not-regular-file',
    'zip.too-large',
    'verify.download-failed',
    ...codesOf('io'),
  ],
  async run(ctx, v) {
    try {
      v.archive = await fetchArchive(v, ctx);
    } catch (err) {
      // Too large to take, or git could not read it: a finding on this entry; the others go on.
      const code = err instanceof TooLargeError ? 'zip.too-large' : ioFinding(err, v.entry.file).code;
      ctx.findings.error(
        code,
        `archive ${v.entry.entry.archive.url} could not be taken from the pull request: ${(err as Error).message}`,
        v.at,
      );
      return false;
    }
    return v.archive !== undefined;
  },
};

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

/** The strict archive check against the entry, then the author's checks as `hub publish` runs them. */
const checkArchive: ArchiveStep = {
  name: 'check-archive',
  codes: codesOf('archive', 'zip', 'manifest', 'lint', 'entry', 'yaml', 'json', 'io'),
  async run(ctx, v) {
    const archive = v.archive!;
    const { entry } = v;
    ctx.archivesChecked++;
    try {
      const fd = openSync(archive.path, 'r');
      const verified = await checkOpenedArchive(
        entry,
        { fd, real: archive.path, stats: fstatSync(fd) },
        archive.label,
        ctx.locate,
        ctx.findings,
      );
      return !!verified && (await publishLintPasses(archive, verified, ctx.findings));
    } catch (err) {
      const f = ioFinding(err, entry.file);
      ctx.findings.error(
        f.code,
        `archive ${entry.entry.archive.url} could not be checked: ${f.message}`,
        v.at,
      );
      return false;
    }
  },
};

/** A real install into a throw-away CoreService and its health check (when the run has an installer). */
const installArchive: ArchiveStep = {
  name: 'install',
  codes: ['verify.install-failed'],
  async run(ctx, v) {
    if (!ctx.opts.install) return false;
    const { plugin_id: id, version } = v.entry.entry;
    ctx.progress(`installing ${id} ${version} in a throw-away CoreService`);
    const problem = await ctx.opts.install(v.archive!.path, v.entry);
    if (problem === undefined) {
      ctx.installed++;
      return true;
    }
    ctx.findings.error(
      'verify.install-failed',
      `${id} ${version} did not install and pass its health check in a throw-away CoreService: ${problem}`,
      v.at,
    );
    return false;
  },
};

/** What each new version's archive goes through, in order, until a step says stop. */
export const ARCHIVE_STEPS: readonly ArchiveStep[] = [takeArchive, checkArchive, installArchive];

/** Each new version, one after the other, through ARCHIVE_STEPS; the archives live in a temp dir. */
const newVersionArchives: PrRule = {
  name: 'new-version-archives',
  codes: [...new Set(ARCHIVE_STEPS.flatMap((s) => s.codes))],
  async check(ctx) {
    const work = mkdtempSync(join(tmpdir(), 'hub-verify-'));
    try {
      for (const [i, entry] of ctx.newVersions.entries()) {
        const { plugin_id: id, version } = entry.entry;
        ctx.progress(`checking the archive of ${id} ${version} (${i + 1}/${ctx.newVersions.length})`);
        const v: NewVersionRun = {
          entry,
          dest: join(work, `${i}${ARCHIVE_SUFFIX}`),
          at: { file: entry.file, ...ctx.locate(entry.file, ['archive', 'url']) },
        };
        for (const step of ARCHIVE_STEPS) if (!(await step.run(ctx, v))) break;
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};

/** The rules of a catalog pull request, applied in this order (findings are sorted afterwards). */
export const PR_RULES: readonly PrRule[] = [
  headCatalogFindings,
  outsideCatalog,
  archiveNotReplaced,
  versionNotDeleted,
  tierVerifiedByMaintainer,
  publishedUnchanged,
  maintainersChange,
  ownership,
  authorSigned,
  newVersionArchives,
];

/** Runs the rules in order; `onRule` sees each rule with the findings it added (tests attribute codes). */
export async function runPrRules(
  ctx: PrContext,
  rules: readonly PrRule[] = PR_RULES,
  onRule?: (rule: PrRule, reported: readonly Finding[]) => void,
): Promise<void> {
  for (const rule of rules) {
    const from = ctx.findings.items.length;
    await rule.check(ctx);
    onRule?.(rule, ctx.findings.items.slice(from));
  }
}
