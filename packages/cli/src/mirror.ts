// `hub mirror`: copies a running hub's /v1 documents and every archive they name into a dir laid
// out exactly as `hub build` writes one (documents with .gz/.br, assets/plugins/, hub-bundle.json),
// so `hub serve --build <dir>`, the Node server or any static host serves the mirror unchanged.
// Incremental: documents are asked for with If-None-Match, archives already mirrored with the same
// sha256 are kept. Each archive is streamed through the domain library's download (size cap and
// sha256 in one pass). A signed hub's TUF metadata is verified from a pinned root (mirror-tuf.ts),
// copied, and every mirrored target checked against it. The new mirror is assembled in a staging
// dir and published only when everything verified: a new mirror by one rename; an existing one
// file by file, each by rename, targets first and timestamp.json last, so a reader sees the old
// consistent set or the new one. `--to s3://` publishes the same files into a bucket, same order.
import { createHash } from 'node:crypto';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { type ObjectStore, type PutResult, resolveRoute } from '@magellon/hub-api';
import { MAX_UPLOAD_ARCHIVE_BYTES } from '@magellon/hub-api/node';
import {
  ARCHIVE_SUFFIX,
  ARCHIVES_DIR,
  archiveKey,
  BUILD_DIRS,
  BUNDLE_MANIFEST,
  type BundleManifest,
  bundleManifestSchema,
  CATEGORIES_DOCUMENT,
  categoriesDocumentReadSchema,
  categoryDocumentPath,
  DOCUMENT_DIRS,
  ENCODING_SUFFIX,
  INDEX_DOCUMENT,
  indexDocumentReadSchema,
  OPENAPI_DOCUMENT,
  pluginDocumentPath,
  pluginDocumentReadSchema,
  serializeDocument,
  TUF_METADATA_DIR,
} from '@magellon/hub-core';
import {
  bundleFiles,
  DownloadError,
  downloadArchive,
  isInside,
  prepareBundle,
} from '@magellon/hub-core/node';
import { request } from 'undici';
import {
  copyTufState,
  MAX_MIRROR_METADATA_BYTES,
  MIRROR_TUF_STATE,
  MirrorError,
  originFirstRoot,
  originIsSigned,
  seedRoot,
  type TufMirror,
  verifyOrigin,
} from './mirror-tuf';

export { MirrorError };

/** Where a mirror records its origin and each document's origin ETag (for If-None-Match). */
export const MIRROR_STATE = '.hub-mirror.json';

/** The largest document a mirror accepts from a hub (a 10,000-plugin index is ~30 MB). */
export const MAX_MIRROR_DOCUMENT_BYTES = 64 * 1024 * 1024;

const SHA256 = /^[0-9a-f]{64}$/;
const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface MirrorOptions {
  /** The hub's base URL (http or https). */
  from: string;
  /** The mirror dir (or, with `store`, how to name the bucket in messages). */
  to: string;
  /** Mirror into this object store (`--to s3://…`) instead of a dir. */
  store?: ObjectStore;
  /** The root metadata the operator trusts (`--root`); without it a first run trusts the origin's 1.root.json. */
  root?: Buffer;
  /** Loud lines for the operator (trust on first use). */
  onWarning?: (line: string) => void;
  /** No answer (or no byte) for this long fails the request. */
  idleTimeoutMs?: number;
  onProgress?: (line: string) => void;
}

export interface Refusal {
  /** The plugin document that names the archive (or the document itself). */
  document: string;
  /** The archive URL as the document gives it. */
  url: string;
  reason: string;
}

export interface MirrorSummary {
  documents: { fetched: number; kept: number };
  archives: { fetched: number; kept: number; bytes: number };
  refused: Refusal[];
  /** Whether the mirror dir was replaced (false when anything was refused: it stays as it was). */
  updated: boolean;
  /** For a signed hub: the timestamp version mirrored, and whether the root was trusted on first use. */
  signed?: { version: number; firstUse: boolean };
  /** For a bucket: objects sent and objects already there. */
  objects?: { sent: number; unchanged: number };
}

