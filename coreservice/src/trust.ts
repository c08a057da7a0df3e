// CoreService's side of the hub's signed metadata (TUF, docs/tuf.md): before a registry with a
// pinned root serves a document or an archive, its metadata is brought up to date with tuf-js (the
// specification's client workflow: every newer root in order, then timestamp, snapshot and
// targets, each checked for signatures by the keys the root names, freshness, and versions that
// never go back), and the document and the archive must be the ones its signed targets name (length
// and sha256; an author-signed plugin's archive through its authors' delegated role). Any refusal
// is named (errors.ts: metadata-expired, metadata-rollback, metadata-unsigned, metadata-mismatch,
// target-unsigned) and comes before anything is downloaded into the plugins dir.
//
// What the client has verified is kept per pinned root in `<plugins_dir>/.tuf/<root sha256>/`
// (layout.ts): a mirror pinned to the hub's root shares it with the hub, so neither can serve
// metadata older than what the other already showed. Refreshes of one such dir are serialised, in
// this process and across processes (a lock beside it).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { TUF_METADATA_DIR } from '@magellon/hub-core';
import { TufHttpFetcher, tufRefusalKind } from '@magellon/hub-core/node';
import { escapeControl } from '@magellon/hub-core/text';
import type { TargetFile } from '@tufjs/models';
import lockfile from 'proper-lockfile';
import { Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error';
import { type Registry, registryAuthorization } from './config';
import { InstallError, logCleanupFailure } from './errors';
import { tufStateDir } from './layout';
import { readSmallFile } from './runtime/files';

/** The largest pinned root CoreService reads. */
const MAX_ROOT_BYTES = 1024 * 1024;
/** Bounds on each metadata file tuf-js downloads (a 5,000-plugin hub's targets is a few MB). */
const METADATA_LIMITS = {
  rootMaxLength: 1024 * 1024,
  timestampMaxLength: 64 * 1024,
  snapshotMaxLength: 16 * 1024 * 1024,
  targetsMaxLength: 64 * 1024 * 1024,
};
const FETCH_TIMEOUT_MS = 15_000;

/** Metadata fetches for a registry: its token to its own origin only, no redirect followed. */
function registryFetcher(reg: Registry): TufHttpFetcher {
  const token = registryAuthorization(reg);
  const origin = new URL(reg.url).origin;
  return new TufHttpFetcher({
    timeoutMs: FETCH_TIMEOUT_MS,
    authorization: (url) => (url.origin === origin ? token : undefined),
    unreachable: (_url, code) =>
      new InstallError('hub-unreachable', `the hub at ${reg.url} could not be reached (${code})`),
  });
}

/** What verifying one registry gives its caller: its signed targets, looked up by path. */
export interface VerifiedRegistry {
  /** The signed target at `path` (delegations followed), or undefined when no trusted role lists it. */
  target(path: string): Promise<TargetFile | undefined>;
}

const where = (reg: Registry) => `the signed metadata of ${reg.url}`;

type Refusal = 'metadata-expired' | 'metadata-rollback' | 'metadata-unsigned' | 'metadata-mismatch';

const REFUSAL_TEXT: Record<Refusal, string> = {
  'metadata-expired': 'has expired: a frozen hub or a stale mirror',
  'metadata-rollback': 'is older than what this CoreService already verified: a rollback',
  'metadata-unsigned': 'is not signed by the threshold of keys its root names',
  'metadata-mismatch':
    'does not match the lengths and hashes it signed: documents from different revisions (mix-and-match)',
};

/** Turns what tuf-js (and @tufjs/models) throw into a named refusal; anything else is rethrown. */
function refusal(reg: Registry, err: unknown): Error {
  if (err instanceof InstallError) return err;
  const detail = escapeControl(String((err as Error)?.message ?? err).slice(0, 300));
  if (err instanceof DownloadHTTPError) {
    return new InstallError(
      'metadata-unsigned',
      `${reg.url} serves no signed metadata its pinned root can check (${detail}); pin the right root, or accept it unsigned`,
    );
  }
  const found = tufRefusalKind(err);
  if (!found) return err as Error;
  const kind: Refusal = `metadata-${found}`;
  return new InstallError(kind, `${where(reg)} ${REFUSAL_TEXT[kind]} (${detail}); refusing it`);
}

/** The pinned root's bytes and the state dir they key. */
function pinnedRoot(reg: Registry & { root: string }, pluginsDir: string): { text: string; dir: string } {
  const read = readSmallFile(reg.root, MAX_ROOT_BYTES, { followLink: true });
  if (!read.ok) {
    throw new InstallError(
      'bad-request',
      `cannot read the pinned root ${reg.root} of ${reg.url}: ${read.why}`,
    );
  }
  const sha = createHash('sha256').update(read.text).digest('hex');
  return { text: read.text, dir: tufStateDir(pluginsDir, sha) };
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` alone for this state dir: after this process's earlier callers, under a lock beside the dir. */
async function serialised<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const before = queues.get(dir) ?? Promise.resolve();
  const run = before.then(async () => {
    const release = await lockfile.lock(dir, {
      realpath: false,
      lockfilePath: `${dir}.lock`,
      stale: 30_000,
      update: 5_000,
      retries: { retries: 120, minTimeout: 50, maxTimeout: 500 },
    });
    try {
      return await fn();
    } finally {
      await release().catch((e: unknown) => logCleanupFailure(`releasing the lock of ${dir}`, e));
    }
  });
  // Only the queue's order: the caller hears run's own failure.
  const settled = run.catch(() => {});
  queues.set(dir, settled);
  void settled.then(() => {
    if (queues.get(dir) === settled) queues.delete(dir);
  });
  return run;
}

/**
 * Verifies a registry's metadata (tuf-js refresh against the pinned root and what was seen before)
 * and runs `use` with its signed targets, or runs `use` with undefined for a registry accepted
 * unsigned. A registry with neither a root nor `unsigned` is refused (unsigned-registry).
 */
export async function withVerifiedRegistry<T>(
  reg: Registry,
  pluginsDir: string | undefined,
  use: (verified: VerifiedRegistry | undefined) => Promise<T>,
): Promise<T> {
  if (reg.root === undefined) {
    if (reg.unsigned === true) return use(undefined);
    throw new InstallError(
      'unsigned-registry',
      `${reg.url} has no pinned root: give its root.json (--hub-root, or root: in the config file) to verify it, or accept it unsigned explicitly (--unsigned, or unsigned: true)`,
    );
  }
  if (pluginsDir === undefined) throw new Error('verifying a registry needs the plugins dir (its TUF state)');
  const pinned = pinnedRoot(reg as Registry & { root: string }, pluginsDir);
  mkdirSync(pinned.dir, { recursive: true });
  return serialised(pinned.dir, async () => {
    const rootFile = `${pinned.dir}/root.json`;
    if (!existsSync(rootFile)) writeFileSync(rootFile, pinned.text);
    let updater: Updater;
    try {
      updater = new Updater({
        metadataDir: pinned.dir,
        metadataBaseUrl: new URL(TUF_METADATA_DIR, reg.url.endsWith('/') ? reg.url : `${reg.url}/`).href,
        fetcher: registryFetcher(reg),
        config: { ...METADATA_LIMITS, prefixTargetsWithHash: false },
      });
    } catch (err) {
      throw new InstallError(
        'bad-request',
        `the pinned root ${reg.root} of ${reg.url} is not TUF root metadata signed by its own keys (${(err as Error).message})`,
      );
    }
    try {
      await updater.refresh();
    } catch (err) {
      throw refusal(reg, err);
    }
    return use({
      target: async (path) => {
        try {
          return await updater.getTargetInfo(path);
        } catch (err) {
          throw refusal(reg, err);
        }
      },
    });
  });
}

/** Checks bytes against their signed target; a difference is a mix-and-match (metadata-mismatch). */
export function checkAgainstTarget(reg: Registry, what: string, target: TargetFile, bytes: Uint8Array): void {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== target.length || sha256 !== target.hashes.sha256) {
    throw new InstallError(
      'metadata-mismatch',
      `${what} from ${reg.url} is not the one its signed targets name (${bytes.length} bytes, sha256 ${sha256.slice(0, 12)}…; signed: ${target.length} bytes, ${String(target.hashes.sha256).slice(0, 12)}…): documents from different revisions; refusing it`,
    );
  }
}
