// How `hub publish` and `hub yank` propose a catalog change: a commit on a new branch built from
// git objects (the user's checkout and work tree are never touched), pushed, and a pull request
// opened through GitHub's REST API. Without a token it stops after the local branch and says what
// to run next; with --dry-run it changes nothing at all.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GitError, git, resolveCommit } from '@magellon/hub-core/node';

export interface FileChange {
  /** Repo-relative path. */
  path: string;
  /** The contents, or `file`: a local file git reads itself (an archive need not be in memory). */
  bytes?: Buffer;
  file?: string;
  /** Refuse when the base already has this path (a published entry or archive is never replaced). */
  mustBeNew?: boolean;
}

export interface GitHubTarget {
  owner: string;
  name: string;
  /** REST API root: https://api.github.com, or GitHub Enterprise's https://host/api/v3. */
  apiUrl: string;
  token?: string;
  /** Owner of the fork the branch is pushed to, when it is not the target repo. */
  headOwner?: string;
}

export interface ProposeOptions {
  repo: string;
  remote: string;
  base: string;
  branch: string;
  message: string;
  files: FileChange[];
  title: string;
  body: string;
  github?: GitHubTarget;
  onStep?: (text: string) => void;
  /** The base commit when the caller already resolved it (no second fetch). */
  baseCommit?: string;
}

export interface ProposeResult {
  branch: string;
  commit: string;
  base: string;
  pushed: boolean;
  pr?: { number: number; url: string };
  /** What the user runs next when the flow stopped early (no token, no GitHub repo). */
  next?: string;
}

export class ProposeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProposeError';
  }
}

/** The commit to build on: the remote's branch after a fetch, else the local branch of that name. */
export async function baseCommit(
  repo: string,
  remote: string,
  base: string,
  warn: (text: string) => void = () => {},
): Promise<string> {
  try {
    await git(repo, [
      'fetch',
      '--quiet',
      '--no-tags',
      remote,
      `+refs/heads/${base}:refs/remotes/${remote}/${base}`,
    ]);
    return await resolveCommit(repo, `refs/remotes/${remote}/${base}`);
  } catch (err) {
    let local: string;
    try {
      local = await resolveCommit(repo, `refs/heads/${base}`);
    } catch {
      throw new ProposeError(
        `cannot find branch ${base}: fetching it from ${remote} failed (${(err as Error).message}) and there is no local ${base}`,
      );
    }
    warn(
      `could not fetch ${base} from ${remote} (${(err as Error).message.split('\n')[0]}); building on the local ${base}`,
    );
    return local;
  }
}

/** A file of a commit, or undefined when there is none. */
export async function showFile(repo: string, commit: string, path: string): Promise<Buffer | undefined> {
  try {
    return await git(repo, ['cat-file', 'blob', `${commit}:${path}`]);
  } catch {
    return undefined;
  }
}

/** Whether a commit has anything at `path` (a file, or a folder with files in it). */
export async function hasPath(repo: string, commit: string, path: string): Promise<boolean> {
  const out = await git(repo, ['ls-tree', '--name-only', commit, '--', path]);
  return out.length > 0;
}

