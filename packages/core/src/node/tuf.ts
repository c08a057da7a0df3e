// The hub's signed metadata (TUF, The Update Framework), repository side: the keys dir that
// `hub keys` manages, root versions and their rotation, and the TUF repository `hub build
// --tuf-keys` writes beside the /v1 documents. Every rule lives here (what the targets are, the
// expiry policy, the layout and file names); the CLI only parses options. Models: @tufjs/models.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { canonicalize } from '@tufjs/canonical-json';
import {
  Key,
  Metadata,
  MetadataKind,
  MetaFile,
  Root,
  Signature,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import type { Signing } from '../catalog/model';
import { archiveFileName, archiveKey, TUF_METADATA_DIR, tufMetadataFile, versionArchiveKey } from '../layout';

/** The TUF specification version the metadata claims. */
export const TUF_SPEC_VERSION = '1.0.31';
export const TUF_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type TufRole = (typeof TUF_ROLES)[number];

/** The online delegated role that lists every target no author signs (docs/tuf.md). */
export const HUB_ROLE = 'hub';
/** What a key file was made for: a top-level role, the online `hub` role, or a plugin author. */
export type TufKeyRole = TufRole | typeof HUB_ROLE | 'author';
/** The roles a build signs, whose lifetimes `--tuf-expiry` sets. */
export type TufSignedRole = Exclude<TufRole, 'root'> | typeof HUB_ROLE;

/**
 * Default lifetimes: timestamp short (a frozen hub is noticed within a day); root and top-level
 * targets long (offline keys: targets only lists the delegations, which rarely change); the online
 * `hub` role a week, like snapshot.
 */
export const TUF_DEFAULT_EXPIRY_SECONDS: Record<TufRole | typeof HUB_ROLE, number> = {
  root: 365 * 86400,
  targets: 365 * 86400,
  snapshot: 7 * 86400,
  timestamp: 86400,
  hub: 7 * 86400,
};

/** A build signs top-level targets again when the previous one expires within this many seconds. */
export const TUF_TARGETS_RENEW_SECONDS = 30 * 86400;

/** An author's signed-targets.json lifetime by default (re-signed by the author, offline). */
export const AUTHOR_TARGETS_EXPIRY_SECONDS = 365 * 86400;

/** An author's signed-targets.json is refused unread above this size (one target is ~250 bytes). */
export const MAX_SIGNED_TARGETS_BYTES = 1024 * 1024;

const MAX_METADATA_BYTES = 64 * 1024 * 1024;
const MAX_KEY_BYTES = 64 * 1024;

export class TufError extends Error {
  constructor(
    message: string,
    readonly code:
      | 'tuf.keys-exist'
      | 'tuf.bad-keys-dir'
      | 'tuf.no-key'
      | 'tuf.bad-metadata'
      | 'tuf.bad-option'
      | 'tuf.below-threshold',
  ) {
    super(message);
    this.name = 'TufError';
  }
}

/** A private key file: the securesystemslib-like JSON shape, the private half as PKCS#8 PEM. */
export interface TufKeyFile {
  keytype: 'ed25519';
  scheme: 'ed25519';
  keyid: string;
  /** The role this key was made for (informative; the root metadata decides what it signs). */
  role: TufKeyRole;
  keyval: { public: string; private: string };
}

/** Reads a regular file of at most `max` bytes (no links followed at the last part), else throws. */
function readBounded(path: string, max: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new TufError(`cannot read ${what} ${path}: ${(err as Error).message}`, 'tuf.bad-metadata');
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TufError(`${what} ${path} is not a regular file`, 'tuf.bad-metadata');
    if (st.size > max) throw new TufError(`${what} ${path} is larger than ${max} bytes`, 'tuf.bad-metadata');
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

function readJson(path: string, max: number, what: string): Record<string, unknown> {
  const text = readBounded(path, max, what).toString('utf8');
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {}
  throw new TufError(`${what} ${path} is not a JSON object`, 'tuf.bad-metadata');
}

/** The TUF key id: sha256 of the canonical JSON of the public key (as the spec defines it). */
export function keyIdOf(publicHex: string): string {
  const pub = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: publicHex } };
  return createHash('sha256').update(canonicalize(pub)).digest('hex');
}

function newKey(role: TufKeyRole): TufKeyFile {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const publicHex = Buffer.from(spki.subarray(spki.length - 32)).toString('hex');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return {
    keytype: 'ed25519',
    scheme: 'ed25519',
    keyid: keyIdOf(publicHex),
    role,
    keyval: { public: publicHex, private: pem },
  };
}

const publicKeyOf = (k: TufKeyFile) =>
  new Key({ keyID: k.keyid, keyType: k.keytype, scheme: k.scheme, keyVal: { public: k.keyval.public } });

function keyFileName(k: TufKeyFile): string {
  return `${k.role}-${k.keyid.slice(0, 16)}.key.json`;
}

