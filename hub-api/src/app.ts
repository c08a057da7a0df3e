// The /v1 hub API as one Hono app. Runtime-free: the Node server and the Cloudflare Worker both
// serve exactly this app, over a HubSource (see source.ts).
import {
  archiveEtag,
  archiveKey,
  type BundleManifest,
  bytesEtag,
  CATEGORIES_DOCUMENT,
  categoryDocumentPath,
  DOCUMENT_SCHEMA_VERSION,
  documentSubject,
  INDEX_DOCUMENT,
  type ListingPageDocument,
  type ListingQuery,
  listingQuerySchema,
  listPlugins,
  OPENAPI_DOCUMENT,
  pluginDocumentPath,
  serializeDocument,
  TUF_METADATA_DIR,
  TUF_METADATA_FILE,
} from '@magellon/hub-core';
import { Hono } from 'hono';
import {
  ARCHIVE_CACHE,
  COMMON_HEADERS,
  DOCUMENT_CACHE,
  documentReply,
  echo,
  errorReply,
  JSON_TYPE,
  MAX_URL_CHARS,
  noneMatch,
  parseRange,
  type Reply,
  TUF_MOVING_CACHE,
  toResponse,
} from './http';
import type { HubSource } from './source';
import { StoreError } from './storage/store';

export type Route =
  | { kind: 'document'; path: string }
  | { kind: 'listing' }
  | { kind: 'archive'; key: string; file: string }
  | { kind: 'tuf'; key: string; file: string }
  | { kind: 'health' }
  | { kind: 'none'; message: string };

const SLUG = /^[a-z0-9._-]{1,100}$/;
const ARCHIVE_FILE = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,199}$/;
const isSlug = (s: string) => SLUG.test(s) && s !== '.' && s !== '..';

/**
 * Maps a raw (still percent-encoded) path to what it asks for. Ids and file names are plain
 * characters, so any `%` escape, empty segment or dot segment simply names nothing: an encoded
 * slash or `..` can never reach a document or the store.
 */
export function resolveRoute(pathname: string): Route {
  switch (pathname) {
    case '/healthz':
      return { kind: 'health' };
    case `/${INDEX_DOCUMENT}`:
    case `/${CATEGORIES_DOCUMENT}`:
    case `/${OPENAPI_DOCUMENT}`:
      return { kind: 'document', path: pathname.slice(1) };
    case '/v1/categories':
    case '/v1/categories/':
      return { kind: 'document', path: CATEGORIES_DOCUMENT };
    case '/v1/plugins':
    case '/v1/plugins/':
      return { kind: 'listing' };
  }
  const plugin = /^\/v1\/plugins\/([^/]+?)(\.json)?$/.exec(pathname);
  if (plugin) {
    const id = plugin[1]!;
    return isSlug(id)
      ? { kind: 'document', path: pluginDocumentPath(id) }
      : { kind: 'none', message: `no plugin ${JSON.stringify(echo(id))}: plugin ids are lowercase slugs` };
  }
  const category = /^\/v1\/categories\/([^/]+?)(\.json)?$/.exec(pathname);
  if (category) {
    const slug = category[1]!;
    return isSlug(slug)
      ? { kind: 'document', path: categoryDocumentPath(slug) }
      : {
          kind: 'none',
          message: `no category ${JSON.stringify(echo(slug))}: categories are lowercase slugs`,
        };
  }
  const archive = /^\/assets\/plugins\/([^/]+)$/.exec(pathname);
  if (archive) {
    const file = archive[1]!;
    return ARCHIVE_FILE.test(file)
      ? { kind: 'archive', key: archiveKey(file), file }
      : { kind: 'none', message: `no archive ${JSON.stringify(echo(file))}` };
  }
  const tuf = /^\/tuf\/metadata\/([^/]+)$/.exec(pathname);
  if (tuf) {
    const file = tuf[1]!;
    return TUF_METADATA_FILE.test(file)
      ? { kind: 'tuf', key: `${TUF_METADATA_DIR}/${file}`, file }
      : { kind: 'none', message: `no TUF metadata ${JSON.stringify(echo(file))}` };
  }
  return { kind: 'none', message: `nothing at ${JSON.stringify(echo(pathname))}; see /v1/openapi.json` };
}

/** The document-not-found message for a path the manifest does not list. */
function missingDocument(path: string): string {
  const subject = documentSubject(path);
  if (subject) return `no ${subject.kind} ${JSON.stringify(subject.name)} in this hub`;
  return `no document ${path} in this hub`;
}

