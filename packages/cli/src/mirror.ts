// `hub mirror`: copies a running hub's /v1 documents and every archive they name into a dir laid
// out exactly as `hub build` writes one (documents with .gz/.br, assets/plugins/, hub-bundle.json),
// so `hub serve --build <dir>`, the Node server or any static host serves the mirror unchanged.
// Incremental: documents are asked for with If-None-Match, archives already mirrored with the same
// sha256 are kept. Each archive is streamed through the domain library's download (size cap and
// sha256 in one pass). The new mirror is assembled in a staging dir beside the target and swapped
// in only when every archive verified, so a mirror is never half-updated.
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { resolveRoute } from '@magellon/hub-api';
import { MAX_UPLOAD_ARCHIVE_BYTES } from '@magellon/hub-api/node';
import {
  BUNDLE_MANIFEST,
  type BundleManifest,
  bundleManifestSchema,
  categoriesDocumentReadSchema,
  indexDocumentReadSchema,
  pluginDocumentReadSchema,
  serializeDocument,
} from '@magellon/hub-core';
import {
  bundleFiles,
  DownloadError,
  downloadArchive,
  isInside,
  prepareBundle,
} from '@magellon/hub-core/node';
import { request } from 'undici';

/** Where a mirror records its origin and each document's origin ETag (for If-None-Match). */
export const MIRROR_STATE = '.hub-mirror.json';

/** The largest document a mirror accepts from a hub (a 10,000-plugin index is ~30 MB). */
export const MAX_MIRROR_DOCUMENT_BYTES = 64 * 1024 * 1024;

const SHA256 = /^[0-9a-f]{64}$/;

export class MirrorError extends Error {
  constructor(
    message: string,
    readonly code:
      | 'mirror.bad-target'
      | 'mirror.fetch-failed'
      | 'mirror.bad-document'
      | 'mirror.write-failed',
  ) {
    super(message);
    this.name = 'MirrorError';
  }
}

export interface MirrorOptions {
  /** The hub's base URL (http or https). */
  from: string;
  /** The mirror dir. */
  to: string;
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
}