function writeKeyFile(dir: string, k: TufKeyFile): string {
  const name = keyFileName(k);
  // 'wx': never overwrite a key.
  writeFileSync(join(dir, name), `${JSON.stringify(k, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return name;
}

/** Reads a private key file and checks that its private half matches its key id. */
export function readKeyFile(path: string): TufKeyFile {
  const j = readJson(path, MAX_KEY_BYTES, 'key file') as Partial<TufKeyFile>;
  const pub = j.keyval?.public;
  const priv = j.keyval?.private;
  if (j.keytype !== 'ed25519' || typeof pub !== 'string' || typeof priv !== 'string') {
    throw new TufError(`key file ${path} is not an ed25519 key written by hub keys`, 'tuf.bad-metadata');
  }
  let derivedHex: string;
  try {
    const spki = createPublicKey(createPrivateKey(priv)).export({ format: 'der', type: 'spki' });
    derivedHex = Buffer.from(spki.subarray(spki.length - 32)).toString('hex');
  } catch {
    throw new TufError(`key file ${path} holds no readable ed25519 private key`, 'tuf.bad-metadata');
  }
  if (derivedHex !== pub || keyIdOf(pub) !== j.keyid) {
    throw new TufError(`key file ${path}: its private key does not match its key id`, 'tuf.bad-metadata');
  }
  return j as TufKeyFile;
}

/** Every private key file in the keys dir (not `retired/`): its name and key. */
function keyFilesIn(dir: string): Array<{ name: string; key: TufKeyFile }> {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.key.json'))
    .map((name) => ({ name, key: readKeyFile(join(dir, name)) }));
}

/** Every private key in the keys dir, by key id (a dir without some keys, e.g. an offline root, is fine). */
function loadKeys(dir: string): Map<string, TufKeyFile> {
  return new Map(keyFilesIn(dir).map(({ key }) => [key.keyid, key]));
}

/** Where a rotation moves the key files it replaces (never deleted; a build no longer reads them). */
export const RETIRED_KEYS_DIR = 'retired';

/** Moves key files out of the keys dir into `retired/` (0700); returns their new paths. */
function retireKeyFiles(dir: string, names: readonly string[]): string[] {
  if (names.length === 0) return [];
  const to = join(dir, RETIRED_KEYS_DIR);
  mkdirSync(to, { recursive: true, mode: 0o700 });
  return names.map((name) => {
    renameSync(join(dir, name), join(to, name));
    return join(to, name);
  });
}

const signerFor = (k: TufKeyFile) => (data: Buffer) =>
  new Signature({
    keyID: k.keyid,
    sig: sign(null, data, createPrivateKey(k.keyval.private)).toString('hex'),
  });

function expiresIn(now: Date, seconds: number): string {
  return new Date(Math.floor(now.getTime() / 1000) * 1000 + seconds * 1000)
    .toISOString()
    .replace('.000Z', 'Z');
}

const serialize = (m: Metadata<Root | Targets | Snapshot | Timestamp>) =>
  `${JSON.stringify(m.toJSON(), null, 1)}\n`;

/** The root versions in a dir (`N.root.json`), ascending. */
function rootVersions(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^([1-9][0-9]{0,9})\.root\.json$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

function readRoot(path: string): Metadata<Root> {
  const j = readJson(path, MAX_METADATA_BYTES, 'root metadata');
  try {
    return Metadata.fromJSON(MetadataKind.Root, j as never);
  } catch (err) {
    throw new TufError(`${path} is not TUF root metadata: ${(err as Error).message}`, 'tuf.bad-metadata');
  }
}

/** The newest root in a keys dir (`root/N.root.json`). */
export function latestRoot(keysDir: string): { version: number; root: Metadata<Root>; path: string } {
  const versions = rootVersions(join(keysDir, 'root'));
  const v = versions.at(-1);
  if (v === undefined) {
    throw new TufError(
      `${keysDir} holds no root/1.root.json; run hub keys generate --dir ${keysDir}`,
      'tuf.bad-keys-dir',
    );
  }
  const path = join(keysDir, 'root', tufMetadataFile('root', v));
  return { version: v, root: readRoot(path), path };
}

export interface GenerateKeysOptions {
  rootKeys?: number;
  rootThreshold?: number;
  /** Root lifetime in seconds (default one year). */
  rootExpirySeconds?: number;
  now?: Date;
}

export interface GeneratedKeys {
  keyIds: Record<TufRole | typeof HUB_ROLE, string[]>;
  root: string;
}

function checkRootCounts(n: number, threshold: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 16)
    throw new TufError('--root-keys must be 1 to 16', 'tuf.bad-option');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > n) {
    throw new TufError(`--root-threshold must be 1 to the number of root keys (${n})`, 'tuf.bad-option');
  }
}

/** Makes `dir` (0700) when missing; refuses one that is not a dir or that others can read. */
function keysDirFor(dir: string): string[] {
  let existing: string[] = [];
  try {
    if (!lstatSync(dir).isDirectory()) throw new TufError(`${dir} is not a directory`, 'tuf.bad-keys-dir');
    existing = readdirSync(dir);
  } catch (err) {
    if (err instanceof TufError) throw err;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  if ((statSync(dir).mode & 0o077) !== 0) {
    throw new TufError(
      `${dir} is readable by others; keys go in a 0700 dir (chmod 700 ${dir})`,
      'tuf.bad-keys-dir',
    );
  }
  return existing;
}

/**
 * Makes a keys dir (0700): one ed25519 key per top-level role (N for root) and one for the online
 * `hub` role, each private key 0600 as `<role>-<keyid16>.key.json`, and `root/1.root.json` signed
 * by the root keys. Refuses a dir that already holds keys or roots.
 */
export function generateTufKeys(dir: string, opts: GenerateKeysOptions = {}): GeneratedKeys {
  const n = opts.rootKeys ?? 1;
  const threshold = opts.rootThreshold ?? 1;
  checkRootCounts(n, threshold);
  const existing = keysDirFor(dir);
  if (existing.some((name) => name.endsWith('.key.json') || name === 'root')) {
    throw new TufError(`refusing to overwrite the keys in ${dir}; choose an empty dir`, 'tuf.keys-exist');
  }
  const made: Record<TufRole | typeof HUB_ROLE, TufKeyFile[]> = {
    root: Array.from({ length: n }, () => newKey('root')),
    targets: [newKey('targets')],
    snapshot: [newKey('snapshot')],
    timestamp: [newKey('timestamp')],
    hub: [newKey(HUB_ROLE)],
  };
  const now = opts.now ?? new Date();
  const root = new Root({
    version: 1,
    specVersion: TUF_SPEC_VERSION,
    expires: expiresIn(now, opts.rootExpirySeconds ?? TUF_DEFAULT_EXPIRY_SECONDS.root),
    consistentSnapshot: true,
  });
  for (const role of TUF_ROLES) for (const k of made[role]) root.addKey(publicKeyOf(k), role);
  root.roles.root = Object.assign(root.roles.root!, { threshold });
  const meta = new Metadata(root);
  for (const k of made.root) meta.sign(signerFor(k), true);
  for (const role of [...TUF_ROLES, HUB_ROLE] as const) for (const k of made[role]) writeKeyFile(dir, k);
  mkdirSync(join(dir, 'root'), { mode: 0o700 });
  const rootPath = join(dir, 'root', tufMetadataFile('root', 1));
  writeFileSync(rootPath, serialize(meta), { flag: 'wx' });
  return {
    keyIds: Object.fromEntries(
      [...TUF_ROLES, HUB_ROLE].map((r) => [r, made[r as TufRole].map((k) => k.keyid)]),
    ) as GeneratedKeys['keyIds'],
    root: rootPath,
  };
}

/**
 * Makes one key in `dir` (made 0700 when missing): the online `hub` role's key in a keys dir that
 * lacks one (a dir made before the role existed), or a plugin author's key. Returns the key and
 * its file name.
 */
export function generateRoleKey(
  dir: string,
  role: typeof HUB_ROLE | 'author',
): { key: TufKeyFile; file: string } {
  const existing = keysDirFor(dir);
  if (role === HUB_ROLE && existing.some((name) => /^hub-[0-9a-f]{16}\.key\.json$/.test(name))) {
    throw new TufError(`${dir} already holds a hub key`, 'tuf.keys-exist');
  }
  const key = newKey(role);
  return {
    key: { ...key, keyval: { public: key.keyval.public, private: '' } },
    file: join(dir, writeKeyFile(dir, key)),
  };
}

/** The `signing:` block for owners.yaml that names one author key (threshold 1). */
export function signingYaml(
  publicKeys: ReadonlyArray<{ keyid: string; public: string }>,
  threshold = 1,
): string {
  return [
    'signing:',
    `  threshold: ${threshold}`,
    '  keys:',
    ...publicKeys.flatMap((k) => [`    - keyid: ${k.keyid}`, `      public: ${k.public}`]),
  ].join('\n');
}

export interface RotateOptions {
  rootKeys?: number;
  rootThreshold?: number;
  rootExpirySeconds?: number;
  now?: Date;
}

/** The current root keys found in the keys dir, at least their threshold (else `tuf.below-threshold`). */
function currentRootSigners(dir: string, root: Metadata<Root>, keys: Map<string, TufKeyFile>): TufKeyFile[] {
  const role = root.signed.roles.root!;
  const found = role.keyIDs.map((id) => keys.get(id)).filter((k): k is TufKeyFile => k !== undefined);
  if (found.length < role.threshold) {
    throw new TufError(
      `rotation needs ${role.threshold} of the current root keys in ${dir}; found ${found.length}`,
      'tuf.below-threshold',
    );
  }
  return found;
}

/**
 * Rotates the root keys: writes `root/<N+1>.root.json` with new root keys, signed by a threshold of
 * the old root keys (which must be in the dir) and by every new one, as a client following the
 * chain requires. The old root key files stay (move them offline or delete them).
 */
export function rotateRootKeys(
  dir: string,
  opts: RotateOptions = {},
): { version: number; keyIds: string[]; root: string } {
  const { version, root: old } = latestRoot(dir);
  const keys = loadKeys(dir);
  const oldRole = old.signed.roles.root!;
  const oldSigners = currentRootSigners(dir, old, keys);
  const n = opts.rootKeys ?? oldRole.keyIDs.length;
  const threshold = opts.rootThreshold ?? Math.min(oldRole.threshold, n);
  checkRootCounts(n, threshold);
  const fresh = Array.from({ length: n }, () => newKey('root'));
  const json = old.signed.toJSON() as Record<string, unknown>;
  const next = Root.fromJSON({ ...json } as never);
  // Drop the old root keys (unless another role still uses them), add the new ones.
  const usedElsewhere = new Set(
    TUF_ROLES.filter((r) => r !== 'root').flatMap((r) => next.roles[r]?.keyIDs ?? []),
  );
  for (const id of oldRole.keyIDs) if (!usedElsewhere.has(id)) delete (next.keys as Record<string, Key>)[id];
  next.roles.root!.keyIDs.length = 0;
  for (const k of fresh) next.addKey(publicKeyOf(k), 'root');
  Object.assign(next.roles.root!, { threshold });
  Object.assign(next, {
    version: version + 1,
    expires: expiresIn(opts.now ?? new Date(), opts.rootExpirySeconds ?? TUF_DEFAULT_EXPIRY_SECONDS.root),
  });
  const meta = new Metadata(next);
  for (const k of oldSigners.slice(0, oldRole.threshold)) meta.sign(signerFor(k), true);
  for (const k of fresh) meta.sign(signerFor(k), true);
  for (const k of fresh) writeKeyFile(dir, k);
  const path = join(dir, 'root', tufMetadataFile('root', version + 1));
  writeFileSync(path, serialize(meta), { flag: 'wx' });
  return { version: version + 1, keyIds: fresh.map((k) => k.keyid), root: path };
}

/** The roles `hub keys rotate --role` gives a new key, besides root. */
export const TUF_ONLINE_ROTATABLE = ['snapshot', 'timestamp', 'targets', HUB_ROLE] as const;
export type TufRotatableRole = (typeof TUF_ONLINE_ROTATABLE)[number];

export interface RoleRotation {
  role: TufRotatableRole;
  /** The new key's id and file. */
  keyId: string;
  file: string;
  /** The key ids it replaces. */
  oldKeyIds: string[];
  /** Where the replaced key files went (`retired/`); empty when they were not in the dir. */
  retired: string[];
  /** The new root (snapshot, timestamp, targets), absent for hub (top-level targets names it). */
  root?: { version: number; path: string };
  /** What the operator does next, one step a line. */
  next: string[];
}

/**
 * Gives one role a new key. snapshot, timestamp, targets: writes `root/<N+1>.root.json` naming the
 * new key instead of the old one(s), signed by the threshold of the current root keys (which must
 * be in the dir, else `tuf.below-threshold` and nothing written). hub: top-level targets names its
 * key, so no root is written; the next build sees the `hub` delegation change and must sign
 * top-level targets again (the targets key). Either way the replaced key files are moved into
 * `retired/` (not deleted), so the next build signs with the new key only.
 */
export function rotateRoleKey(dir: string, role: TufRotatableRole, opts: RotateOptions = {}): RoleRotation {
  const { version, root: current } = latestRoot(dir);
  const files = keyFilesIn(dir);
  const keys = new Map(files.map(({ key }) => [key.keyid, key]));
  if (role === HUB_ROLE) {
    const old = files.filter(({ key }) => key.role === HUB_ROLE);
    const fresh = newKey(HUB_ROLE);
    const name = writeKeyFile(dir, fresh);
    const retired = retireKeyFiles(
      dir,
      old.map((f) => f.name),
    );
    return {
      role,
      keyId: fresh.keyid,
      file: join(dir, name),
      oldKeyIds: old.map((f) => f.key.keyid),
      retired,
      next: [
        'the next hub build signs top-level targets again (its hub delegation names the new key): run it where the targets key is (a keys dir holding targets-<keyid>.key.json and the new hub key, with --previous naming the published metadata) and publish it',
        `replace the hub key wherever builds run (CI's secrets) with ${name}; later builds need only snapshot, timestamp and hub again`,
      ],
    };
  }
  const signers = currentRootSigners(dir, current, keys);
  const rootRole = current.signed.roles.root!;
  const fresh = newKey(role);
  const next = Root.fromJSON({ ...(current.signed.toJSON() as Record<string, unknown>) } as never);
  const oldKeyIds = [...next.roles[role]!.keyIDs];
  next.roles[role]!.keyIDs.length = 0;
  const usedElsewhere = new Set(
    TUF_ROLES.filter((r) => r !== role).flatMap((r) => next.roles[r]?.keyIDs ?? []),
  );
  for (const id of oldKeyIds) if (!usedElsewhere.has(id)) delete (next.keys as Record<string, Key>)[id];
  next.addKey(publicKeyOf(fresh), role);
  Object.assign(next.roles[role]!, { threshold: 1 });
  Object.assign(next, {
    version: version + 1,
    expires: expiresIn(opts.now ?? new Date(), opts.rootExpirySeconds ?? TUF_DEFAULT_EXPIRY_SECONDS.root),
  });
  const meta = new Metadata(next);
  for (const k of signers.slice(0, rootRole.threshold)) meta.sign(signerFor(k), true);
  const name = writeKeyFile(dir, fresh);
  const path = join(dir, 'root', tufMetadataFile('root', version + 1));
  try {
    writeFileSync(path, serialize(meta), { flag: 'wx' });
  } catch (err) {
    rmSync(join(dir, name), { force: true });
    throw new TufError(`cannot write ${path}: ${(err as Error).message}`, 'tuf.bad-keys-dir');
  }
  const retired = retireKeyFiles(
    dir,
    files
      .filter(({ key }) => oldKeyIds.includes(key.keyid) && !usedElsewhere.has(key.keyid))
      .map((f) => f.name),
  );
  const needed =
    role === 'targets'
      ? [
          `the next hub build signs top-level targets again with the new targets key (its root names no other): run it where ${name} is, with --previous naming the published metadata, publish it, then take the targets key offline`,
        ]
      : [
          `replace the ${role} key wherever builds run (CI's secrets) with ${name}; the next build needs the root metadata and the snapshot, timestamp and hub keys as before`,
        ];
  return {
    role,
    keyId: fresh.keyid,
    file: join(dir, name),
    oldKeyIds,
    retired,
    root: { version: version + 1, path },
    next: [
      `publish root version ${version + 1}: the next hub build --tuf-keys ${dir} copies it into tuf/metadata/ (clients follow the root chain to it)`,
      ...needed,
      'move the root keys offline again',
    ],
  };
}