export interface HubAppOptions {
  /**
   * Answer archive downloads with a 302 to a presigned store URL valid this many seconds, when the
   * store can presign (s3); the bytes then never pass through the API.
   */
  presignSeconds?: number;
  /** Listing pages kept rendered (by query), most recently used first. Default 512. */
  listingCacheSize?: number;
}

const ALLOW = 'GET, HEAD, OPTIONS';

/** The answer to a request the app can give without the source, or undefined. */
export function preflight(method: string, url: string): Reply | undefined {
  if (url.length > MAX_URL_CHARS) {
    return errorReply(400, 'bad_request', `the request target is longer than ${MAX_URL_CHARS} characters`);
  }
  if (method === 'OPTIONS') {
    return {
      status: 204,
      headers: [
        ['access-control-allow-methods', ALLOW],
        ['access-control-allow-headers', 'If-None-Match, Range, If-Range, Accept-Encoding'],
        ['access-control-max-age', '86400'],
        ['allow', ALLOW],
        ...COMMON_HEADERS,
      ],
    };
  }
  if (method !== 'GET' && method !== 'HEAD') {
    return errorReply(
      405,
      'method_not_allowed',
      `${echo(method)} is not allowed; this API is read-only (GET, HEAD)`,
      [['allow', ALLOW]],
    );
  }
  return undefined;
}

const HEALTH = new TextEncoder().encode('{"status":"ok"}\n');

/** How a request reads its headers (Request.headers.get, or Node's IncomingMessage headers). */
export type HeaderLookup = (name: string) => string | null | undefined;

/** The request-to-reply function under both runtimes' adapters. */
export interface HubHandler {
  /** The answer for one request: `url` is parsed (dot segments resolved, as fetch's URL does). */
  reply(method: string, url: URL, header: HeaderLookup): Promise<Reply>;
}

/** Every answer of the API as a Reply; errors the store raises become JSON errors, never a throw. */
export function createHubHandler(source: HubSource, opts: HubAppOptions = {}): HubHandler {
  const listings = new ListingCache(opts.listingCacheSize ?? 512);
  const route = async (method: string, url: URL, header: HeaderLookup): Promise<Reply> => {
    const early = preflight(method, url.pathname + url.search);
    if (early) return early;
    const to = resolveRoute(url.pathname);
    switch (to.kind) {
      case 'health':
        return {
          status: 200,
          headers: [
            ['content-type', JSON_TYPE],
            ['content-length', String(HEALTH.length)],
            ['cache-control', 'no-store'],
            ...COMMON_HEADERS,
          ],
          body: method === 'HEAD' ? undefined : HEALTH,
        };
      case 'none':
        return errorReply(404, 'not_found', to.message);
      case 'document': {
        if (url.search !== '')
          return errorReply(400, 'bad_request', 'this document takes no query parameters');
        const manifest = await source.manifest();
        const doc = manifest.documents[to.path];
        if (!doc) return errorReply(404, 'not_found', missingDocument(to.path));
        const { reply, encoding, withBody } = documentReply(
          doc,
          method,
          header('accept-encoding'),
          header('if-none-match'),
        );
        if (withBody) {
          const body = await source.document(to.path, encoding);
          if (!body) return errorReply(503, 'unavailable', `${to.path} is listed but could not be read`);
          reply.body = body;
        }
        return reply;
      }
      case 'listing':
        return listingReply(url, method, header, source, listings);
      case 'archive':
        return archiveReply(to, method, header, await source.manifest(), source, opts);
      case 'tuf':
        return tufReply(to, method, source);
    }
  };
  return {
    reply: async (method, url, header) => {
      try {
        return await route(method, url, header);
      } catch (err) {
        if (err instanceof StoreError) {
          const status = err.code === 'bad-key' ? 404 : 503;
          return errorReply(
            status,
            status === 404 ? 'not_found' : 'unavailable',
            `the hub's store failed: ${err.message}`,
          );
        }
        console.error('hub api: internal error', err);
        return errorReply(500, 'internal', 'internal error; the hub logged it');
      }
    },
  };
}

/** The whole API: one Hono app over `source` (what the Worker runs; the Node server shares its handler). */
export function createHubApp(source: HubSource, opts: HubAppOptions = {}): Hono {
  const handler = createHubHandler(source, opts);
  const app = new Hono();
  app.all('*', async (c) => {
    const req = c.req.raw;
    return toResponse(await handler.reply(req.method, new URL(req.url), (name) => req.headers.get(name)));
  });
  return app;
}

/** A rendered listing page: its bytes, ETag and Link header. */
interface RenderedListing {
  body: Uint8Array;
  etag: string;
  link: string;
}

