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
import { TUF_METADATA_DIR } from '../tuf-layout';

/** The TUF specification version the metadata claims. */
export const TUF_SPEC_VERSION = '1.0.31';
export const TUF_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type TufRole = (typeof TUF_ROLES)[number];

/** Default lifetimes: timestamp short (a frozen hub is noticed within a day), root long (offline keys). */
export const TUF_DEFAULT_EXPIRY_SECONDS: Record<TufRole, number> = {
  root: 365 * 86400,
  targets: 7 * 86400,
  snapshot: 7 * 86400,
  timestamp: 86400,
};

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
  role: TufRole;
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
function keyIdOf(publicHex: string): string {
  const pub = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: publicHex } };
  return createHash('sha256').update(canonicalize(pub)).digest('hex');
}

function newKey(role: TufRole): TufKeyFile {
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

/** Every private key in the keys dir, by key id (a dir without some keys, e.g. an offline root, is fine). */
function loadKeys(dir: string): Map<string, TufKeyFile> {
  const keys = new Map<string, TufKeyFile>();
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.key.json')) continue;
    const k = readKeyFile(join(dir, name));
    keys.set(k.keyid, k);
  }
  return keys;
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
  const path = join(keysDir, 'root', `${v}.root.json`);
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
  keyIds: Record<TufRole, string[]>;
  root: string;
}

function checkRootCounts(n: number, threshold: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 16)
    throw new TufError('--root-keys must be 1 to 16', 'tuf.bad-option');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > n) {
    throw new TufError(`--root-threshold must be 1 to the number of root keys (${n})`, 'tuf.bad-option');
  }
}

/**
 * Makes a keys dir (0700): one ed25519 key per top-level role (N for root), each private key 0600
 * as `<role>-<keyid16>.key.json`, and `root/1.root.json` signed by the root keys. Refuses a dir
 * that already holds keys or roots.
 */