/** Parses owner/name from a GitHub remote URL (https or ssh), or undefined. */
export function githubRepoOf(url: string): { owner: string; name: string } | undefined {
  const m =
    /^(?:https:\/\/[^/]+\/|git@[^:]+:|ssh:\/\/git@[^/]+\/)([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/.exec(
      url.trim(),
    );
  return m ? { owner: m[1]!, name: m[2]! } : undefined;
}

/** Builds the commit from objects, creates the branch, pushes it and opens the pull request. */
export async function proposeChange(o: ProposeOptions): Promise<ProposeResult> {
  const step = o.onStep ?? (() => {});
  const base = o.baseCommit ?? (await baseCommit(o.repo, o.remote, o.base, step));
  for (const f of o.files.filter((f) => f.mustBeNew)) {
    if (await showFile(o.repo, base, f.path)) {
      throw new ProposeError(
        `${f.path} is already on ${o.base}; what is published never changes (publish a new version)`,
      );
    }
  }
  try {
    await git(o.repo, ['check-ref-format', `refs/heads/${o.branch}`]);
  } catch {
    throw new ProposeError(`"${o.branch}" is not a valid branch name`);
  }
  const commit = await commitOnNewBranch(o, base);
  step(`created branch ${o.branch} (${commit.slice(0, 12)}) on ${o.base} ${base.slice(0, 12)}`);

  const gh = o.github;
  const compare = gh
    ? `https://github.com/${gh.owner}/${gh.name}/compare/${o.base}...${gh.headOwner ? `${gh.headOwner}:` : ''}${o.branch}`
    : '';
  if (!gh?.token) {
    return {
      branch: o.branch,
      commit,
      base,
      pushed: false,
      next: `git -C ${o.repo} push ${o.remote} ${o.branch}${compare ? `, then open ${compare}` : ', then open a pull request'} (or set GITHUB_TOKEN and hub pushes and opens it)`,
    };
  }
  step(`pushing ${o.branch} to ${o.remote}`);
  await pushBranch(o, gh.token);
  step(`opening the pull request on ${gh.owner}/${gh.name}`);
  const pr = await openPullRequest(o, gh, compare);
  return { branch: o.branch, commit, base, pushed: true, pr };
}

/**
 * The commit of `o.files` on top of `base`, built in a private index (the user's index and work
 * tree are never touched), and the new branch `o.branch` pointing at it; its id.
 */
async function commitOnNewBranch(o: ProposeOptions, base: string): Promise<string> {
  const index = mkdtempSync(join(tmpdir(), 'hub-propose-'));
  let commit: string;
  try {
    const env = { GIT_INDEX_FILE: join(index, 'index') };
    await git(o.repo, ['read-tree', base], undefined, env);
    for (const f of o.files) {
      const oid = (
        f.file
          ? await git(o.repo, ['hash-object', '-w', '--no-filters', '--', f.file])
          : await git(o.repo, ['hash-object', '-w', '--stdin'], f.bytes ?? Buffer.alloc(0))
      )
        .toString()
        .trim();
      await git(o.repo, ['update-index', '--add', '--cacheinfo', `100644,${oid},${f.path}`], undefined, env);
    }
    const tree = (await git(o.repo, ['write-tree'], undefined, env)).toString().trim();
    try {
      commit = (await git(o.repo, ['commit-tree', tree, '-p', base, '-F', '-'], o.message)).toString().trim();
    } catch (err) {
      const why = (err as GitError).stderr ?? '';
      throw new ProposeError(
        /user\.(name|email)|identity/i.test(why)
          ? 'git does not know who you are: set git config user.name and user.email, then run this again'
          : (err as Error).message,
      );
    }
    try {
      // The empty old value makes this fail rather than move a branch that already exists.
      await git(o.repo, ['update-ref', `refs/heads/${o.branch}`, commit, '']);
    } catch {
      throw new ProposeError(
        `branch ${o.branch} already exists in ${o.repo}; delete it (git branch -D ${o.branch}) or pass --branch`,
      );
    }
  } finally {
    rmSync(index, { recursive: true, force: true });
  }
  return commit;
}

/** Pushes the new branch to `o.remote`, the token sent as a header for an https remote (never in the URL). */
async function pushBranch(o: ProposeOptions, token: string): Promise<void> {
  const remoteUrl = (await git(o.repo, ['remote', 'get-url', o.remote])).toString().trim();
  const auth = remoteUrl.startsWith('https://')
    ? [
        '-c',
        `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`,
      ]
    : [];
  try {
    await git(o.repo, [
      ...auth,
      'push',
      '--quiet',
      o.remote,
      `refs/heads/${o.branch}:refs/heads/${o.branch}`,
    ]);
  } catch (err) {
    throw new ProposeError(
      `the push to ${o.remote} failed: ${(err as GitError).stderr || (err as Error).message}`,
    );
  }
}

/** Opens the pull request from the pushed branch; a refusal says how to open it by hand (`compare`). */
async function openPullRequest(
  o: ProposeOptions,
  gh: GitHubTarget,
  compare: string,
): Promise<{ number: number; url: string }> {
  const octokit = await octokitFor(gh);
  try {
    const { data } = await octokit.rest.pulls.create({
      owner: gh.owner,
      repo: gh.name,
      title: o.title,
      body: o.body,
      base: o.base,
      head: gh.headOwner ? `${gh.headOwner}:${o.branch}` : o.branch,
      maintainer_can_modify: true,
    });
    return { number: data.number, url: data.html_url };
  } catch (err) {
    const e = err as { status?: number; message?: string };
    throw new ProposeError(
      `the branch is pushed, but GitHub refused the pull request (${e.status ?? 'no answer'}: ${e.message}); open it by hand: ${compare}`,
    );
  }
}

/** The login the token belongs to (GET /user), or undefined when GitHub does not say. */
export async function tokenLogin(gh: GitHubTarget): Promise<string | undefined> {
  if (!gh.token) return undefined;
  const octokit = await octokitFor(gh);
  try {
    return (await octokit.rest.users.getAuthenticated()).data.login;
  } catch {
    return undefined;
  }
}

/** A REST client for the target's API (GitHub or Enterprise), with the token; loaded only when used. */
async function octokitFor(gh: GitHubTarget) {
  const { Octokit } = await import('@octokit/rest');
  return new Octokit({
    auth: gh.token,
    baseUrl: gh.apiUrl,
    userAgent: 'magellon-hub',
    request: { retries: 0 },
  });
}