/** Most-recently-used listing pages by canonical query, for one bundle (a new index clears it). */
class ListingCache {
  private readonly pages = new Map<string, RenderedListing>();
  private bundle = '';
  constructor(private readonly size: number) {}
  get(bundle: string, key: string): RenderedListing | undefined {
    if (bundle !== this.bundle) {
      this.pages.clear();
      this.bundle = bundle;
      return undefined;
    }
    const hit = this.pages.get(key);
    if (hit) {
      this.pages.delete(key);
      this.pages.set(key, hit);
    }
    return hit;
  }
  set(key: string, page: RenderedListing): void {
    this.pages.set(key, page);
    if (this.pages.size > this.size) this.pages.delete(this.pages.keys().next().value as string);
  }
}

const LISTING_PARAMETERS: ReadonlySet<string> = new Set(Object.keys(listingQuerySchema.shape));

function unknownParameters(keys: readonly string[]): string {
  const names = [...new Set(keys)].map((k) => JSON.stringify(echo(k))).join(', ');
  return `unknown parameter ${names}; the listing takes ${[...LISTING_PARAMETERS].join(', ')}`;
}

/** Reads the listing query: every parameter at most once, no unknown ones, values per listingQuerySchema. */
export function parseListingQuery(
  params: URLSearchParams,
): { ok: true; query: ListingQuery } | { ok: false; message: string } {
  // A Map, never a plain object: "__proto__", "constructor" or "toString" are unknown parameters
  // like any other, not prototype members.
  const raw = new Map<string, string>();
  const unknown: string[] = [];
  for (const [key, value] of params) {
    if (!LISTING_PARAMETERS.has(key)) unknown.push(key);
    else if (raw.has(key))
      return { ok: false, message: `parameter ${JSON.stringify(echo(key))} is given more than once` };
    else raw.set(key, value);
  }
  if (unknown.length > 0) return { ok: false, message: unknownParameters(unknown) };
  const parsed = listingQuerySchema.safeParse(Object.fromEntries(raw));
  if (parsed.success) return { ok: true, query: parsed.data };
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return { ok: false, message: unknownParameters(issue.keys) };
  const name = String(issue.path[0] ?? 'query');
  return { ok: false, message: `parameter ${name}: ${issue.message}` };
}

const QUERY_ORDER = ['category', 'tier', 'tag', 'q', 'sort', 'per_page'] as const;

/** The canonical query string of a listing (fixed order, no page), for cache keys and Link headers. */
function canonicalQuery(q: ListingQuery): URLSearchParams {
  const out = new URLSearchParams();
  for (const k of QUERY_ORDER) {
    const v = q[k];
    if (v !== undefined && v !== '') out.set(k, String(v));
  }
  return out;
}

const parsedQueries = new Map<string, ReturnType<typeof parseListingQuery>>();

async function listingReply(
  url: URL,
  method: string,
  header: HeaderLookup,
  source: HubSource,
  cache: ListingCache,
): Promise<Reply> {
  // The same query string is parsed and checked once (bounded memo), not on every request.
  let parsed = parsedQueries.get(url.search);
  if (!parsed) {
    parsed = parseListingQuery(url.searchParams);
    if (parsedQueries.size >= 1024) parsedQueries.delete(parsedQueries.keys().next().value as string);
    parsedQueries.set(url.search, parsed);
  }
  if (!parsed.ok) return errorReply(400, 'bad_request', parsed.message);
  const query = parsed.query;
  const manifest = await source.manifest();
  const base = canonicalQuery(query);
  const key = `${base.toString()}&page=${query.page ?? 1}`;
  const bundle = manifest.documents[INDEX_DOCUMENT]?.etag ?? '';
  let page = cache.get(bundle, key);
  if (!page) {
    const listed = listPlugins(await source.index(), query);
    const doc: ListingPageDocument = {
      schema_version: DOCUMENT_SCHEMA_VERSION,
      generated_at: manifest.generated_at,
      total: listed.total,
      page: listed.page,
      per_page: listed.per_page,
      pages: listed.pages,
      plugins: listed.items,
    };
    const body = new TextEncoder().encode(serializeDocument(doc));
    const link = (n: number, rel: string) => {
      const q = new URLSearchParams(base);
      q.set('page', String(n));
      return `</v1/plugins?${q.toString()}>; rel="${rel}"`;
    };
    const links = [link(1, 'first')];
    if (listed.page > 1) links.push(link(Math.min(listed.page - 1, listed.pages), 'prev'));
    if (listed.page < listed.pages) links.push(link(listed.page + 1, 'next'));
    links.push(link(listed.pages, 'last'));
    page = { body, etag: await bytesEtag(body), link: links.join(', ') };
    cache.set(key, page);
  }
  const validators: Array<[string, string]> = [
    ['etag', page.etag],
    ['cache-control', DOCUMENT_CACHE],
    ['vary', 'Accept-Encoding'],
  ];
  if (noneMatch(header('if-none-match'), [page.etag])) {
    return { status: 304, headers: [...validators, ...COMMON_HEADERS] };
  }
  return {
    status: 200,
    headers: [
      ['content-type', JSON_TYPE],
      ['content-length', String(page.body.length)],
      ...validators,
      ['link', page.link],
      ...COMMON_HEADERS,
    ],
    body: method === 'HEAD' ? undefined : page.body,
  };
}