export function generateTufKeys(dir: string, opts: GenerateKeysOptions = {}): GeneratedKeys {
  const n = opts.rootKeys ?? 1;
  const threshold = opts.rootThreshold ?? 1;
  checkRootCounts(n, threshold);
  let existing: string[] = [];
  try {
    if (!lstatSync(dir).isDirectory()) throw new TufError(`${dir} is not a directory`, 'tuf.bad-keys-dir');
    existing = readdirSync(dir);
  } catch (err) {
    if (err instanceof TufError) throw err;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  if (existing.some((name) => name.endsWith('.key.json') || name === 'root')) {
    throw new TufError(`refusing to overwrite the keys in ${dir}; choose an empty dir`, 'tuf.keys-exist');
  }
  if ((statSync(dir).mode & 0o077) !== 0) {
    throw new TufError(
      `${dir} is readable by others; keys go in a 0700 dir (chmod 700 ${dir})`,
      'tuf.bad-keys-dir',
    );
  }
  const made: Record<TufRole, TufKeyFile[]> = {
    root: Array.from({ length: n }, () => newKey('root')),
    targets: [newKey('targets')],
    snapshot: [newKey('snapshot')],
    timestamp: [newKey('timestamp')],
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
  for (const role of TUF_ROLES) for (const k of made[role]) writeKeyFile(dir, k);
  mkdirSync(join(dir, 'root'), { mode: 0o700 });
  const rootPath = join(dir, 'root', '1.root.json');
  writeFileSync(rootPath, serialize(meta), { flag: 'wx' });
  return {
    keyIds: Object.fromEntries(TUF_ROLES.map((r) => [r, made[r].map((k) => k.keyid)])) as Record<
      TufRole,
      string[]
    >,
    root: rootPath,
  };
}

export interface RotateOptions {
  rootKeys?: number;
  rootThreshold?: number;
  rootExpirySeconds?: number;
  now?: Date;
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
  const oldSigners = oldRole.keyIDs.map((id) => keys.get(id)).filter((k): k is TufKeyFile => k !== undefined);
  if (oldSigners.length < oldRole.threshold) {
    throw new TufError(
      `rotation needs ${oldRole.threshold} of the current root keys in ${dir}; found ${oldSigners.length}`,
      'tuf.below-threshold',
    );
  }
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
  const path = join(dir, 'root', `${version + 1}.root.json`);
  writeFileSync(path, serialize(meta), { flag: 'wx' });
  return { version: version + 1, keyIds: fresh.map((k) => k.keyid), root: path };
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

export interface WriteTufOptions {
  keysDir: string;
  /** A previous build's `tuf/metadata` dir: the new versions continue from its timestamp's. */
  previousMetadataDir?: string;
  /** Refuse when `previousMetadataDir` holds no timestamp.json (it was named explicitly: a typo must not restart at 1). */
  requirePrevious?: boolean;
  /** Lifetimes in seconds per role (root's is set when the root is made). */
  expirySeconds?: Partial<Record<Exclude<TufRole, 'root'>, number>>;
  now?: Date;
}

/** The version the previous build's metadata reached (its timestamp's), or 0. */
function previousVersion(dir: string | undefined, required: boolean): number {
  if (!dir) return 0;
  const path = join(dir, 'timestamp.json');
  try {
    lstatSync(path);
  } catch {
    if (required) throw new TufError(`the previous build has no ${path}`, 'tuf.bad-metadata');
    return 0;
  }
  const j = readJson(path, MAX_METADATA_BYTES, 'previous timestamp');
  const v = (j.signed as { version?: unknown } | undefined)?.version;
  if (!Number.isInteger(v) || (v as number) < 1)
    throw new TufError(`${path} has no valid version`, 'tuf.bad-metadata');
  return v as number;
}

/**
 * Writes the TUF repository into `<outDir>/tuf/metadata/`: every root version from the keys dir
 * (`N.root.json`, and `root.json` = the newest), `N.targets.json`, `N.snapshot.json` and
 * `timestamp.json`, signed with the online keys from the keys dir. All three versions are the
 * previous build's timestamp version + 1 (1 without one), so they only ever increase.
 */
export function writeTufRepository(
  outDir: string,
  targets: readonly TufTarget[],
  opts: WriteTufOptions,
): { version: number } {
  const keys = loadKeys(opts.keysDir);
  const { version: rootVersion, root } = latestRoot(opts.keysDir);
  const now = opts.now ?? new Date();
  if (root.signed.isExpired(now)) {
    throw new TufError(
      `root version ${rootVersion} in ${opts.keysDir} has expired; rotate it with hub keys rotate`,
      'tuf.bad-metadata',
    );
  }
  const version = previousVersion(opts.previousMetadataDir, opts.requirePrevious ?? false) + 1;
  const expiry = { ...TUF_DEFAULT_EXPIRY_SECONDS, ...opts.expirySeconds };
  const signWith = (role: Exclude<TufRole, 'root'>, meta: Metadata<Targets | Snapshot | Timestamp>) => {
    const r = root.signed.roles[role]!;
    const signers = r.keyIDs.map((id) => keys.get(id)).filter((k): k is TufKeyFile => k !== undefined);
    if (signers.length < r.threshold) {
      throw new TufError(
        `${opts.keysDir} lacks the ${role} key(s) the root names (need ${r.threshold})`,
        'tuf.no-key',
      );
    }
    for (const k of signers.slice(0, r.threshold)) meta.sign(signerFor(k), true);
    return serialize(meta);
  };
  const targetsSigned = new Targets({
    version,
    specVersion: TUF_SPEC_VERSION,
    expires: expiresIn(now, expiry.targets),
  });
  for (const t of targets) {
    targetsSigned.addTarget(new TargetFile({ path: t.path, length: t.length, hashes: { sha256: t.sha256 } }));
  }
  const targetsText = signWith('targets', new Metadata(targetsSigned));
  const snapshotText = signWith(
    'snapshot',
    new Metadata(
      new Snapshot({
        version,
        specVersion: TUF_SPEC_VERSION,
        expires: expiresIn(now, expiry.snapshot),
        meta: { 'targets.json': new MetaFile({ version }) },
      }),
    ),
  );
  const snapshotBytes = Buffer.from(snapshotText);
  const timestampText = signWith(
    'timestamp',
    new Metadata(
      new Timestamp({
        version,
        specVersion: TUF_SPEC_VERSION,
        expires: expiresIn(now, expiry.timestamp),
        snapshotMeta: new MetaFile({
          version,
          length: snapshotBytes.length,
          hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') },
        }),
      }),
    ),
  );
  const dir = join(outDir, TUF_METADATA_DIR);
  mkdirSync(dir, { recursive: true });
  for (const v of rootVersions(join(opts.keysDir, 'root'))) {
    const bytes = readBounded(
      join(opts.keysDir, 'root', `${v}.root.json`),
      MAX_METADATA_BYTES,
      'root metadata',
    );
    writeFileSync(join(dir, `${v}.root.json`), bytes);
    if (v === rootVersion) writeFileSync(join(dir, 'root.json'), bytes);
  }
  writeFileSync(join(dir, `${version}.targets.json`), targetsText);
  writeFileSync(join(dir, `${version}.snapshot.json`), snapshotBytes);
  writeFileSync(join(dir, 'timestamp.json'), timestampText);
  return { version };
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
