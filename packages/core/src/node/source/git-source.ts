import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { catalogPathKind, ENTRY_SUFFIX } from '../../layout';
import { TooLargeError } from '../io-error';
import { MAX_SIGNED_TARGETS_BYTES } from '../tuf';
import type { SourceKind } from './catalog-source';
import { MemoryCatalogSource } from './memory-source';

/**
 * Files preloaded from git objects: YAML up to this size, and authors' signed-targets.json up to
 * theirs (larger ones are refused by size, unread).
 */
const PRELOAD_MAX_BYTES = 256 * 1024;

export class GitError extends Error {
  constructor(
    message: string,
    readonly stderr = '',
  ) {
    super(message);
    this.name = 'GitError';
  }
}

/** Runs git with arguments only (never a shell); stdout as bytes, a GitError naming the command on failure. */
export function git(
  repo: string,
  args: string[],
  input?: Buffer | string,
  env: Record<string, string> = {},
): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', ['-C', repo, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) =>
      reject(new GitError(`git could not be run (${e.message}); install git and try again`)),
    );
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (code === 0) resolvePromise(Buffer.concat(out));
      else reject(new GitError(`git ${args[0]} failed: ${stderr || `exit ${code}`}`, stderr));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** The commit a ref names, refused clearly when it names nothing (or looks like an option). */
export async function resolveCommit(repo: string, ref: string): Promise<string> {
  try {
    const out = await git(repo, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
    return out.toString('utf8').trim();
  } catch (err) {
    if (err instanceof GitError && err.stderr === '') {
      throw new GitError(`"${ref}" is not a commit in ${repo} (try a branch, a tag or a commit sha)`);
    }
    throw err;
  }
}

interface TreeEntry {
  mode: string;
  oid: string;
  size: number;
}

/**
 * A catalog as it is in one git commit, read from the objects (nothing is checked out, the work
 * tree is never touched). Its YAML files are read up front in one `git cat-file --batch`, so the
 * loader reads them synchronously like any other source; archives are streamed on demand with
 * {@link GitCatalogSource.copyFile}. Links and submodules in the tree are listed but never read.
 */
export class GitCatalogSource extends MemoryCatalogSource {
  private readonly objects = new Map<string, TreeEntry>();

  private constructor(
    readonly repo: string,
    readonly commit: string,
    prefix: string,
    describe: string,
  ) {
    super({}, prefix, describe);
  }

  /**
   * Opens `<catalogPath>` of `ref` in the repo at `repo`. `catalogPath` is repo-relative ("catalog"
   * or "" for a repo whose root is the catalog); findings name files by their repo-relative path.
   * `wanted` limits which preloadable files are read (default: every YAML file).
   */
  static async open(
    repo: string,
    ref: string,
    catalogPath = 'catalog',
    opts: { wanted?: (rel: string) => boolean } = {},
  ): Promise<GitCatalogSource> {
    const commit = await resolveCommit(repo, ref);
    const prefix = catalogPath.replace(/^\/+|\/+$/g, '');
    const source = new GitCatalogSource(repo, commit, prefix, `git ${ref} (${commit.slice(0, 12)})`);
    const args = ['ls-tree', '-r', '-t', '-l', '-z', '--full-tree', commit];
    if (prefix) args.push('--', `${prefix}/`);
    const listing = (await git(repo, args)).toString('utf8');
    const preload: string[] = [];
    for (const record of listing.split('\0')) {
      if (!record) continue;
      const tab = record.indexOf('\t');
      const [mode, , oid, size] = record.slice(0, tab).split(/ +/);
      const full = record.slice(tab + 1);
      const rel = prefix ? full.slice(prefix.length + 1) : full;
      if (!rel || !mode || !oid) continue;
      const kind: SourceKind =
        mode === '040000'
          ? 'dir'
          : mode === '120000'
            ? 'link'
            : mode === '100644' || mode === '100755'
              ? 'file'
              : 'other';
      if (kind === 'dir') continue; // folders are implied by the paths beneath them
      if (kind !== 'file') {
        source.special.set(rel, kind);
        continue;
      }
      const bytes = Number(size);
      source.objects.set(rel, { mode, oid, size: bytes });
      const preloadable =
        (rel.endsWith(ENTRY_SUFFIX) && bytes <= PRELOAD_MAX_BYTES) ||
        (catalogPathKind(rel) === 'signed-targets' && bytes <= MAX_SIGNED_TARGETS_BYTES);
      const wanted = preloadable && (opts.wanted?.(rel) ?? true);
      if (wanted) preload.push(rel);
      else source.unread.set(rel, bytes);
    }
    if (preload.length > 0) {
      const input = `${preload.map((rel) => source.objects.get(rel)!.oid).join('\n')}\n`;
      const out = await git(repo, ['cat-file', '--batch'], input);
      let at = 0;
      for (const rel of preload) {
        const nl = out.indexOf(0x0a, at);
        const header = out.subarray(at, nl).toString('latin1').split(' ');
        const size = Number(header[2]);
        if (header[1] !== 'blob' || !Number.isFinite(size)) {
          throw new GitError(`git cat-file returned "${header.join(' ')}" for ${rel}`);
        }
        source.files.set(rel, out.subarray(nl + 1, nl + 1 + size));
        at = nl + 1 + size + 1;
      }
    }
    return source;
  }

  /** The size of a file from the tree listing, without reading it. */
  size(rel: string): number | undefined {
    return this.objects.get(rel)?.size;
  }

  /**
   * Streams a file's blob into `dest` (created, never replaced). Refuses before reading when the
   * tree says it is larger than `maxBytes`.
   */
  async copyFile(rel: string, dest: string, maxBytes: number): Promise<{ size: number }> {
    const entry = this.objects.get(rel);
    if (!entry)
      throw Object.assign(new Error(`${this.show(rel)} is not a file in ${this.describe}`), {
        code: 'ENOENT',
      });
    if (entry.size > maxBytes) {
      throw new TooLargeError(entry.size, maxBytes);
    }
    const child = spawn('git', ['-C', this.repo, 'cat-file', 'blob', entry.oid], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? 1)));
    await pipeline(child.stdout, createWriteStream(dest, { flags: 'wx', mode: 0o644 }));
    if ((await exited) !== 0) throw new GitError(`git cat-file could not read ${this.show(rel)}`);
    return { size: entry.size };
  }
}