interface State {
  from: string;
  documents: Record<string, { origin_etag: string }>;
  /** The tuf/metadata/ files of this mirror's current set (the next run keeps them one more round). */
  tuf_files?: string[];
}

/** An archive the mirror will hold: its key under the mirror, where to get it, what it must be. */
interface WantedArchive {
  key: string;
  source: string;
  sha256: string;
  size: number;
  document: string;
  url: string;
}

/** The hub's base URL with one final slash, or a MirrorError when it is not http(s). */
export function hubBase(from: string): URL {
  let url: URL;
  try {
    url = new URL(from);
  } catch {
    throw new MirrorError(`--from ${from} is not a URL`, 'mirror.bad-target');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new MirrorError(`--from ${from} must be an http(s) URL`, 'mirror.bad-target');
  if (url.username || url.password)
    throw new MirrorError('--from must not carry a user name or password', 'mirror.bad-target');
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/**
 * Where a document's archive URL lands in the mirror, or why it is refused. The URL is data: it is
 * resolved against the hub, must be http(s), and must not use dot segments, escapes or backslashes
 * (a path that could climb out of assets/plugins/); the file name must be one the servers serve.
 */
export function archiveTarget(
  raw: string,
  base: URL,
): { ok: true; key: string; source: string; file: string } | { ok: false; reason: string } {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048)
    return { ok: false, reason: 'the archive URL is empty or too long' };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\\%\s\u0000-\u001f\u007f]/.test(raw))
    return { ok: false, reason: 'the archive URL holds a backslash, an escape or a control character' };
  const path = raw.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').replace(/[?#].*$/, '');
  if (path.split('/').some((segment) => segment === '..' || segment === '.'))
    return { ok: false, reason: 'the archive URL has a dot segment and would write outside the mirror' };
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return { ok: false, reason: 'the archive URL is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, reason: `the archive URL's scheme ${url.protocol} is not http(s)` };
  const file = url.pathname.split('/').pop() ?? '';
  const route = resolveRoute(`/${archiveKey(file)}`);
  if (route.kind !== 'archive' || !file.endsWith(ARCHIVE_SUFFIX))
    return { ok: false, reason: 'the archive URL does not end in a plain <name>.mpn file name' };
  return { ok: true, key: route.key, source: url.toString(), file };
}

/** A bounded GET of one document with If-None-Match; undefined for a 304. */
async function fetchDocument(
  url: URL,
  etag: string | undefined,
  idleMs: number,
): Promise<{ bytes: Buffer; etag?: string } | undefined> {
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: 'GET',
      headers: { 'accept-encoding': 'identity', ...(etag ? { 'if-none-match': etag } : {}) },
      headersTimeout: idleMs,
      bodyTimeout: idleMs,
    });
  } catch (err) {
    throw new MirrorError(
      `could not fetch ${url}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      'mirror.fetch-failed',
    );
  }
  if (res.statusCode === 304 && etag) {
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
    if (size > MAX_MIRROR_DOCUMENT_BYTES) {
      res.body.destroy();
      throw new MirrorError(
        `${url} is over the limit of ${MAX_MIRROR_DOCUMENT_BYTES} bytes for a document`,
        'mirror.bad-document',
      );
    }
    chunks.push(chunk as Buffer);
  }
  const got = res.headers.etag;
  return {
    bytes: Buffer.concat(chunks),
    etag: typeof got === 'string' && !got.startsWith('W/') && got.length <= 200 ? got : undefined,
  };
}

/**
 * Whether `rel` under `dir` really is there: no symbolic link on the way (a folder of the previous
 * mirror replaced by a link) takes it outside the mirror.
 */
function staysInside(dir: string, rel: string): boolean {
  return isInside(realpathSync(dir), realpathSync(join(dir, rel)));
}

/** A regular file of at most `max` bytes under `dir` (its real path inside it), or undefined. */
function readRegular(dir: string, rel: string, max: number): Buffer | undefined {
  try {
    const st = lstatSync(join(dir, rel));
    if (!st.isFile() || st.size > max || !staysInside(dir, rel)) return undefined;
    return readFileSync(join(dir, rel));
  } catch {
    return undefined;
  }
}

