import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  escapeControl,
  FindingList,
  inertJson,
  isOwner,
  MAINTAINERS_FILE,
  type Maintainers,
  type Owners,
  ownersPath,
  ownersSchema,
  pluginDir,
  renderOwnersYaml,
  signedTargetsPath,
  type Tier,
  tier,
} from '@magellon/hub-core';
import {
  type ArchiveFacts,
  checkPublishable,
  decideTier,
  type EntryPlan,
  git,
  type LintResult,
  lintThenPack,
  MemoryCatalogSource,
  planEntry,
  readKeyFile,
  readMaintainers,
  readOwners,
  signingYaml,
  signPluginTargets,
  TufError,
  type TufKeyFile,
} from '@magellon/hub-core/node';
import {
  baseCommit,
  type FileChange,
  type GitHubTarget,
  githubRepoOf,
  hasPath,
  ProposeError,
  type ProposeResult,
  proposeChange,
  showFile,
  tokenLogin,
} from '../catalog-pr';
import { green, printFindings, red, safe, safeLines, yellow } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

/** Options `hub publish` and `hub yank` share: where the catalog repo is and where the PR goes. */
export const GIT_OPTIONS = {
  'repo-dir': { type: 'string' },
  catalog: { type: 'string' },
  base: { type: 'string' },
  remote: { type: 'string' },
  branch: { type: 'string' },
  github: { type: 'string' },
  'github-api': { type: 'string' },
  'head-owner': { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export const GIT_HELP = `Where the pull request goes:
  --repo-dir <dir>       the catalog's git repo (default: the repo of the current dir)
  --catalog <path>       the catalog's folder in it (default: catalog)
  --base <branch>        the branch the pull request targets (default: main)
  --remote <name>        where the branch is pushed (default: origin)
  --branch <name>        the branch to create (default: publish/<id>-<version>)
  --github <owner/name>  the GitHub repo (default: from the remote's URL)
  --head-owner <login>   the remote is your fork owned by <login>
  --github-api <url>     GitHub's REST API (default: $GITHUB_API_URL, else
                         https://api.github.com; GitHub Enterprise: https://HOST/api/v3)
  --dry-run              print the YAML and the pull request; change nothing
  --json                 print the result as one JSON document

GITHUB_TOKEN (or GH_TOKEN) lets hub push and open the pull request; without it hub
stops after creating the local branch and prints what to run next. Your checkout and
work tree are never touched: the commit is built from git objects.`;

type GitValues = {
  [K in keyof typeof GIT_OPTIONS]?: (typeof GIT_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string;
};

export interface CatalogRepo {
  dir: string;
  catalog: string;
  base: string;
  remote: string;
  github?: GitHubTarget;
}

/** Resolves the repo, catalog path and GitHub target from the options and the environment. */
export async function catalogRepo(values: GitValues): Promise<CatalogRepo> {
  const start = resolve(values['repo-dir'] ?? '.');
  let dir: string;
  try {
    dir = (await git(start, ['rev-parse', '--show-toplevel'])).toString().trim();
  } catch {
    throw new UsageError(`${start} is not in a git repository; pass --repo-dir <catalog repo>`);
  }
  const remote = values.remote ?? 'origin';
  let github: GitHubTarget | undefined;
  const token = process.env.GITHUB_TOKEN || process.env.GH_TOKEN || undefined;
  const apiUrl = (values['github-api'] ?? process.env.GITHUB_API_URL ?? 'https://api.github.com').replace(
    /\/+$/,
    '',
  );
  let target: { owner: string; name: string } | undefined;
  if (values.github) {
    const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(values.github);
    if (!m) throw new UsageError('--github takes owner/name');
    target = { owner: m[1]!, name: m[2]! };
  } else {
    const url = await git(dir, ['remote', 'get-url', remote]).then(
      (b) => b.toString().trim(),
      () => '',
    );
    target = githubRepoOf(url);
  }
  if (target) github = { ...target, apiUrl, token, headOwner: values['head-owner'] };
  return {
    dir,
    catalog: (values.catalog ?? 'catalog').replace(/^\/+|\/+$/g, ''),
    base: values.base ?? 'main',
    remote,
    github,
  };
}

/** maintainers.yaml as it is on the base commit. */
export async function baseMaintainers(repo: CatalogRepo, commit: string): Promise<Maintainers | undefined> {
  const bytes = await showFile(repo.dir, commit, `${repo.catalog}/${MAINTAINERS_FILE}`);
  if (!bytes) return undefined;
  return readMaintainers(
    new MemoryCatalogSource({ [MAINTAINERS_FILE]: bytes }),
    MAINTAINERS_FILE,
    new FindingList(),
  );
}

/** A plugin's owners.yaml as it is on the base commit (undefined: none, or not a valid one). */
async function baseOwners(repo: CatalogRepo, commit: string, id: string): Promise<Owners | undefined> {
  const rel = ownersPath(id);
  const bytes = await showFile(repo.dir, commit, `${repo.catalog}/${rel}`);
  if (!bytes) return undefined;
  return readOwners(new MemoryCatalogSource({ [rel]: bytes }), rel, new FindingList());
}

/**
 * What a publish does about ownership. A new plugin (no folder on the base): its owners.yaml names
 * `--owner`s, else the author; with neither known this is bad usage. An existing plugin: nothing to
 * write (`--owner` is refused: ownership changes are their own pull request), and a note when the
 * author is known not to own it, because the check will then fail without an approval.
 */
async function pluginOwnership(
  repo: CatalogRepo,
  base: string,
  id: string,
  owners: string[] | undefined,
  author: string | undefined,
  signer?: TufKeyFile,
): Promise<{ file?: FileChange; owners?: string[]; note?: string }> {
  const ownersFile = `${repo.catalog}/${ownersPath(id)}`;
  if (await hasPath(repo.dir, base, `${repo.catalog}/${pluginDir(id)}`)) {
    if (owners?.length) {
      throw new UsageError(
        `--owner is for a new plugin; ${id} is already in the catalog on ${repo.base}: change ${ownersFile} in its own pull request, approved by an owner`,
      );
    }
    const current = await baseOwners(repo, base, id);
    if (!author || isOwner(current, author)) return {};
    const listed = current ? current.owners.map((o) => `@${o.github}`).join(', ') : 'nobody (no owners.yaml)';
    return {
      note: `@${author} is not an owner of ${id} on ${repo.base} (its owners: ${listed}); the catalog check will fail unless an owner or a maintainer approves the pull request`,
    };
  }
  const logins = owners?.length ? owners : author ? [author] : [];
  if (logins.length === 0) {
    throw new UsageError(
      `${id} is a new plugin and you become its owner, but hub does not know who you are: pass --author <your GitHub login> (or --owner), or set GITHUB_TOKEN`,
    );
  }
  const checked = ownersSchema.safeParse({ owners: logins.map((github) => ({ github })) });
  if (!checked.success) {
    throw new UsageError(
      `--owner/--author must be GitHub logins, each once: ${checked.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  const authorListed = !author || logins.some((l) => l.toLowerCase() === author.toLowerCase());
  return {
    file: {
      path: ownersFile,
      // With --sign, the new plugin is author-signed from its first version on.
      bytes: Buffer.from(
        renderOwnersYaml(logins) +
          (signer ? `${signingYaml([{ keyid: signer.keyid, public: signer.keyval.public }])}\n` : ''),
      ),
      mustBeNew: true,
    },
    owners: logins,
    ...(authorListed
      ? {}
      : {
          note: `--owner does not name you (@${author}): the catalog check accepts a new plugin whose owners leave out its author only with a maintainer's approval`,
        }),
  };
}

/** Whether lint let the plugin through; if not, its findings and why nothing is published are printed. */
function lintPassed(lint: LintResult, target: string, json: boolean): boolean {
  const errors = lint.findings.filter((f) => f.severity === 'error').length;
  if (lint.ok && errors === 0) return true;
  printFindings(lint.findings, json ? 'json' : 'text');
  console.error(red(`✖ not published: hub lint found ${errors} error(s) in ${safe(target)}`));
  return false;
}

/** Prints a proposal's result (or the dry run) in the chosen form; returns the exit code. */
export function reportProposal(json: boolean, doc: Record<string, unknown>, lines: string[]): number {
  if (json) process.stdout.write(`${inertJson(doc, 2)}\n`);
  else for (const l of lines) console.log(l);
  return EXIT.ok;
}

/** What a proposal that went through prints: the pull request, or the branch and what to run next. */
export function reportProposed(json: boolean, result: ProposeResult, extra: Record<string, unknown>): number {
  return reportProposal(json, { ...result, ...extra }, [
    result.pr
      ? green(`✔ opened pull request #${result.pr.number}: ${safe(result.pr.url)}`)
      : green(`✔ branch ${safe(result.branch)} is ready (${result.commit.slice(0, 12)})`),
    ...(result.next ? [`next: ${safe(result.next)}`] : []),
  ]);
}

/** A ProposeError becomes its message (and a JSON error with --json) and exit 1; anything else is rethrown. */
export function proposalFailed(err: unknown, json: boolean): number {
  if (!(err instanceof ProposeError)) throw err;
  if (json) process.stdout.write(`${inertJson({ error: err.message }, 2)}\n`);
  console.error(red(`✖ ${escapeControl(err.message)}`));
  return EXIT.failed;
}

/** Progress lines on stderr (escaped: they carry git's words and names from the command line); none with --json. */
export const progressTo = (json: boolean) => (s: string) => {
  if (!json) console.error(safe(s));
};

const PUBLISH_OPTIONS = {
  ...GIT_OPTIONS,
  tier: { type: 'string' },
  author: { type: 'string' },
  owner: { type: 'string', multiple: true },
  'published-at': { type: 'string' },
  bucket: { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'archive-base-url': { type: 'string' },
  'follow-links': { type: 'boolean' },
  sign: { type: 'string' },
} as const;

type PublishValues = GitValues & {
  tier?: string;
  author?: string;
  owner?: string[];
  'published-at'?: string;
  bucket?: string;
  endpoint?: string;
  region?: string;
  'archive-base-url'?: string;
  'follow-links'?: boolean;
  sign?: string;
};

/** One `hub publish` run: its options, checked, and where it reports. */
interface PublishContext {
  values: PublishValues;
  target: string;
  tier?: Tier;
  publishedAt: string;
  json: boolean;
  say: (s: string) => void;
  repo: CatalogRepo;
}

/**
 * Step 1, the archive: packed from a dir, or the .mpn given. Lint judges a dir first, so findings
 * name the author's own files and lines, then the archive that is published (checkPublishable). Both
 * as publishing judges them: what only the catalog refuses (the scaffold's placeholders) is an error.
 * Returns the archive's path, or the exit code when it was refused (the reasons printed).
 */
async function archiveToPublish(ctx: PublishContext, work: string): Promise<string | number> {
  const { target, json } = ctx;
  if (!statSync(target, { throwIfNoEntry: false })?.isDirectory()) return resolve(target);
  const outcome = await lintThenPack(target, {
    purpose: 'publish',
    out: join(work, 'plugin.mpn'),
    followLinks: ctx.values['follow-links'],
    onPacking: () => ctx.say(`packing ${safe(target)}`),
  });
  if (outcome.status === 'lint-failed') {
    lintPassed(outcome.lint, target, json);
    return EXIT.failed;
  }
  if (outcome.status === 'pack-failed') {
    const err = outcome.error;
    printFindings(err.findings.length > 0 ? err.findings : [err.toFinding(target)], json ? 'json' : 'text');
    console.error(red(`✖ not published: ${err.code}: ${safe(err.message)}`));
    return EXIT.failed;
  }
  return outcome.packed.file;
}

/** Step 3, the tier: decideTier's rule, its refusal as bad usage naming the maintainers file. */
async function publishTier(ctx: PublishContext, base: string, author: string | undefined): Promise<Tier> {
  const { repo } = ctx;
  const decided = decideTier(ctx.tier, author, await baseMaintainers(repo, base));
  if (decided.ok) return decided.tier;
  throw new UsageError(
    `--tier verified is for maintainers listed in ${repo.catalog}/${MAINTAINERS_FILE} on ${repo.base}; ${decided.reason === 'not-a-maintainer' ? `@${author} is not one` : 'hub does not know who you are (pass --author or set GITHUB_TOKEN)'}`,
  );
}

/** With --sign: the signing key, its problems as the proposal's error. */
function signingKey(values: PublishValues): TufKeyFile | undefined {
  if (!values.sign) return undefined;
  try {
    return readKeyFile(values.sign);
  } catch (err) {
    if (err instanceof TufError) throw new ProposeError(`--sign: ${err.message}`);
    throw err;
  }
}

/** Author signing: this version's archive added to the plugin's own signed targets. */
async function signedTargetsFile(
  repo: CatalogRepo,
  base: string,
  archive: ArchiveFacts,
  key: string,
  signer: TufKeyFile,
): Promise<FileChange> {
  const id = archive.manifest.plugin_id;
  const signedPath = `${repo.catalog}/${signedTargetsPath(id)}`;
  const before = await showFile(repo.dir, base, signedPath);
  try {
    const text = signPluginTargets(
      id,
      before ?? undefined,
      [{ path: key, length: archive.size_bytes, sha256: archive.sha256 }],
      signer,
    );
    return { path: signedPath, bytes: Buffer.from(text) };
  } catch (err) {
    if (err instanceof TufError) throw new ProposeError(`--sign: ${signedPath}: ${err.message}`);
    throw err;
  }
}

/** The pull request's title and body. */
function proposalText(
  archive: ArchiveFacts,
  plan: EntryPlan,
  tierName: Tier,
  owners: string[] | undefined,
): { title: string; body: string } {
  const m = archive.manifest;
  const title = `Publish ${m.plugin_id} ${m.version}`;
  const body = [
    `Adds **${m.plugin_id} ${m.version}** (${tierName}) to the catalog.`,
    '',
    `- entry: \`${plan.entryFile}\``,
    `- archive: \`${plan.url}\` (${archive.size_bytes} bytes)`,
    `- sha256: \`${archive.sha256}\``,
    `- archive_id: \`${archive.archive_id}\``,
    `- requires_sdk: \`${m.requires_sdk}\``,
    ...(owners ? [`- a new plugin, owned by ${owners.map((l) => `@${l}`).join(', ')}`] : []),
    '',
    'Opened by `hub publish`; the catalog check (`hub verify`) reports below.',
  ].join('\n');
  return { title, body };
}

/** Everything a publish proposes, decided: what the dry run prints and the real run pushes. */
interface Proposal {
  archive: ArchiveFacts;
  archivePath: string;
  plan: EntryPlan;
  tier: Tier;
  base: string;
  ownership: { file?: FileChange; owners?: string[]; note?: string };
  files: FileChange[];
  branch: string;
  title: string;
  body: string;
}

/** --dry-run: the files and the pull request as they would be, nothing changed. */
function printDryRun(ctx: PublishContext, p: Proposal): number {
  const { repo, values } = ctx;
  const doc = {
    dryRun: true,
    entryFile: p.plan.entryFile,
    yaml: p.plan.yaml,
    archiveUrl: p.plan.url,
    branch: p.branch,
    base: repo.base,
    title: p.title,
    body: p.body,
    tier: p.tier,
    ...(p.ownership.file ? { ownersPath: p.ownership.file.path, owners: p.ownership.owners } : {}),
  };
  return reportProposal(ctx.json, doc, [
    `# ${p.plan.entryFile}`,
    safeLines(p.plan.yaml).trimEnd(),
    '',
    ...(p.ownership.file
      ? [`# ${p.ownership.file.path}`, safeLines(p.ownership.file.bytes!.toString()).trimEnd(), '']
      : []),
    `would ${values.bucket ? `upload the archive to s3://${safe(values.bucket)}/${p.plan.archiveKey}` : `add ${repo.catalog}/${p.plan.archiveKey}`}`,
    `would open a pull request from ${safe(p.branch)} into ${safe(repo.base)}${repo.github ? ` on ${repo.github.owner}/${repo.github.name}` : ''}:`,
    `  ${safe(p.title)}`,
    ...safeLines(p.body)
      .split('\n')
      .map((l) => `  ${l}`),
  ]);
}

/** --bucket: the archive goes to S3/R2 (never replacing a published one) before the pull request. */
async function uploadArchive(ctx: PublishContext, p: Proposal): Promise<void> {
  const { values } = ctx;
  const { createS3Store } = await import('@magellon/hub-api/node');
  const store = createS3Store({
    bucket: values.bucket!,
    endpoint: values.endpoint,
    region: values.region ?? process.env.AWS_REGION ?? 'auto',
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  });
  const key = p.plan.archiveKey;
  ctx.say(`uploading the archive to ${store.description}`);
  try {
    await store.put(key, readFileSync(p.archivePath), {
      sha256: p.archive.sha256,
      contentType: 'application/zip',
      immutable: true,
    });
  } catch (err) {
    throw new ProposeError(
      (err as { code?: string }).code === 'conflict'
        ? `${store.description} already holds ${key} with different bytes; a published archive never changes (publish a new version)`
        : `the upload of ${key} failed: ${(err as Error).message}`,
    );
  }
}

/**
 * Steps 2 to 5: the archive checked as publishing judges it, the tier, the entry (checked against
 * the catalog's schema, and new on the base), and ownership and signing. Returns the proposal, or
 * the exit code when it was refused (the reasons printed).
 */
async function propose(ctx: PublishContext, archivePath: string): Promise<Proposal | number> {
  const { repo, values, json } = ctx;
  const archive = await checkPublishable(archivePath);
  if (!archive.ok) {
    if (archive.problem) throw new ProposeError(archive.problem);
    lintPassed(archive.lint, ctx.target, json);
    return EXIT.failed;
  }
  const m = archive.manifest;
  const base = await baseCommit(repo.dir, repo.remote, repo.base, ctx.say);
  const author = values.author ?? (repo.github ? await tokenLogin(repo.github) : undefined);
  const tierName = await publishTier(ctx, base, author);
  const plan = planEntry(archive, {
    tier: tierName,
    published_at: ctx.publishedAt,
    archiveBaseUrl: values.bucket ? values['archive-base-url'] : undefined,
    catalogDir: repo.catalog,
  });
  if (!plan.ok) {
    printFindings(plan.findings, json ? 'json' : 'text');
    console.error(red('✖ not published: the entry this archive gives fails the catalog schema (see above)'));
    return EXIT.failed;
  }
  if (await showFile(repo.dir, base, plan.entryFile)) {
    throw new ProposeError(
      `${plan.entryFile} is already on ${repo.base}: ${m.plugin_id} ${m.version} is published (bump the version)`,
    );
  }
  const signer = signingKey(values);
  const ownership = await pluginOwnership(repo, base, m.plugin_id, values.owner, author, signer);
  if (ownership.note && !json) console.error(yellow(`! ${safe(ownership.note)}`));
  const files: FileChange[] = [{ path: plan.entryFile, bytes: Buffer.from(plan.yaml), mustBeNew: true }];
  if (ownership.file) files.push(ownership.file);
  if (signer) files.push(await signedTargetsFile(repo, base, archive, plan.archiveKey, signer));
  if (!values.bucket)
    files.push({ path: `${repo.catalog}/${plan.archiveKey}`, file: archivePath, mustBeNew: true });
  const branch = values.branch ?? `publish/${m.plugin_id}-${m.version}`;
  const text = proposalText(archive, plan, tierName, ownership.owners);
  return { archive, archivePath, plan, tier: tierName, base, ownership, files, branch, ...text };
}

/** The whole publish, step by step (see the help): pack and lint, decide, then print or propose. */
async function publish(ctx: PublishContext, work: string): Promise<number> {
  const archivePath = await archiveToPublish(ctx, work);
  if (typeof archivePath === 'number') return archivePath;
  const p = await propose(ctx, archivePath);
  if (typeof p === 'number') return p;
  if (ctx.values['dry-run']) return printDryRun(ctx, p);
  if (ctx.values.bucket) await uploadArchive(ctx, p);
  const { repo } = ctx;
  const result = await proposeChange({
    repo: repo.dir,
    remote: repo.remote,
    base: repo.base,
    branch: p.branch,
    message: `${p.title}\n\n${p.plan.entryFile}\nsha256 ${p.archive.sha256}\n`,
    files: p.files,
    title: p.title,
    body: p.body,
    github: repo.github,
    onStep: ctx.say,
    baseCommit: p.base,
  });
  return reportProposed(ctx.json, result, {
    entryFile: p.plan.entryFile,
    archiveUrl: p.plan.url,
    tier: p.tier,
    ...(p.ownership.owners ? { owners: p.ownership.owners } : {}),
  });
}

export const publishCommand: Command = {
  name: 'publish',
  help: `Usage: hub publish <plugin-dir | file.mpn> [options]

Proposes a new plugin version to the catalog as a pull request:
  pack (a dir; reproducibly) → lint (errors stop here; the scaffold's placeholder
  description or author, a warning in hub lint, is an error) → the archive goes to the
  catalog repo's assets/plugins/ (or to S3/R2 with --bucket; a published archive is
  never replaced) → catalog/plugins/<id>/<version>.yaml is written (sha256, size,
  archive_id, published_at; tier community unless the author is a maintainer), and
  for a new plugin catalog/plugins/<id>/owners.yaml naming you, its owner →
  a branch, a commit, a push and the pull request, which CI then checks with
  hub verify. A version of an existing plugin leaves its owners.yaml alone; the
  check accepts it from an owner, or with an owner's or a maintainer's approval.

What is published:
  --tier <t>             community, or verified (only for maintainers)
  --author <login>       your GitHub login (default: the token's user)
  --owner <login>        a new plugin's owner (repeatable; default: the author);
                         without a token, name yourself with --author or --owner
  --published-at <iso>   the release time (default: now)
  --bucket <name>        upload the archive to this S3/R2 bucket instead of the repo
  --endpoint <url>       the S3 endpoint (R2: https://<account>.r2.cloudflarestorage.com)
  --region <r>           region (default: $AWS_REGION, else auto)
                         credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
  --archive-base-url <u> the public https URL the bucket is served at (required with --bucket)
  --follow-links         pack the targets of links that leave the plugin dir (as hub pack)
  --sign <key-file>      author signing (docs/tuf.md): add the archive to the plugin's
                         signed-targets.json (made at version 1, else version + 1),
                         signed with this author key (hub keys generate --author), in the
                         same commit; a new plugin's owners.yaml then names the key

${GIT_HELP}

Exit codes: 0 proposed (or printed, with --dry-run), 1 failed (nothing pushed), 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('publish', args, PUBLISH_OPTIONS);
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length !== 1) throw new UsageError('hub publish takes one plugin dir or .mpn file');
    const requestedTier = values.tier === undefined ? undefined : tier.safeParse(values.tier);
    if (requestedTier && !requestedTier.success) throw new UsageError('--tier is community or verified');
    if (values.bucket && !values['archive-base-url']?.startsWith('https://')) {
      throw new UsageError('--bucket needs --archive-base-url https://… (where the bucket is served)');
    }
    const publishedAt = values['published-at'] ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (Number.isNaN(Date.parse(publishedAt))) throw new UsageError('--published-at takes an ISO 8601 time');
    const json = !!values.json;
    const ctx: PublishContext = {
      values,
      target: positionals[0]!,
      tier: requestedTier?.data,
      publishedAt,
      json,
      say: progressTo(json),
      repo: await catalogRepo(values),
    };
    const work = mkdtempSync(join(tmpdir(), 'hub-publish-'));
    try {
      return await publish(ctx, work);
    } catch (err) {
      return proposalFailed(err, json);
    } finally {
      // Best effort: a temp dir of this run only (the packed archive); the OS's tmp cleanup has the rest.
      rmSync(work, { recursive: true, force: true });
    }
  },
};
