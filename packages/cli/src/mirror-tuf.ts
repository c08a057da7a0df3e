// `hub mirror` and a signed hub: checks the origin's TUF metadata with tuf-js's Updater (the same
// client workflow CoreService and any TUF client run) from a pinned root, refuses an origin that
// went backwards (rollback) or is stale (freeze), answers what each mirrored target must be
// (length + sha256), and collects the metadata files the mirror serves. Generic over roles: every
// role the snapshot lists is copied by its version; only root, timestamp and snapshot are named.
// The Updater's state (the last metadata it trusted) lives inside the mirror, in STATE_DIR, so the
// next run compares against it; it is prepared in the staging dir and kept only when the run
// succeeds, so a refused run leaves the mirror's state as it was.
import { createHash } from 'node:crypto';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TUF_METADATA_DIR, TUF_METADATA_FILE, tufMetadataFile } from '@magellon/hub-core';
import { TufHttpFetcher, tufRefusalKind } from '@magellon/hub-core/node';
import { Metadata, MetadataKind, type Root } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { request } from 'undici';

/** Where a mirror keeps the TUF metadata it trusted last (not served by the hub's routes). */
export const MIRROR_TUF_STATE = '.hub-mirror/tuf';

/** The largest metadata file a mirror accepts (a 10,000-plugin targets.json is a few MB). */
export const MAX_MIRROR_METADATA_BYTES = 32 * 1024 * 1024;

/** The largest root metadata file a mirror accepts (roots hold keys only; tuf-js allows 512 kB). */
const MAX_ROOT_BYTES = 1024 * 1024;

/** The most root versions a mirror walks (tuf-js's own bound on rotations). */
const MAX_ROOT_VERSIONS = 256;

/** A role name as it may appear in snapshot.meta (`targets`, `hub`, `plugin-<id>`): a plain slug. */
const ROLE_NAME = /^[a-z][a-z0-9-]{0,127}$/;

/** A file of the Updater's state dir: what tuf-js persists (`<role>.json`, role names as above). */
const STATE_FILE = /^[a-z][a-z0-9-]{0,127}\.json$/;

export type TufRefusalCode = 'mirror.rollback' | 'mirror.expired' | 'mirror.untrusted';

/** Why `hub mirror` stopped (the origin, its documents, its signed metadata, or the target): the mirror's one error. */
export class MirrorError extends Error {
  constructor(
    message: string,
    readonly code:
      | TufRefusalCode
      | 'mirror.bad-target'
      | 'mirror.fetch-failed'
      | 'mirror.bad-document'
      | 'mirror.write-failed',
  ) {
    super(message);
    this.name = 'MirrorError';
  }
}

export interface SignedTarget {
  length: number;
  sha256: string;
}

export interface TufMirror {
  /** The signed length and sha256 of a target path (`assets/plugins/x.mpn`, `v1/plugins/id.json`). */
  target(path: string): Promise<SignedTarget | undefined>;
  /**
   * The metadata files to write under tuf/metadata/, in write order (versioned files, root.json,
   * timestamp.json last). Called after every target was asked for, so the delegated roles the
   * Updater walked are the ones it verified.
   */
  files(): Promise<[string, Buffer][]>;
  /** The timestamp version the mirror now holds. */
  version: number;
}

/** A bounded GET: the bytes, or undefined for a 404 (or 403, as TUF's root walk treats it). */
async function fetchBounded(url: string, max: number, idleMs: number): Promise<Buffer | undefined> {
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: 'GET',
      headers: { 'accept-encoding': 'identity' },
      headersTimeout: idleMs,
      bodyTimeout: idleMs,
    });
  } catch (err) {
    throw new MirrorError(
      `could not fetch ${url}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      'mirror.fetch-failed',
    );
  }
  if (res.statusCode === 404 || res.statusCode === 403) {
    await res.body.dump();
    return undefined;
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new MirrorError(`${url} answered ${res.statusCode}`, 'mirror.fetch-failed');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      throw new MirrorError(`${url} is over the limit of ${max} bytes`, 'mirror.bad-document');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The regular `.json` files of the Updater's state dir (bounded), to carry into the next run. */
export function copyTufState(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  let names: string[];
  try {
    names = readdirSync(from);
  } catch {
    return;
  }
  for (const name of names) {
    if (!STATE_FILE.test(name)) continue;
    const st = lstatSync(join(from, name));
    if (st.isFile() && st.size <= MAX_MIRROR_METADATA_BYTES) copyFileSync(join(from, name), join(to, name));
  }
}

/** Turns a tuf-js failure into a refusal that names what happened (the kinds CoreService names too). */
function refusal(err: unknown, origin: string): MirrorError {
  if (err instanceof MirrorError) return err;
  const msg = (err as Error)?.message ?? String(err);
  const kind = tufRefusalKind(err);
  if (kind === 'rollback' || /Missing file .* in new snapshot/.test(msg))
    return new MirrorError(
      `rollback refused: ${origin} serves older signed metadata than this mirror already holds (${msg})`,
      'mirror.rollback',
    );
  if (kind === 'expired')
    return new MirrorError(
      `freeze refused: ${origin}'s signed metadata has expired (${msg}); the hub must re-sign it`,
      'mirror.expired',
    );
  if (kind === 'mismatch')
    return new MirrorError(
      `${origin}'s signed metadata does not match the lengths and hashes it signed: files from different revisions (${msg})`,
      'mirror.untrusted',
    );
  return new MirrorError(
    `${origin}'s signed metadata does not verify against the trusted root (${msg})`,
    'mirror.untrusted',
  );
}