/**
 * What the existing mirror holds: its state, its manifest, and an archive's file if it matches.
 * For a bucket, `dir` holds the state and manifest read from it, and `remoteHas` says whether the
 * bucket already holds an archive with that sha256 and size (then it is kept there).
 */
function previousMirror(
  dir: string,
  remoteHas?: (key: string, sha256: string, size: number) => Promise<boolean>,
) {
  const stateBytes = readRegular(dir, MIRROR_STATE, 16 * 1024 * 1024);
  const manifestBytes = readRegular(dir, BUNDLE_MANIFEST, 256 * 1024 * 1024);
  let state: State | undefined;
  let manifest: BundleManifest | undefined;
  try {
    if (stateBytes && manifestBytes) {
      state = JSON.parse(stateBytes.toString('utf8')) as State;
      manifest = bundleManifestSchema.parse(JSON.parse(manifestBytes.toString('utf8')));
    }
  } catch {
    state = undefined;
    manifest = undefined;
  }
  return {
    state,
    /**
     * The mirror's file for `key` when the manifest records exactly this sha256 and size for it;
     * 'remote' when the bucket holds it.
     */
    async archive(key: string, sha256: string, size: number): Promise<string | undefined> {
      const had = manifest && Object.hasOwn(manifest.archives, key) ? manifest.archives[key] : undefined;
      if (!had || had.sha256 !== sha256 || had.size !== size) return undefined;
      if (remoteHas) return (await remoteHas(key, sha256, size)) ? 'remote' : undefined;
      try {
        const st = lstatSync(join(dir, key));
        return st.isFile() && st.size === size && staysInside(dir, key) ? join(dir, key) : undefined;
      } catch {
        return undefined;
      }
    },
    document(path: string): Buffer | undefined {
      if (!manifest || !Object.hasOwn(manifest.documents, path)) return undefined;
      return readRegular(dir, path, MAX_MIRROR_DOCUMENT_BYTES);
    },
  };
}

/** Refuses a target that exists and is neither empty nor a mirror this command made. */
function checkTarget(out: string, to: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(out);
  } catch {
    return;
  }
  if (!st.isDirectory())
    throw new MirrorError(`refusing to mirror into ${to}: it is not a directory`, 'mirror.bad-target');
  if (readdirSync(out).length > 0 && !existsSync(join(out, MIRROR_STATE)))
    throw new MirrorError(
      `refusing to mirror into ${to}: it is not empty and was not made by hub mirror`,
      'mirror.bad-target',
    );
}

/**
 * Points every archive URL of a parsed document at the mirror (`/assets/plugins/<file>`), collecting
 * the archives it names; a URL that cannot be mirrored is a refusal. Works on index.json's versions
 * (flat `url`) and plugin documents' versions (nested `archive` and the flat copy).
 */
function rewriteVersions(
  docPath: string,
  versions: unknown,
  base: URL,
  wanted: Map<string, WantedArchive>,
  refused: Refusal[],
): void {
  if (!Array.isArray(versions)) return;
  for (const v of versions as Record<string, unknown>[]) {
    const nested = v.archive as Record<string, unknown> | undefined;
    const url = String(nested?.url ?? v.url ?? '');
    const sha256 = String(nested?.sha256 ?? v.sha256 ?? '');
    const size = Number(nested?.size_bytes ?? v.size_bytes);
    const target = archiveTarget(url, base);
    if (!target.ok) {
      refused.push({ document: docPath, url, reason: target.reason });
      continue;
    }
    if (!SHA256.test(sha256) || !Number.isInteger(size) || size <= 0 || size > MAX_UPLOAD_ARCHIVE_BYTES) {
      refused.push({ document: docPath, url, reason: 'the document gives no valid sha256 and size for it' });
      continue;
    }
    const local = `/${target.key}`;
    if (nested) nested.url = local;
    if ('url' in v) v.url = local;
    const seen = wanted.get(target.key);
    if (seen && (seen.sha256 !== sha256 || seen.size !== size)) {
      refused.push({
        document: docPath,
        url,
        reason: `${target.file} is also named by ${seen.document} with another sha256 or size`,
      });
      continue;
    }
    if (!seen)
      wanted.set(target.key, {
        key: target.key,
        source: target.source,
        sha256,
        size,
        document: docPath,
        url,
      });
  }
}