/** Adds one signature (offline signing) to a metadata file, in place; returns its role and key id. */
export function signMetadataFile(file: string, keyFile: string): { role: string; keyId: string } {
  const key = readKeyFile(keyFile);
  const j = readJson(file, MAX_METADATA_BYTES, 'metadata');
  const type = (j.signed as { _type?: unknown } | undefined)?._type;
  if (typeof type !== 'string' || !(TUF_ROLES as readonly string[]).includes(type)) {
    throw new TufError(
      `${file} is not TUF metadata (signed._type is not a top-level role)`,
      'tuf.bad-metadata',
    );
  }
  let meta: Metadata<Root | Targets | Snapshot | Timestamp>;
  try {
    meta = Metadata.fromJSON(type as MetadataKind.Root, j as never);
  } catch (err) {
    throw new TufError(`${file} is not TUF metadata: ${(err as Error).message}`, 'tuf.bad-metadata');
  }
  meta.sign(signerFor(key), true);
  writeFileSync(file, serialize(meta));
  return { role: type, keyId: key.keyid };
}

/** One target: its path as the API serves it and its bytes' length and sha256. */
export interface TufTarget {
  path: string;
  length: number;
  sha256: string;
}

/**
 * What a build signs: every archive (`assets/plugins/<file>.mpn`, as the API serves it) and every
 * plugin document (`v1/plugins/<id>.json`, identity bytes).
 */