function parseSigned(name: string, bytes: Buffer): { signed: Record<string, unknown> } {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as { signed?: unknown };
    if (v && typeof v.signed === 'object' && v.signed !== null)
      return v as { signed: Record<string, unknown> };
  } catch {}
  throw new MirrorError(
    `${TUF_METADATA_DIR}/${name} from the hub is not TUF metadata`,
    'mirror.bad-document',
  );
}

/** Whether the origin serves signed metadata (its timestamp.json answers 200). */
export async function originIsSigned(base: URL, idleMs: number): Promise<boolean> {
  const ts = await fetchBounded(
    new URL(`${TUF_METADATA_DIR}/${tufMetadataFile('timestamp')}`, base).toString(),
    1024 * 1024,
    idleMs,
  );
  return ts !== undefined;
}

/** Where one origin's metadata is read from: its tuf/metadata/ URL, its base (for messages), the timeout. */
interface Origin {
  metadataBase: string;
  origin: string;
  idleMs: number;
}

/** What snapshot.meta says of one role file. */
type SnapshotMeta = { version: number; length?: number; hashes?: Record<string, string> };

/** A reader of one file of the Updater's state dir. */
type StateFile = (name: string) => Buffer;

/**
 * Verifies the origin's metadata with the Updater whose state dir is `stateDir` (already holding
 * the previous run's state, or the trusted root to start from as root.json), and collects what
 * the mirror writes under tuf/metadata/.
 */
export async function verifyOrigin(base: URL, stateDir: string, idleMs: number): Promise<TufMirror> {
  const from: Origin = {
    metadataBase: new URL('tuf/metadata/', base).toString(),
    origin: base.toString(),
    idleMs,
  };
  const updater = originUpdater(from, stateDir);
  try {
    await updater.refresh();
  } catch (err) {
    throw refusal(err, from.origin);
  }
  const state: StateFile = (name) => readFileSync(join(stateDir, name));
  const tsSigned = parseSigned('timestamp.json', state('timestamp.json')).signed as { version: number };
  return {
    files: () => metadataFiles(from, state),
    version: tsSigned.version,
    async target(path) {
      let info: Awaited<ReturnType<Updater['getTargetInfo']>>;
      try {
        info = await updater.getTargetInfo(path);
      } catch (err) {
        throw refusal(err, from.origin);
      }
      const sha256 = info?.hashes.sha256;
      return info && sha256 ? { length: info.length, sha256 } : undefined;
    },
  };
}

/** The tuf-js Updater for the origin, its state (the last metadata it trusted) in `stateDir`. */
function originUpdater(from: Origin, stateDir: string): Updater {
  return new Updater({
    metadataDir: stateDir,
    metadataBaseUrl: from.metadataBase.replace(/\/$/, ''),
    targetBaseUrl: from.origin,
    fetcher: new TufHttpFetcher({
      timeoutMs: from.idleMs,
      unreachable: (url, code) => new MirrorError(`could not fetch ${url}: ${code}`, 'mirror.fetch-failed'),
    }),
    config: {
      prefixTargetsWithHash: false,
      snapshotMaxLength: MAX_MIRROR_METADATA_BYTES,
      targetsMaxLength: MAX_MIRROR_METADATA_BYTES,
    },
  });
}

/** The metadata files the mirror writes, in write order: root chain, snapshot and roles, root.json, timestamp.json. */
async function metadataFiles(from: Origin, state: StateFile): Promise<[string, Buffer][]> {
  const trustedRoot = state('root.json');
  const files = await rootChain(from, trustedRoot);
  const timestamp = state('timestamp.json');
  files.push(...(await snapshotFiles(from, state)));
  files.push(['root.json', trustedRoot]);
  files.push(['timestamp.json', timestamp]);
  return files;
}

/**
 * Every root version 1 … n, each verified against the one before it (the chain a client pinning
 * 1.root.json walks), ending in exactly the root the Updater trusts now.
 */