/** A bucket key for a mirror file: the dot of the mirror's own state files dropped (keys start with a letter or digit). */
export const storeKey = (rel: string): string => (rel.startsWith('.') ? rel.slice(1) : rel);

/** A bounded read of an object's body. */
async function readObject(store: ObjectStore, key: string, max: number): Promise<Buffer | undefined> {
  const got = await store.get(key);
  if (!got) return undefined;
  if (got.size > max)
    throw new MirrorError(`${store.description}: ${key} is over ${max} bytes`, 'mirror.bad-target');
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = got.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      throw new MirrorError(`${store.description}: ${key} is over ${max} bytes`, 'mirror.bad-target');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The previous bucket mirror's state, manifest and TUF state, copied into `dir`. */
async function pullState(store: ObjectStore, dir: string): Promise<void> {
  mkdirSync(join(dir, MIRROR_TUF_STATE), { recursive: true });
  for (const rel of [MIRROR_STATE, BUNDLE_MANIFEST]) {
    const bytes = await readObject(store, storeKey(rel), 256 * 1024 * 1024);
    if (bytes) writeFileSync(join(dir, rel), bytes);
  }
  const prefix = `${storeKey(MIRROR_TUF_STATE)}/`;
  for (const o of await store.list(prefix)) {
    const name = o.key.slice(prefix.length);
    if (!/^[a-z][a-z0-9-]{0,127}\.json$/.test(name)) continue;
    const bytes = await readObject(store, o.key, MAX_MIRROR_METADATA_BYTES);
    if (bytes) writeFileSync(join(dir, MIRROR_TUF_STATE, name), bytes);
  }
}

/** Every file under `dir` (relative, `/`-separated), links included, folders not. */
function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((n) => n.split('\\').join('/'))
      .filter((n) => {
        const st = lstatSync(join(dir, n));
        return !st.isDirectory();
      });
  } catch {
    return [];
  }
}

const CONTENT_TYPE = (rel: string): string =>
  rel.endsWith(ARCHIVE_SUFFIX)
    ? 'application/zip'
    : rel.endsWith(ENCODING_SUFFIX.gzip)
      ? 'application/gzip'
      : rel.endsWith(ENCODING_SUFFIX.br)
        ? 'application/x-brotli'
        : 'application/json; charset=utf-8';

/** What the existing mirror holds (see previousMirror). */
type PreviousMirror = ReturnType<typeof previousMirror>;

/** One run's parts its steps share: the hub, the previous mirror, the staging dir, what is built. */
interface MirrorRun {
  opts: MirrorOptions;
  base: URL;
  idle: number;
  say: (line: string) => void;
  previous: PreviousMirror;
  /** Whether the previous mirror was made from this hub (then its ETags are asked with). */
  sameOrigin: boolean;
  prevDir: string;
  staging: string;
  summary: MirrorSummary;
  state: State;
  /** For a signed hub: its verified metadata. */
  tuf?: TufMirror;
}

/** The documents a run mirrors, rewritten, and the archives they name. */
interface MirroredDocuments {
  generatedAt: string;
  /** Each document's path and its serialized, rewritten text. */
  documents: Map<string, string>;
  /** The plugin documents' paths, in index order. */
  pluginDocs: string[];
  wanted: Map<string, WantedArchive>;
}

/** The archives staged: the manifest's entries, and the keys downloaded this run. */
interface StagedArchives {
  archives: BundleManifest['archives'];
  fetched: string[];
}

/**
 * Mirrors the hub at `opts.from` into `opts.to` (or `opts.store`). Throws MirrorError when the hub
 * or the target cannot be used, or the hub's signed metadata is refused (rollback, freeze, not
 * signed by the trusted root); refusals of single archives or documents are returned in the
 * summary. Either way the mirror is left exactly as it was.
 */