interface State {
  from: string;
  documents: Record<string, { origin_etag: string }>;
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
  const route = resolveRoute(`/assets/plugins/${file}`);
  if (route.kind !== 'archive' || !file.endsWith('.mpn'))
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

/** What the existing mirror holds: its state, its manifest, and an archive's file if it matches. */
function previousMirror(out: string) {
  const stateBytes = readRegular(out, MIRROR_STATE, 16 * 1024 * 1024);
  const manifestBytes = readRegular(out, BUNDLE_MANIFEST, 256 * 1024 * 1024);
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
    /** The mirror's file for `key` when the manifest records exactly this sha256 and size for it. */
    archive(key: string, sha256: string, size: number): string | undefined {
      const had = manifest && Object.hasOwn(manifest.archives, key) ? manifest.archives[key] : undefined;
      if (!had || had.sha256 !== sha256 || had.size !== size) return undefined;
      try {
        const st = lstatSync(join(out, key));
        return st.isFile() && st.size === size && staysInside(out, key) ? join(out, key) : undefined;
      } catch {
        return undefined;
      }
    },
    document(path: string): Buffer | undefined {
      if (!manifest || !Object.hasOwn(manifest.documents, path)) return undefined;
      return readRegular(out, path, MAX_MIRROR_DOCUMENT_BYTES);
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

/**
 * Mirrors the hub at `opts.from` into `opts.to`. Throws MirrorError when the hub or the target
 * cannot be used; refusals (archives that fail their checks or cannot be placed) are returned in
 * the summary, and then the mirror dir is left exactly as it was.
 */
export async function mirrorHub(opts: MirrorOptions): Promise<MirrorSummary> {
  const base = hubBase(opts.from);
  const out = resolve(opts.to);
  const idle = opts.idleTimeoutMs ?? 30_000;
  const say = opts.onProgress ?? (() => {});
  checkTarget(out, opts.to);
  const previous = previousMirror(out);
  const sameOrigin = previous.state?.from === base.toString();
  const summary: MirrorSummary = {
    documents: { fetched: 0, kept: 0 },
    archives: { fetched: 0, kept: 0, bytes: 0 },
    refused: [],
    updated: false,
  };
  const state: State = { from: base.toString(), documents: {} };

  /** One document's bytes: fetched, or the mirror's own copy when the hub answers 304. */
  const getDocument = async (path: string): Promise<Buffer> => {
    say(`fetching ${path}`);
    const known = sameOrigin ? previous.state?.documents?.[path]?.origin_etag : undefined;
    const had = known ? previous.document(path) : undefined;
    const got = await fetchDocument(new URL(path, base), had ? known : undefined, idle);
    if (!got) {
      summary.documents.kept++;
      state.documents[path] = { origin_etag: known as string };
      return had as Buffer;
    }
    summary.documents.fetched++;
    if (got.etag) state.documents[path] = { origin_etag: got.etag };
    return got.bytes;
  };
  const parse = (path: string, bytes: Buffer): unknown => {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new MirrorError(
        `${path} from the hub is not JSON (${(err as Error).message})`,
        'mirror.bad-document',
      );
    }
  };
  const check = <T>(
    path: string,
    schema: { safeParse(v: unknown): { success: boolean; data?: T } },
    v: unknown,
  ): T => {
    const r = schema.safeParse(v);
    if (!r.success)
      throw new MirrorError(`${path} from the hub is not a /v1 document of its kind`, 'mirror.bad-document');
    return r.data as T;
  };

  const wanted = new Map<string, WantedArchive>();
  const documents = new Map<string, string>();
  const indexRaw = parse('v1/index.json', await getDocument('v1/index.json'));
  const index = check('v1/index.json', indexDocumentReadSchema, indexRaw);
  const categoriesRaw = parse('v1/categories.json', await getDocument('v1/categories.json'));
  const categories = check('v1/categories.json', categoriesDocumentReadSchema, categoriesRaw);
  documents.set(
    'v1/openapi.json',
    serializeDocument(parse('v1/openapi.json', await getDocument('v1/openapi.json'))),
  );
  documents.set('v1/categories.json', serializeDocument(categoriesRaw));
  for (const plugin of index.plugins) {
    const id = plugin.plugin_id;
    const route = resolveRoute(`/v1/plugins/${id}.json`);
    if (route.kind !== 'document')
      throw new MirrorError(`v1/index.json names a plugin id that is no slug`, 'mirror.bad-document');
    const raw = parse(route.path, await getDocument(route.path));
    const doc = check(route.path, pluginDocumentReadSchema, raw);
    if (doc.plugin_id !== id)
      throw new MirrorError(`${route.path} from the hub describes another plugin`, 'mirror.bad-document');
    rewriteVersions(route.path, (raw as { versions: unknown }).versions, base, wanted, summary.refused);
    documents.set(route.path, serializeDocument(raw));
  }
  // After the plugin documents, so a refusal names the document CoreService reads.
  for (const p of (indexRaw as { plugins: { versions?: unknown }[] }).plugins)
    rewriteVersions('v1/index.json', p.versions, base, wanted, summary.refused);
  documents.set('v1/index.json', serializeDocument(indexRaw));
  for (const c of categories.categories) {
    const route = resolveRoute(`/v1/categories/${c.category}.json`);
    if (route.kind !== 'document')
      throw new MirrorError(`v1/categories.json names a category that is no slug`, 'mirror.bad-document');
    documents.set(route.path, serializeDocument(parse(route.path, await getDocument(route.path))));
  }

  // Everything is assembled beside the target and swapped in at the end.
  const staging = join(dirname(out), `.${basename(out)}.mirroring-${process.pid}`);
  const old = join(dirname(out), `.${basename(out)}.old-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    mkdirSync(dirname(out), { recursive: true });
    for (const d of ['', 'v1', 'v1/plugins', 'v1/categories', 'assets', 'assets/plugins'])
      mkdirSync(join(staging, d));
    const archives: BundleManifest['archives'] = {};
    let done = 0;
    for (const a of wanted.values()) {
      done++;
      const dest = join(staging, a.key);
      const kept = previous.archive(a.key, a.sha256, a.size);
      if (kept) {
        try {
          linkSync(kept, dest);
        } catch {
          writeFileSync(dest, readFileSync(kept));
        }
        summary.archives.kept++;
        archives[a.key] = { sha256: a.sha256, size: a.size };
        continue;
      }
      try {
        await downloadArchive(a.source, dest, {
          sha256: a.sha256,
          sizeBytes: a.size,
          idleTimeoutMs: idle,
          onProgress: (bytes, total) =>
            say(`archive ${done}/${wanted.size} ${basename(a.key)} ${Math.round((bytes * 100) / total)}%`),
        });
      } catch (err) {
        if (!(err instanceof DownloadError)) throw err;
        summary.refused.push({ document: a.document, url: a.url, reason: err.message });
        continue;
      }
      summary.archives.fetched++;
      summary.archives.bytes += a.size;
      archives[a.key] = { sha256: a.sha256, size: a.size };
    }
    if (summary.refused.length > 0) {
      rmSync(staging, { recursive: true, force: true });
      return summary;
    }
    const bundle = await prepareBundle(documents, archives, index.generated_at);
    const files = bundleFiles(bundle);
    for (const [path, bytes] of files) {
      if (path !== BUNDLE_MANIFEST) writeFileSync(join(staging, path), bytes);
    }
    writeFileSync(join(staging, MIRROR_STATE), `${JSON.stringify(state, null, 2)}\n`);
    // The manifest last: a server only reads what it lists.
    writeFileSync(join(staging, BUNDLE_MANIFEST), files.get(BUNDLE_MANIFEST) as Buffer);
    rmSync(old, { recursive: true, force: true });
    if (existsSync(out)) renameSync(out, old);
    try {
      renameSync(staging, out);
    } catch (err) {
      if (!existsSync(out) && existsSync(old)) renameSync(old, out);
      throw err;
    }
    rmSync(old, { recursive: true, force: true });
    summary.updated = true;
    return summary;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (err instanceof MirrorError) throw err;
    throw new MirrorError(
      `could not write the mirror ${opts.to}: ${(err as Error).message}`,
      'mirror.write-failed',
    );
  }
}
