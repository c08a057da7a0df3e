// A real git repository holding a copy of the starter catalog on `main`, and a pull-request branch
// the test edits and commits: what `hub verify` runs on in CI, without GitHub.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Finding } from '../src/findings';
import { archiveFileName } from '../src/layout';
import { entryForArchive, type PackResult, renderEntryYaml } from '../src/node';
import { packRelease } from '../test-support/starter-catalog';

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');
export const STARTER_CATALOG = join(REPO_ROOT, 'catalog');
const EXAMPLES = join(REPO_ROOT, 'examples', 'plugins');
export const HUB_BIN = join(REPO_ROOT, 'packages', 'cli', 'bin', 'hub.js');

export class PrRepo {
  readonly dir: string;

  /** A repo whose `main` holds the starter catalog under catalog/, checked out on branch `pr`. */
  constructor(prefix = 'pr') {
    this.dir = mkdtempSync(join(tmpdir(), `hub-${prefix}-repo-`));
    this.git('init', '-q', '-b', 'main');
    this.git('config', 'user.email', 'test@example.org');
    this.git('config', 'user.name', 'Hub Test');
    this.git('config', 'commit.gpgsign', 'false');
    cpSync(STARTER_CATALOG, join(this.dir, 'catalog'), { recursive: true });
    writeFileSync(join(this.dir, 'README.md'), '# catalog\n');
    this.commit('the published catalog');
    this.git('checkout', '-q', '-b', 'pr');
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-C', this.dir, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  read(rel: string): string {
    return readFileSync(this.path(rel), 'utf8');
  }

  write(rel: string, body: string | Buffer): void {
    mkdirSync(dirname(this.path(rel)), { recursive: true });
    writeFileSync(this.path(rel), body);
  }

  edit(rel: string, change: (text: string) => string): void {
    this.write(rel, change(this.read(rel)));
  }

  remove(rel: string): void {
    rmSync(this.path(rel), { recursive: true, force: true });
  }

  /** Commits everything in the work tree; returns the commit sha. */
  commit(message: string): string {
    this.git('add', '-A');
    this.git('commit', '-q', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD').trim();
  }

  /**
   * Changes what is published: commits `change` on main and brings the (still empty) pull-request
   * branch up to it. For a base that differs from the starter catalog (other owners, …).
   */
  publish(message: string, change: (r: PrRepo) => void): void {
    this.git('checkout', '-q', 'main');
    change(this);
    this.commit(message);
    this.git('checkout', '-q', 'pr');
    this.git('merge', '-q', '--ff-only', 'main');
  }

  /** The 1-based line of the first line of a file containing `needle`. */
  lineOf(rel: string, needle: string): number {
    const i = this.read(rel)
      .split('\n')
      .findIndex((l) => l.includes(needle));
    if (i < 0) throw new Error(`test bug: "${needle}" not in ${rel}`);
    return i + 1;
  }

  /**
   * Adds a new version of an example plugin, as `hub publish` would: the archive packed into
   * catalog/assets/plugins/ and its entry written. Returns the entry's path and the pack result.
   * `from` packs another example under the new id `id` (a brand-new plugin).
   */
  async addVersion(
    id: string,
    version: string,
    opts: { tier?: 'community' | 'verified'; pack?: (dir: string) => void; from?: string } = {},
  ): Promise<{ entry: string; archive: string; packed: PackResult }> {
    const work = mkdtempSync(join(tmpdir(), 'hub-pr-pack-'));
    try {
      const archive = `catalog/assets/plugins/${archiveFileName(id, version)}`;
      const published_at = '2026-01-05T10:00:00Z';
      const packed = await packRelease(
        EXAMPLES,
        { id: opts.from ?? id, version, published_at },
        this.path(archive),
        work,
        (dir) => {
          if (opts.from) {
            const manifest = join(dir, 'manifest.yaml');
            writeFileSync(
              manifest,
              readFileSync(manifest, 'utf8').replace(/^plugin_id: .*$/m, `plugin_id: ${id}`),
            );
          }
          opts.pack?.(dir);
        },
      );
      const entry = `catalog/plugins/${id}/${version}.yaml`;
      this.write(
        entry,
        renderEntryYaml(entryForArchive(packed, { tier: opts.tier ?? 'community', published_at })),
      );
      return { entry, archive, packed };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /**
   * Rewrites an archive's bytes and then its entry's sha256 and size_bytes to match, so only the
   * archive's contents are wrong (a hostile zip, an unlisted file), not its checksum.
   */
  rewriteArchive(entry: string, archive: string, change: (bytes: Buffer) => Buffer): void {
    const bytes = change(readFileSync(this.path(archive)));
    this.write(archive, bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');
    this.edit(entry, (t) =>
      t
        .replace(/sha256: [0-9a-f]{64}/, `sha256: ${sha}`)
        .replace(/size_bytes: \d+/, `size_bytes: ${bytes.length}`),
    );
  }

  /** Appends a file that file_checksums does not list to an archive, as Python's zipfile would. */
  addUnlistedFile(archive: string): void {
    execFileSync('python3', [
      '-c',
      'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "a")\nz.writestr("unlisted.py", "print(1)\\n")\nz.close()',
      this.path(archive),
    ]);
  }

  /** Runs `hub verify --format json` on this repo; returns the exit code and the findings. */
  hubVerify(extra: string[] = []): {
    status: number;
    findings: Finding[];
    stderr: string;
  } {
    try {
      const out = execFileSync(
        process.execPath,
        [HUB_BIN, 'verify', this.dir, '--base', 'main', '--format', 'json', ...extra],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      return { status: 0, findings: JSON.parse(out), stderr: '' };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      return { status: e.status, findings: e.stdout ? JSON.parse(e.stdout) : [], stderr: e.stderr };
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