export async function mirrorHub(opts: MirrorOptions): Promise<MirrorSummary> {
  const base = hubBase(opts.from);
  const remote = opts.store;
  const out = remote ? undefined : resolve(opts.to);
  if (out) checkTarget(out, opts.to);
  const work = remote ? mkdtempSync(join(tmpdir(), 'hub-mirror-')) : undefined;
  const prevDir = work ? join(work, 'previous') : (out as string);
  const staging = work
    ? join(work, 'staging')
    : join(dirname(out as string), `.${basename(out as string)}.mirroring-${process.pid}`);
  try {
    const run = await startRun(opts, base, prevDir, staging);
    run.tuf = await verifySignedOrigin(run);
    const docs = await mirrorDocuments(run);
    await checkSignedDocuments(run, docs);
    const staged = await stageArchives(run, docs.wanted);
    if (run.summary.refused.length > 0) return run.summary;
    const plan = await stageBundle(run, docs, staged);
    if (remote) {
      run.summary.objects = await publishToStore(staging, remote, plan, staged.fetched, run.say);
    } else if (!existsSync(out as string)) {
      renameSync(staging, out as string);
    } else {
      publishInPlace(staging, out as string, plan, run.previous.state?.tuf_files ?? []);
    }
    run.summary.updated = true;
    return run.summary;
  } catch (err) {
    if (err instanceof MirrorError) throw err;
    throw new MirrorError(
      `could not write the mirror ${opts.to}: ${(err as Error).message}`,
      'mirror.write-failed',
    );
  } finally {
    rmSync(work ?? staging, { recursive: true, force: true });
  }
}

/** Reads the previous mirror (a bucket's state pulled into `prevDir` first) and makes an empty staging dir. */
async function startRun(
  opts: MirrorOptions,
  base: URL,
  prevDir: string,
  staging: string,
): Promise<MirrorRun> {
  const remote = opts.store;
  if (remote) {
    try {
      await pullState(remote, prevDir);
    } catch (err) {
      if (err instanceof MirrorError) throw err;
      throw new MirrorError(
        `could not read ${remote.description}: ${(err as Error).message}`,
        'mirror.write-failed',
      );
    }
  }
  const previous = previousMirror(
    prevDir,
    remote
      ? async (key, sha256, size) => {
          const o = await remote.head(key);
          return o?.sha256 === sha256 && o.size === size;
        }
      : undefined,
  );
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(dirname(staging), { recursive: true });
  for (const d of ['', ...BUILD_DIRS]) mkdirSync(join(staging, d));
  return {
    opts,
    base,
    idle: opts.idleTimeoutMs ?? 30_000,
    say: opts.onProgress ?? (() => {}),
    previous,
    sameOrigin: previous.state?.from === base.toString(),
    prevDir,
    staging,
    summary: {
      documents: { fetched: 0, kept: 0 },
      archives: { fetched: 0, kept: 0, bytes: 0 },
      refused: [],
      updated: false,
    },
    state: { from: base.toString(), documents: {} },
  };
}

/**
 * A signed hub: its metadata verified (from --root, the mirror's own state, or the origin's first
 * root on first use) before anything else is fetched. Undefined for an unsigned hub, which is
 * refused when the mirror held a signed one or --root was given.
 */
async function verifySignedOrigin(run: MirrorRun): Promise<TufMirror | undefined> {
  const { base, idle, opts } = run;
  const prevTuf = join(run.prevDir, MIRROR_TUF_STATE);
  const hadTuf = existsSync(join(prevTuf, 'root.json'));
  if (!(await originIsSigned(base, idle))) {
    if (hadTuf || opts.root)
      throw new MirrorError(
        `${base} serves no signed metadata (tuf/metadata/timestamp.json), but ${hadTuf ? 'this mirror holds a signed hub' : '--root was given'}; refusing an unsigned copy`,
        'mirror.untrusted',
      );
    return undefined;
  }
  const stateDir = join(run.staging, MIRROR_TUF_STATE);
  copyTufState(prevTuf, stateDir);
  let firstUse = false;
  if (opts.root) seedRoot(stateDir, opts.root);
  else if (!hadTuf) {
    firstUse = true;
    opts.onWarning?.(
      `trusting ${base}tuf/metadata/1.root.json on first use: no --root was given. Pass --root <file> with the hub's 1.root.json from a source you trust; later runs verify against what this run trusted.`,
    );
    seedRoot(stateDir, await originFirstRoot(base, idle));
  }
  run.say('verifying the signed metadata');
  const tuf = await verifyOrigin(base, stateDir, idle);
  run.summary.signed = { version: tuf.version, firstUse };
  return tuf;
}