async function rootChain(from: Origin, trustedRoot: Buffer): Promise<[string, Buffer][]> {
  const { metadataBase, origin, idleMs } = from;
  const files: [string, Buffer][] = [];
  const roots: Buffer[] = [];
  for (let v = 1; v <= MAX_ROOT_VERSIONS; v++) {
    const bytes = await fetchBounded(`${metadataBase}${tufMetadataFile('root', v)}`, MAX_ROOT_BYTES, idleMs);
    if (!bytes) break;
    roots.push(bytes);
  }
  const n = roots.length;
  if (n === 0 || !roots[n - 1]?.equals(trustedRoot))
    throw new MirrorError(
      `${origin}${TUF_METADATA_DIR}/${tufMetadataFile('root', n)} is not the root the mirror verified; the origin changed while mirroring, run again`,
      'mirror.untrusted',
    );
  let prev: Metadata<Root> | undefined;
  for (const [i, bytes] of roots.entries()) {
    const name = tufMetadataFile('root', i + 1);
    let root: Metadata<Root>;
    try {
      root = Metadata.fromJSON(MetadataKind.Root, parseSigned(name, bytes) as never) as Metadata<Root>;
      if (root.signed.version !== i + 1) throw new Error(`it says version ${root.signed.version}`);
      prev?.verifyDelegate(MetadataKind.Root, root);
      root.verifyDelegate(MetadataKind.Root, root);
    } catch (err) {
      throw refusal(
        new Error(`${name} does not follow from the root before it: ${(err as Error).message}`),
        origin,
      );
    }
    prev = root;
    files.push([name, bytes]);
  }
  return files;
}

/** Refuses a versioned metadata file name the hub's routes do not serve. */
function checkMetadataName(name: string): void {
  if (!TUF_METADATA_FILE.test(name))
    throw new MirrorError(
      `the snapshot names ${name}, a metadata file the hub does not serve; refusing to write it`,
      'mirror.bad-document',
    );
}

/**
 * The snapshot the timestamp names, and every role it lists, by version. Each is what the
 * Updater verified (its state dir), or — for a delegated role no mirrored target led it to —
 * fetched and checked against the snapshot's version (and length and hashes when it gives them).
 */
async function snapshotFiles(from: Origin, state: StateFile): Promise<[string, Buffer][]> {
  const snapshot = state('snapshot.json');
  const snapSigned = parseSigned('snapshot.json', snapshot).signed as {
    version: number;
    meta: Record<string, SnapshotMeta>;
  };
  const snapshotFile = tufMetadataFile('snapshot', snapSigned.version);
  const files: [string, Buffer][] = [[snapshotFile, snapshot]];
  checkMetadataName(snapshotFile);
  for (const [file, meta] of Object.entries(snapSigned.meta ?? {}))
    files.push(await roleFile(from, state, file, meta));
  return files;
}

/** One role file the snapshot lists, as `<version>.<role>.json`: the Updater's copy or the origin's, checked. */
async function roleFile(
  from: Origin,
  state: StateFile,
  file: string,
  meta: SnapshotMeta,
): Promise<[string, Buffer]> {
  const role = file.replace(/\.json$/, '');
  if (!file.endsWith('.json') || !ROLE_NAME.test(role) || ['root', 'timestamp', 'snapshot'].includes(role))
    throw new MirrorError(
      `the snapshot names a role file ${JSON.stringify(file)} that is no plain role name`,
      'mirror.bad-document',
    );
  const version = Number(meta?.version);
  if (!Number.isInteger(version) || version < 1 || version > 9_999_999_999)
    throw new MirrorError(`the snapshot gives ${file} no valid version`, 'mirror.bad-document');
  const name = `${version}.${role}.json`;
  checkMetadataName(name);
  try {
    const local = state(file);
    if ((parseSigned(file, local).signed as { version?: number }).version === version) return [name, local];
  } catch {}
  const { metadataBase, origin, idleMs } = from;
  const bytes = await fetchBounded(`${metadataBase}${name}`, MAX_MIRROR_METADATA_BYTES, idleMs);
  if (!bytes)
    throw new MirrorError(
      `${origin}${TUF_METADATA_DIR}/${name} is missing (the snapshot names it)`,
      'mirror.fetch-failed',
    );
  if ((parseSigned(name, bytes).signed as { version?: number }).version !== version)
    throw refusal(new Error(`${name} does not carry the version the snapshot gives it`), origin);
  if (meta.length !== undefined && meta.length !== bytes.length)
    throw refusal(new Error(`${name} does not have the length the snapshot gives it`), origin);
  for (const [alg, want] of Object.entries(meta.hashes ?? {}))
    if (alg === 'sha256' && createHash('sha256').update(bytes).digest('hex') !== want)
      throw refusal(new Error(`${name} does not have the sha256 the snapshot gives it`), origin);
  return [name, bytes];
}

/** Writes the root a run starts from into a fresh state dir (the operator's --root, or the origin's 1.root.json). */
export function seedRoot(stateDir: string, root: Buffer): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'root.json'), root);
}

/** The origin's 1.root.json, for a first run without --root (trust on first use). */
export async function originFirstRoot(base: URL, idleMs: number): Promise<Buffer> {
  const bytes = await fetchBounded(
    new URL('tuf/metadata/1.root.json', base).toString(),
    MAX_ROOT_BYTES,
    idleMs,
  );
  if (!bytes) throw new MirrorError(`${base}tuf/metadata/1.root.json is missing`, 'mirror.fetch-failed');
  return bytes;
}