export function tufTargets(
  documents: ReadonlyMap<string, string | Uint8Array>,
  archives: Record<string, { sha256: string; size: number }>,
): TufTarget[] {
  const out: TufTarget[] = [];
  for (const [path, a] of Object.entries(archives)) out.push({ path, length: a.size, sha256: a.sha256 });
  for (const [path, text] of documents) {
    if (!/^v1\/plugins\/[^/]+\.json$/.test(path)) continue;
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    out.push({ path, length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The delegated role of an author-signed plugin: `plugin-<id>`. */
export const pluginRoleName = (pluginId: string): string => `plugin-${pluginId}`;

/**
 * The paths an author's role is trusted for: the plugin's archives, `<id>-<x.y.z…>.mpn`. tuf-js
 * matches each path part with minimatch (extglob on): the digits-dot-digits right after `<id>-`
 * keep another plugin (`ctf-2d` beside `ctf`) out, as ids hold no such run (see
 * `claimedByOtherRole`). Python clients (fnmatch) do not know `+(…)` and fail closed.
 */
export const pluginRolePaths = (pluginId: string): string[] => [
  archiveKey(archiveFileName(pluginId, '+([0-9]).+([0-9]).+([0-9])*')),
];

/** The `hub` role's paths: every `assets/plugins/<file>` and `v1/plugins/<id>.json`. */
export const HUB_ROLE_PATHS = ['*/*', '*/*/*'];

/**
 * The `hub` role lists no target itself: it delegates to 2^bits hash bins (`hub-bin-<hex>`, TUF's
 * succinct roles), each listing the targets whose path's sha256 starts with its number. A client
 * reads only the bin its target falls in, and no file lists more than ~128 targets on average —
 * which matters beyond bytes: @tufjs/models builds a targets object with one spread per target, so
 * reading or writing n targets in one file costs n².
 */
export const HUB_BIN_PREFIX = 'hub-bin';
const TARGETS_PER_BIN = 128;
/** The bins' bit length for n targets: ~128 per bin, at least 2 bins, at most 2^16. */
export const hubBinBits = (n: number): number =>
  Math.min(16, Math.max(1, Math.ceil(Math.log2(Math.max(1, n) / TARGETS_PER_BIN))));

/** One delegated role as TUF JSON, and the public keys (by key id) it names. */
interface RoleSpec {
  role: { name: string; keyids: string[]; threshold: number; terminating: boolean; paths: string[] };
  keys: Record<string, { keytype: 'ed25519'; scheme: 'ed25519'; keyval: { public: string } }>;
}
type Delegations = NonNullable<Targets['delegations']>;

const ed25519 = (publicHex: string) => ({
  keytype: 'ed25519' as const,
  scheme: 'ed25519' as const,
  keyval: { public: publicHex },
});

/** The delegations (in this order) as @tufjs/models holds them (its classes for them are not exported). */
function delegationsOf(specs: readonly RoleSpec[]): Delegations {
  const t = Targets.fromJSON({
    _type: 'targets',
    spec_version: TUF_SPEC_VERSION,
    version: 1,
    expires: '2000-01-01T00:00:00Z',
    targets: {},
    delegations: {
      keys: Object.assign({}, ...specs.map((s) => s.keys)),
      roles: specs.map((s) => s.role),
    },
  } as never);
  return t.delegations!;
}

/** The delegated role of a plugin whose owners.yaml has `signing`: terminating, its archives' paths. */
export function pluginDelegation(pluginId: string, signing: Signing): RoleSpec {
  return {
    role: {
      name: pluginRoleName(pluginId),
      keyids: signing.keys.map((k) => k.keyid),
      threshold: signing.threshold,
      terminating: true,
      paths: pluginRolePaths(pluginId),
    },
    keys: Object.fromEntries(signing.keys.map((k) => [k.keyid, ed25519(k.public)])),
  };
}

/** Whether a delegated role's paths (as a client matches them) cover a target path. */
export function roleCoversPath(spec: RoleSpec, path: string): boolean {
  return delegationsOf([spec]).roles![spec.role.name]!.isDelegatedPath(path);
}

function parseTargets(bytes: Uint8Array, what: string): Metadata<Targets> {
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new TufError(`${what} is not JSON`, 'tuf.bad-metadata');
  }
  if ((j as { signed?: { _type?: unknown } } | null)?.signed?._type !== 'targets') {
    throw new TufError(
      `${what} is not TUF targets metadata (signed._type is not "targets")`,
      'tuf.bad-metadata',
    );
  }
  try {
    return Metadata.fromJSON(MetadataKind.Targets, j as never);
  } catch (err) {
    throw new TufError(`${what} is not TUF targets metadata: ${(err as Error).message}`, 'tuf.bad-metadata');
  }
}

/**
 * An author's signed-targets.json checked as a client would: TUF targets metadata, signed by
 * `signing.threshold` of the listed keys, not expired at `now`. Throws TufError (`tuf.bad-metadata`
 * or `tuf.below-threshold`) naming what is wrong.
 */
export function verifyPluginRole(
  pluginId: string,
  signing: Signing,
  bytes: Uint8Array,
  now: Date = new Date(),
): Metadata<Targets> {
  const name = pluginRoleName(pluginId);
  if (bytes.length > MAX_SIGNED_TARGETS_BYTES) {
    throw new TufError(`${name} is larger than ${MAX_SIGNED_TARGETS_BYTES} bytes`, 'tuf.bad-metadata');
  }
  const meta = parseTargets(bytes, name);
  const delegator = new Metadata(
    new Targets({
      version: 1,
      specVersion: TUF_SPEC_VERSION,
      expires: '2000-01-01T00:00:00Z',
      delegations: delegationsOf([pluginDelegation(pluginId, signing)]),
    }),
  );
  try {
    delegator.verifyDelegate(name, meta);
  } catch (err) {
    throw new TufError(
      `${(err as Error).message} (the keys in owners.yaml's signing)`,
      'tuf.below-threshold',
    );
  }
  if (meta.signed.isExpired(now)) {
    throw new TufError(
      `${name} expired on ${meta.signed.expires}; the author must sign it again`,
      'tuf.bad-metadata',
    );
  }
  return meta;
}

export interface SignPluginOptions {
  /** Lifetime in seconds (default one year). */
  expirySeconds?: number;
  now?: Date;
}

/**
 * An author's signed-targets.json with `targets` added (replacing those of the same path): version
 * 1 when there is none yet, else the previous version + 1; signed with `key` alone (more keys add
 * theirs with `hub keys sign`). Returns the file's text.
 */
export function signPluginTargets(
  pluginId: string,
  previous: Uint8Array | undefined,
  targets: readonly TufTarget[],
  key: TufKeyFile,
  opts: SignPluginOptions = {},
): string {
  if (previous && previous.length > MAX_SIGNED_TARGETS_BYTES) {
    throw new TufError(
      `${pluginRoleName(pluginId)} is larger than ${MAX_SIGNED_TARGETS_BYTES} bytes`,
      'tuf.bad-metadata',
    );
  }
  const before = previous ? parseTargets(previous, pluginRoleName(pluginId)).signed : undefined;
  const signed = new Targets({
    version: (before?.version ?? 0) + 1,
    specVersion: TUF_SPEC_VERSION,
    expires: expiresIn(opts.now ?? new Date(), opts.expirySeconds ?? AUTHOR_TARGETS_EXPIRY_SECONDS),
  });
  const byPath = new Map<string, TargetFile>(Object.entries(before?.targets ?? {}));
  for (const t of targets) {
    byPath.set(t.path, new TargetFile({ path: t.path, length: t.length, hashes: { sha256: t.sha256 } }));
  }
  for (const path of [...byPath.keys()].sort()) signed.addTarget(byPath.get(path)!);
  const meta = new Metadata(signed);
  meta.sign(signerFor(key), true);
  return serialize(meta);
}

/** The target an archive is, for an author's signed-targets.json (its path as the API serves it). */
export function archiveTarget(pluginId: string, version: string, bytes: Uint8Array): TufTarget {
  return {
    path: versionArchiveKey(pluginId, version),
    length: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** A plugin whose archives its author signs: owners.yaml's `signing` and signed-targets.json's bytes. */
export interface AuthorRole {
  pluginId: string;
  signing: Signing;
  bytes: Uint8Array;
}

export interface WriteTufOptions {
  keysDir: string;
  /** Plugins whose archives their authors sign (their own delegated roles); none by default. */
  authors?: readonly AuthorRole[];
  /** A previous build's `tuf/metadata` dir: the new versions continue from its timestamp's. */
  previousMetadataDir?: string;
  /** Refuse when `previousMetadataDir` holds no timestamp.json (it was named explicitly: a typo must not restart at 1). */
  requirePrevious?: boolean;
  /** Lifetimes in seconds per role (root's is set when the root is made). */
  expirySeconds?: Partial<Record<TufSignedRole, number>>;
  now?: Date;
}

interface PreviousBuild {
  /** Its timestamp's version (0 without one). */
  version: number;
  /** Its top-level targets, when timestamp → snapshot → targets could be followed. */
  targets?: { version: number; bytes: Buffer; meta: Metadata<Targets> };
  /** Why targets could not be followed (for the message when signing is then needed). */
  missing?: string;
}

const metaVersion = (j: Record<string, unknown>, path: string): number => {
  const v = (j.signed as { version?: unknown } | undefined)?.version;
  if (!Number.isInteger(v) || (v as number) < 1)
    throw new TufError(`${path} has no valid version`, 'tuf.bad-metadata');
  return v as number;
};

/**
 * The previous build: its timestamp's version, and, following timestamp → `<v>.snapshot.json` →
 * `<t>.targets.json`, its top-level targets (to reuse unchanged: the targets key stays offline).
 */
function readPrevious(dir: string | undefined, required: boolean): PreviousBuild {
  if (!dir) return { version: 0, missing: 'there is no previous build' };
  const path = join(dir, tufMetadataFile('timestamp'));
  try {
    lstatSync(path);
  } catch {
    if (required) throw new TufError(`the previous build has no ${path}`, 'tuf.bad-metadata');
    return { version: 0, missing: `the previous build has no ${path}` };
  }
  const ts = readJson(path, MAX_METADATA_BYTES, 'previous timestamp');
  const version = metaVersion(ts, path);
  const snapVersion = (ts.signed as { meta?: Record<string, { version?: unknown }> }).meta?.['snapshot.json']
    ?.version;
  if (!Number.isInteger(snapVersion)) return { version, missing: `${path} names no snapshot version` };
  const snapPath = join(dir, tufMetadataFile('snapshot', snapVersion as number));
  try {
    lstatSync(snapPath);
  } catch {
    return { version, missing: `the previous build has no ${snapPath}` };
  }
  const snap = readJson(snapPath, MAX_METADATA_BYTES, 'previous snapshot');
  const tv = (snap.signed as { meta?: Record<string, { version?: unknown }> }).meta?.['targets.json']
    ?.version;
  if (!Number.isInteger(tv)) return { version, missing: `${snapPath} names no targets version` };
  const targetsPath = join(dir, tufMetadataFile('targets', tv as number));
  try {
    lstatSync(targetsPath);
  } catch {
    return { version, missing: `the previous build has no ${targetsPath}` };
  }
  const bytes = readBounded(targetsPath, MAX_METADATA_BYTES, 'previous targets');
  return { version, targets: { version: tv as number, bytes, meta: parseTargets(bytes, targetsPath) } };
}

/** Why the previous top-level targets cannot be reused ("" when it can). */
function whyResign(previous: PreviousBuild, wanted: Delegations, root: Metadata<Root>, now: Date): string {
  const prev = previous.targets;
  if (!prev) return previous.missing ?? 'there is no previous targets metadata';
  try {
    root.verifyDelegate('targets', prev.meta);
  } catch {
    return `the previous targets (version ${prev.version}) is not signed by the targets key(s) the current root names`;
  }
  if (Date.parse(prev.meta.signed.expires) - now.getTime() < TUF_TARGETS_RENEW_SECONDS * 1000) {
    return `the previous targets (version ${prev.version}) expires on ${prev.meta.signed.expires}, within 30 days`;
  }
  if (Object.keys(prev.meta.signed.targets).length > 0) {
    return `the previous targets (version ${prev.version}) lists targets itself (a build from before the delegations)`;
  }
  const before = prev.meta.signed.delegations;
  if (!before?.roles) return `the previous targets (version ${prev.version}) has no delegations`;
  const was = Object.keys(before.roles);
  const wantedRoles = Object.keys(wanted.roles!);
  const added = wantedRoles.filter((r) => !was.includes(r));
  const removed = was.filter((r) => !wantedRoles.includes(r));
  const keyJson = (d: Delegations, r: string) => {
    const role = d.roles![r]!;
    return canonicalize({
      role: role.toJSON(),
      keys: role.keyIDs.map((id) => d.keys[id]?.toJSON() ?? null),
    } as never);
  };
  const changed = wantedRoles.filter((r) => was.includes(r) && keyJson(before, r) !== keyJson(wanted, r));
  const parts = [
    added.length ? `adds ${added.join(', ')}` : '',
    removed.length ? `removes ${removed.join(', ')}` : '',
    changed.length ? `changes ${changed.join(', ')} (keys, threshold or paths)` : '',
  ].filter(Boolean);
  if (parts.length > 0) return `the delegations change: this build ${parts.join('; ')}`;
  if (canonicalize(before.toJSON() as never) !== canonicalize(wanted.toJSON() as never)) {
    return 'the delegations change (their order or keys)';
  }
  return '';
}

/**
 * Writes the TUF repository into `<outDir>/tuf/metadata/`: every root version from the keys dir
 * (`N.root.json`, and `root.json` = the newest); top-level `<t>.targets.json`, which lists no target
 * but delegates to one role per author-signed plugin (`plugin-<id>`, terminating, its archives'
 * paths, the author keys from owners.yaml) and then to the online `hub` role (everything else);
 * `<p>.plugin-<id>.json` (the author's signed-targets.json, verbatim); `<v>.hub.json`,
 * `<v>.snapshot.json` and `timestamp.json` signed with the online keys. v is the previous build's
 * timestamp version + 1 (1 without one), so it only ever increases. Top-level targets is signed
 * only when its delegations change or it nears expiry — else the previous one is copied as it is,
 * so the targets key can stay offline; signing without it is refused (`tuf.no-key`).
 */
export function writeTufRepository(
  outDir: string,
  targets: readonly TufTarget[],
  opts: WriteTufOptions,
): { version: number; targetsVersion: number; resigned: boolean } {
  const b = openTufBuild(opts);
  const authors = authorRoleFiles(b, opts.authors ?? []);
  const hub = hubDelegation(b);
  const delegations = delegationsOf([...authors.specs, hub.spec]);
  const hubFiles = hubRoleFiles(b, targets, delegations, hub.key);
  const top = topLevelTargets(b, delegations);
  const binFiles = hubFiles.bins;
  const meta: Record<string, MetaFile> = { 'targets.json': new MetaFile({ version: top.version }) };
  meta[tufMetadataFile(HUB_ROLE)] = new MetaFile({ version: b.version });
  for (const f of binFiles) meta[tufMetadataFile(f.name)] = new MetaFile({ version: b.version });
  for (const f of authors.files) meta[tufMetadataFile(f.name)] = new MetaFile({ version: f.version });
  const { snapshotBytes, timestampText } = snapshotAndTimestamp(b, meta);
  const dir = join(outDir, TUF_METADATA_DIR);
  mkdirSync(dir, { recursive: true });
  copyRootVersions(b, dir);
  writeFileSync(join(dir, tufMetadataFile('targets', top.version)), top.bytes);
  writeFileSync(join(dir, tufMetadataFile(HUB_ROLE, b.version)), hubFiles.hub);
  for (const f of binFiles) writeFileSync(join(dir, tufMetadataFile(f.name, b.version)), f.text);
  for (const f of authors.files) writeFileSync(join(dir, tufMetadataFile(f.name, f.version)), f.bytes);
  writeFileSync(join(dir, tufMetadataFile('snapshot', b.version)), snapshotBytes);
  writeFileSync(join(dir, tufMetadataFile('timestamp')), timestampText);
  return { version: b.version, targetsVersion: top.version, resigned: top.resigned };
}

/** What one signed build works from: the keys, the newest root, the clock, and this build's version. */
interface TufBuild {
  keysDir: string;
  keys: Map<string, TufKeyFile>;
  root: Metadata<Root>;
  rootVersion: number;
  now: Date;
  previous: ReturnType<typeof readPrevious>;
  /** The previous build's timestamp version + 1. */
  version: number;
  expiry: typeof TUF_DEFAULT_EXPIRY_SECONDS;
}

/** Loads the keys and the newest root (refused when expired), and reads the previous build. */
function openTufBuild(opts: WriteTufOptions): TufBuild {
  const keys = loadKeys(opts.keysDir);
  const { version: rootVersion, root } = latestRoot(opts.keysDir);
  const now = opts.now ?? new Date();
  if (root.signed.isExpired(now)) {
    throw new TufError(
      `root version ${rootVersion} in ${opts.keysDir} has expired; rotate it with hub keys rotate`,
      'tuf.bad-metadata',
    );
  }
  const previous = readPrevious(opts.previousMetadataDir, opts.requirePrevious ?? false);
  return {
    keysDir: opts.keysDir,
    keys,
    root,
    rootVersion,
    now,
    previous,
    version: previous.version + 1,
    expiry: { ...TUF_DEFAULT_EXPIRY_SECONDS, ...opts.expirySeconds },
  };
}

/** Signs a top-level role's metadata with the threshold of its keys the root names (refused without them). */
function signAs(b: TufBuild, role: Exclude<TufRole, 'root'>, meta: Metadata<Targets | Snapshot | Timestamp>) {
  const r = b.root.signed.roles[role]!;
  const signers = r.keyIDs.map((id) => b.keys.get(id)).filter((k): k is TufKeyFile => k !== undefined);
  if (signers.length < r.threshold) {
    throw new TufError(
      `${b.keysDir} lacks the ${role} key(s) the root names (need ${r.threshold})`,
      'tuf.no-key',
    );
  }
  for (const k of signers.slice(0, r.threshold)) meta.sign(signerFor(k), true);
  return serialize(meta);
}

/** The author roles, checked again as a client will (the catalog load checked them first): delegations and files. */
function authorRoleFiles(b: TufBuild, authors: NonNullable<WriteTufOptions['authors']>) {
  const specs: RoleSpec[] = [];
  const files: Array<{ name: string; version: number; bytes: Uint8Array }> = [];
  for (const a of [...authors].sort((x, y) => (x.pluginId < y.pluginId ? -1 : 1))) {
    const meta = verifyPluginRole(a.pluginId, a.signing, a.bytes, b.now);
    const d = pluginDelegation(a.pluginId, a.signing);
    specs.push(d);
    files.push({ name: d.role.name, version: meta.signed.version, bytes: a.bytes });
  }
  return { specs, files };
}

/** The online `hub` role's delegation (everything no author role holds), signed by the hub key(s). */
function hubDelegation(b: TufBuild): { spec: RoleSpec; key: TufKeyFile } {
  const hubKeys = [...b.keys.values()]
    .filter((k) => k.role === HUB_ROLE)
    .sort((x, y) => (x.keyid < y.keyid ? -1 : 1));
  if (hubKeys.length === 0) {
    throw new TufError(
      `${b.keysDir} holds no hub key (hub-<keyid>.key.json); add one with hub keys generate --role hub --dir ${b.keysDir}`,
      'tuf.no-key',
    );
  }
  const spec: RoleSpec = {
    role: {
      name: HUB_ROLE,
      keyids: hubKeys.map((k) => k.keyid),
      threshold: 1,
      terminating: false,
      paths: HUB_ROLE_PATHS,
    },
    keys: Object.fromEntries(hubKeys.map((k) => [k.keyid, ed25519(k.keyval.public)])),
  };
  return { spec, key: hubKeys[0]! };
}

/** The targets no author role is trusted for (a target two author roles claim is refused). */
function hubTargetsOf(targets: readonly TufTarget[], delegations: Delegations): TufTarget[] {
  const authorRoles = Object.values(delegations.roles!).filter((r) => r.name !== HUB_ROLE);
  return targets.filter((t) => {
    const claims = authorRoles.filter((r) => r.isDelegatedPath(t.path));
    if (claims.length > 1) {
      throw new TufError(
        `${t.path} matches the paths of ${claims.map((r) => r.name).join(' and ')}; rename one of the plugins`,
        'tuf.bad-metadata',
      );
    }
    return claims.length === 0; // else its author's role lists it (the catalog load checked that)
  });
}

/**
 * The hub role: every target no author role is trusted for, spread over hash bins it delegates to
 * (succinct roles, signed by the same online key), so no one file lists many targets.
 */
function hubRoleFiles(
  b: TufBuild,
  targets: readonly TufTarget[],
  delegations: Delegations,
  hubKey: TufKeyFile,
) {
  const hubTargets = hubTargetsOf(targets, delegations);
  const expires = expiresIn(b.now, b.expiry.hub);
  const hubSigned = Targets.fromJSON({
    _type: 'targets',
    spec_version: TUF_SPEC_VERSION,
    version: b.version,
    expires,
    targets: {},
    delegations: {
      keys: { [hubKey.keyid]: ed25519(hubKey.keyval.public) },
      succinct_roles: {
        keyids: [hubKey.keyid],
        threshold: 1,
        bit_length: hubBinBits(hubTargets.length),
        name_prefix: HUB_BIN_PREFIX,
      },
    },
  } as never);
  const succinct = hubSigned.delegations!.succinctRoles!;
  const bins = new Map<string, Targets>();
  for (const name of succinct.getRoles())
    bins.set(name, new Targets({ version: b.version, specVersion: TUF_SPEC_VERSION, expires }));
  for (const t of hubTargets) {
    bins
      .get(succinct.getRoleForTarget(t.path))!
      .addTarget(new TargetFile({ path: t.path, length: t.length, hashes: { sha256: t.sha256 } }));
  }
  const sign = (signed: Targets) => {
    const m = new Metadata(signed);
    m.sign(signerFor(hubKey), true);
    return serialize(m);
  };
  return { hub: sign(hubSigned), bins: [...bins].map(([name, signed]) => ({ name, text: sign(signed) })) };
}

/** Top-level targets: reused as it was unless its delegations change (or it nears expiry); then signed. */
function topLevelTargets(b: TufBuild, delegations: Delegations) {
  const why = whyResign(b.previous, delegations, b.root, b.now);
  if (why === '')
    return { version: b.previous.targets!.version, bytes: b.previous.targets!.bytes, resigned: false };
  const r = b.root.signed.roles.targets!;
  const have = r.keyIDs.filter((id) => b.keys.has(id)).length;
  if (have < r.threshold) {
    throw new TufError(
      `the top-level targets must be signed again — ${why} — and ${b.keysDir} lacks the targets key (need ${r.threshold}, found ${have}). Sign offline: run this build where the targets key is (a keys dir holding targets-<keyid>.key.json, with --previous naming the published metadata), publish that build, and later builds reuse its targets`,
      'tuf.no-key',
    );
  }
  const signed = new Targets({
    version: b.version,
    specVersion: TUF_SPEC_VERSION,
    expires: expiresIn(b.now, b.expiry.targets),
    delegations,
  });
  return {
    version: b.version,
    bytes: Buffer.from(signAs(b, 'targets', new Metadata(signed))) as Uint8Array,
    resigned: true,
  };
}

/** The snapshot of every role file's version, and the timestamp naming the snapshot's bytes. */
function snapshotAndTimestamp(b: TufBuild, meta: Record<string, MetaFile>) {
  const snapshot = new Snapshot({
    version: b.version,
    specVersion: TUF_SPEC_VERSION,
    expires: expiresIn(b.now, b.expiry.snapshot),
    meta,
  });
  const snapshotBytes = Buffer.from(signAs(b, 'snapshot', new Metadata(snapshot)));
  const timestamp = new Timestamp({
    version: b.version,
    specVersion: TUF_SPEC_VERSION,
    expires: expiresIn(b.now, b.expiry.timestamp),
    snapshotMeta: new MetaFile({
      version: b.version,
      length: snapshotBytes.length,
      hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') },
    }),
  });
  return { snapshotBytes, timestampText: signAs(b, 'timestamp', new Metadata(timestamp)) };
}

/** Every root version from the keys dir, and `root.json` = the newest. */
function copyRootVersions(b: TufBuild, dir: string): void {
  for (const v of rootVersions(join(b.keysDir, 'root'))) {
    const bytes = readBounded(
      join(b.keysDir, 'root', tufMetadataFile('root', v)),
      MAX_METADATA_BYTES,
      'root metadata',
    );
    writeFileSync(join(dir, tufMetadataFile('root', v)), bytes);
    if (v === b.rootVersion) writeFileSync(join(dir, tufMetadataFile('root')), bytes);
  }
}

/**
 * A root metadata file an operator trusts (`hub mirror --root`): a regular file of at most
 * MAX_METADATA_BYTES that parses as root metadata signed by its own threshold. Its bytes, as
 * read, for a TUF client's state dir.
 */
export function readTrustedRoot(path: string): Buffer {
  const bytes = readBounded(path, MAX_METADATA_BYTES, 'root metadata');
  try {
    const root = Metadata.fromJSON(MetadataKind.Root, JSON.parse(bytes.toString('utf8')) as never);
    root.verifyDelegate(MetadataKind.Root, root);
  } catch (err) {
    throw new TufError(
      `${path} is not root metadata signed by its own keys (${(err as Error).message})`,
      'tuf.bad-metadata',
    );
  }
  return bytes;
}