/** One document's bytes: fetched, or the mirror's own copy when the hub answers 304. */
async function getDocument(run: MirrorRun, path: string): Promise<Buffer> {
  run.say(`fetching ${path}`);
  const known = run.sameOrigin ? run.previous.state?.documents?.[path]?.origin_etag : undefined;
  const had = known ? run.previous.document(path) : undefined;
  const got = await fetchDocument(new URL(path, run.base), had ? known : undefined, run.idle);
  if (!got) {
    run.summary.documents.kept++;
    run.state.documents[path] = { origin_etag: known as string };
    return had as Buffer;
  }
  run.summary.documents.fetched++;
  if (got.etag) run.state.documents[path] = { origin_etag: got.etag };
  return got.bytes;
}

/** A document's bytes as JSON, or a MirrorError naming it. */
function parseDocument(path: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new MirrorError(
      `${path} from the hub is not JSON (${(err as Error).message})`,
      'mirror.bad-document',
    );
  }
}

/** A parsed document checked against the schema of its kind, or a MirrorError naming it. */
function checkDocument<T>(
  path: string,
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  v: unknown,
): T {
  const r = schema.safeParse(v);
  if (!r.success)
    throw new MirrorError(`${path} from the hub is not a /v1 document of its kind`, 'mirror.bad-document');
  return r.data as T;
}

/**
 * Fetches index.json, categories.json, openapi.json, every plugin document and every category
 * document, checks them, and points their archive URLs at the mirror.
 */
async function mirrorDocuments(run: MirrorRun): Promise<MirroredDocuments> {
  const wanted = new Map<string, WantedArchive>();
  const documents = new Map<string, string>();
  const indexRaw = parseDocument(INDEX_DOCUMENT, await getDocument(run, INDEX_DOCUMENT));
  const index = checkDocument(INDEX_DOCUMENT, indexDocumentReadSchema, indexRaw);
  const categoriesRaw = parseDocument(CATEGORIES_DOCUMENT, await getDocument(run, CATEGORIES_DOCUMENT));
  const categories = checkDocument(CATEGORIES_DOCUMENT, categoriesDocumentReadSchema, categoriesRaw);
  documents.set(
    OPENAPI_DOCUMENT,
    serializeDocument(parseDocument(OPENAPI_DOCUMENT, await getDocument(run, OPENAPI_DOCUMENT))),
  );
  documents.set(CATEGORIES_DOCUMENT, serializeDocument(categoriesRaw));
  const pluginDocs: string[] = [];
  for (const plugin of index.plugins)
    pluginDocs.push(await mirrorPluginDocument(run, plugin.plugin_id, wanted, documents));
  // After the plugin documents, so a refusal names the document CoreService reads.
  for (const p of (indexRaw as { plugins: { versions?: unknown }[] }).plugins)
    rewriteVersions(INDEX_DOCUMENT, p.versions, run.base, wanted, run.summary.refused);
  documents.set(INDEX_DOCUMENT, serializeDocument(indexRaw));
  for (const c of categories.categories) {
    const route = resolveRoute(`/${categoryDocumentPath(c.category)}`);
    if (route.kind !== 'document')
      throw new MirrorError(`${CATEGORIES_DOCUMENT} names a category that is no slug`, 'mirror.bad-document');
    documents.set(
      route.path,
      serializeDocument(parseDocument(route.path, await getDocument(run, route.path))),
    );
  }
  return { generatedAt: index.generated_at, documents, pluginDocs, wanted };
}