/**
 * A TUF metadata file (`hub build --tuf-keys` wrote it under tuf/metadata/), from the metadata
 * store. Versioned files (`N.root.json`, `N.snapshot.json`, `N.targets.json`, `N.hub.json`,
 * `N.plugin-<id>.json`) never change, so
 * they are cached for good; `timestamp.json` and `root.json` are the moving entry points, cached
 * briefly so a client sees a new timestamp within a minute.
 */
async function tufReply(
  route: { key: string; file: string },
  method: string,
  source: HubSource,
): Promise<Reply> {
  const store = source.metadata ?? source.archives;
  const got = await store.get(route.key);
  if (!got) return errorReply(404, 'not_found', `no TUF metadata ${JSON.stringify(route.file)} in this hub`);
  const versioned = /^[0-9]/.test(route.file);
  const headers: Array<[string, string]> = [
    ['content-type', JSON_TYPE],
    ['content-length', String(got.size)],
    ['cache-control', versioned ? ARCHIVE_CACHE : TUF_MOVING_CACHE],
    ...COMMON_HEADERS,
  ];
  if (method === 'HEAD') {
    void got.body.cancel();
    return { status: 200, headers };
  }
  return { status: 200, headers, body: got.body };
}

async function archiveReply(
  route: { key: string; file: string },
  method: string,
  header: HeaderLookup,
  manifest: BundleManifest,
  source: HubSource,
  opts: HubAppOptions,
): Promise<Reply> {
  const info = manifest.archives[route.key];
  if (!info) return errorReply(404, 'not_found', `no archive ${JSON.stringify(route.file)} in this hub`);
  const etag = archiveEtag(info.sha256);
  const validators: Array<[string, string]> = [
    ['etag', etag],
    ['cache-control', ARCHIVE_CACHE],
  ];
  if (noneMatch(header('if-none-match'), [etag])) {
    return { status: 304, headers: [...validators, ...COMMON_HEADERS] };
  }
  if (opts.presignSeconds && source.archives.presignGet) {
    const location = await source.archives.presignGet(route.key, opts.presignSeconds);
    return {
      status: 302,
      headers: [['location', location], ['cache-control', 'no-store'], ...COMMON_HEADERS],
    };
  }
  const ifRange = header('if-range');
  const ask =
    ifRange && ifRange.trim() !== etag ? { kind: 'none' as const } : parseRange(header('range'), info.size);
  if (ask.kind === 'unsatisfiable') {
    return errorReply(
      416,
      'range_not_satisfiable',
      `the archive has ${info.size} bytes; the range asked for lies outside it`,
      [['content-range', `bytes */${info.size}`]],
    );
  }
  const range = ask.kind === 'range' ? { offset: ask.offset, length: ask.length } : undefined;
  const headers: Array<[string, string]> = [
    ['content-type', 'application/zip'],
    ['content-length', String(range ? range.length : info.size)],
    ...(range
      ? ([
          ['content-range', `bytes ${range.offset}-${range.offset + range.length - 1}/${info.size}`],
        ] as Array<[string, string]>)
      : []),
    ['accept-ranges', 'bytes'],
    ...validators,
    ['content-disposition', `attachment; filename="${route.file}"`],
    ...COMMON_HEADERS,
  ];
  const status = range ? 206 : 200;
  if (method === 'HEAD') {
    const there = await source.archives.head(route.key);
    if (!there)
      return errorReply(503, 'unavailable', `archive ${route.file} is listed but missing from the store`);
    return { status, headers };
  }
  const got = await source.archives.get(route.key, range);
  if (!got)
    return errorReply(503, 'unavailable', `archive ${route.file} is listed but missing from the store`);
  return { status, headers, body: got.body };
}