/** One plugin's document, checked and rewritten into `documents`, its archives added to `wanted`; its path. */
async function mirrorPluginDocument(
  run: MirrorRun,
  id: string,
  wanted: Map<string, WantedArchive>,
  documents: Map<string, string>,
): Promise<string> {
  const route = resolveRoute(`/${pluginDocumentPath(id)}`);
  if (route.kind !== 'document')
    throw new MirrorError(`${INDEX_DOCUMENT} names a plugin id that is no slug`, 'mirror.bad-document');
  const raw = parseDocument(route.path, await getDocument(run, route.path));
  const doc = checkDocument(route.path, pluginDocumentReadSchema, raw);
  if (doc.plugin_id !== id)
    throw new MirrorError(`${route.path} from the hub describes another plugin`, 'mirror.bad-document');
  rewriteVersions(route.path, (raw as { versions: unknown }).versions, run.base, wanted, run.summary.refused);
  documents.set(route.path, serializeDocument(raw));
  return route.path;
}

/** Why a target the mirror writes is not the one the hub signed, or undefined when it is. */
async function signedMismatch(
  tuf: TufMirror,
  path: string,
  length: number,
  sha256: string,
): Promise<string | undefined> {
  const info = await tuf.target(path);
  if (!info) return 'it is not a target the hub signed';
  if (info.length !== length || info.sha256 !== sha256)
    return `it does not match the hub's signed target (signed: ${info.length} bytes, sha256 ${info.sha256}; got: ${length} bytes, sha256 ${sha256})`;
  return undefined;
}

/** A signed hub: every plugin document the mirror writes must be the one the hub signed. */
async function checkSignedDocuments(run: MirrorRun, docs: MirroredDocuments): Promise<void> {
  if (!run.tuf) return;
  for (const path of docs.pluginDocs) {
    const bytes = Buffer.from(docs.documents.get(path) as string, 'utf8');
    const why = await signedMismatch(run.tuf, path, bytes.length, sha256Hex(bytes));
    if (why) run.summary.refused.push({ document: path, url: path, reason: why });
  }
}

/** Puts every wanted archive into staging: the previous mirror's file when it matches, else downloaded. */
async function stageArchives(run: MirrorRun, wanted: Map<string, WantedArchive>): Promise<StagedArchives> {
  const staged: StagedArchives = { archives: {}, fetched: [] };
  let done = 0;
  for (const a of wanted.values()) {
    done++;
    const how = await stageArchive(run, a, `${done}/${wanted.size}`);
    if (how === 'refused') continue;
    staged.archives[a.key] = { sha256: a.sha256, size: a.size };
    if (how === 'fetched') staged.fetched.push(a.key);
  }
  return staged;
}

/** One archive into staging (counted in the summary), or a refusal recorded; `step` is its place in the run. */
async function stageArchive(
  run: MirrorRun,
  a: WantedArchive,
  step: string,
): Promise<'kept' | 'fetched' | 'refused'> {
  const { summary } = run;
  if (run.tuf) {
    const why = await signedMismatch(run.tuf, a.key, a.size, a.sha256);
    if (why) {
      summary.refused.push({ document: a.document, url: a.url, reason: why });
      return 'refused';
    }
  }
  const dest = join(run.staging, a.key);
  const kept = await run.previous.archive(a.key, a.sha256, a.size);
  if (kept) {
    if (kept !== 'remote') {
      try {
        linkSync(kept, dest);
      } catch {
        writeFileSync(dest, readFileSync(kept));
      }
    }
    summary.archives.kept++;
    return 'kept';
  }
  try {
    await downloadArchive(a.source, dest, {
      sha256: a.sha256,
      sizeBytes: a.size,
      idleTimeoutMs: run.idle,
      onProgress: (bytes, total) =>
        run.say(`archive ${step} ${basename(a.key)} ${Math.round((bytes * 100) / total)}%`),
    });
  } catch (err) {
    if (!(err instanceof DownloadError)) throw err;
    summary.refused.push({ document: a.document, url: a.url, reason: err.message });
    return 'refused';
  }
  summary.archives.fetched++;
  summary.archives.bytes += a.size;
  return 'fetched';
}

/**
 * Writes the rest of the new mirror into staging (documents with .gz/.br, hub-bundle.json, the
 * signed metadata, the mirror's state) and returns the order it is published in.
 */
async function stageBundle(
  run: MirrorRun,
  docs: MirroredDocuments,
  staged: StagedArchives,
): Promise<string[]> {
  const { staging, state, tuf } = run;
  const bundle = await prepareBundle(docs.documents, staged.archives, docs.generatedAt);
  const files = bundleFiles(bundle);
  const plan: string[] = [...staged.fetched];
  for (const [path, bytes] of files) {
    if (path === BUNDLE_MANIFEST) continue;
    writeFileSync(join(staging, path), bytes);
    plan.push(path);
  }
  writeFileSync(join(staging, BUNDLE_MANIFEST), files.get(BUNDLE_MANIFEST) as Buffer);
  plan.push(BUNDLE_MANIFEST);
  if (tuf) {
    const meta = await tuf.files();
    mkdirSync(join(staging, TUF_METADATA_DIR), { recursive: true });
    state.tuf_files = meta.map(([name]) => name);
    // Versioned files first, then root.json, timestamp.json last (the order files() gives).
    for (const [name, bytes] of meta) {
      writeFileSync(join(staging, TUF_METADATA_DIR, name), bytes);
      plan.push(`${TUF_METADATA_DIR}/${name}`);
    }
    for (const name of readdirSync(join(staging, MIRROR_TUF_STATE)).sort())
      plan.push(`${MIRROR_TUF_STATE}/${name}`);
  }
  writeFileSync(join(staging, MIRROR_STATE), `${JSON.stringify(state, null, 2)}\n`);
  plan.push(MIRROR_STATE);
  return plan;
}

/**
 * Moves the staged mirror over the existing one, file by file in `plan` order, each by rename (one
 * file system: staging is beside the mirror): new archives, documents, hub-bundle.json, versioned
 * TUF metadata, root.json, timestamp.json, then the mirror's own state. Then removes what the new
 * mirror no longer holds, except the previous set's TUF metadata (a client that read the old
 * timestamp a moment ago still finds the files it names).
 */
function publishInPlace(staging: string, out: string, plan: string[], previousTuf: string[]): void {
  for (const rel of plan) {
    mkdirSync(dirname(join(out, rel)), { recursive: true });
    renameSync(join(staging, rel), join(out, rel));
  }
  const keep = new Set([...listFiles(staging), ...plan]);
  for (const name of previousTuf) keep.add(`${TUF_METADATA_DIR}/${name}`);
  for (const area of [DOCUMENT_DIRS[0], ARCHIVES_DIR, TUF_METADATA_DIR, MIRROR_TUF_STATE]) {
    for (const rel of listFiles(join(out, area))) {
      const path = `${area}/${rel}`;
      if (!keep.has(path)) rmSync(join(out, path), { force: true });
    }
  }
}

/**
 * Puts the staged mirror into a bucket in `plan` order (the same order as on disk); an object whose
 * sha256 and size the bucket already holds is not sent again. Archives are immutable there.
 */
async function publishToStore(
  staging: string,
  store: ObjectStore,
  plan: string[],
  archives: string[],
  say: (line: string) => void,
): Promise<{ sent: number; unchanged: number }> {
  const counts = { sent: 0, unchanged: 0 };
  const immutable = new Set(archives);
  let done = 0;
  for (const rel of plan) {
    const bytes = readFileSync(join(staging, rel));
    let result: PutResult;
    try {
      result = await store.put(storeKey(rel), bytes, {
        sha256: sha256Hex(bytes),
        contentType: CONTENT_TYPE(rel),
        immutable: immutable.has(rel),
      });
    } catch (err) {
      throw new MirrorError(
        `${store.description}: putting ${storeKey(rel)} failed (${(err as Error).message}); what was sent before it stays, run hub mirror again`,
        'mirror.write-failed',
      );
    }
    if (result === 'unchanged') counts.unchanged++;
    else counts.sent++;
    say(`uploading ${++done}/${plan.length} ${storeKey(rel)} (${result})`);
  }
  return counts;
}
