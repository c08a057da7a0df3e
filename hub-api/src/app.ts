// The /v1 hub API as one Hono app. Runtime-free: the Node server (through @hono/node-server) and
// the Cloudflare Worker both run exactly this app, over a HubSource (see source.ts).
//
// Hono routes one pattern per API shape (API_ROUTES); the rules of each answer (ETags, encodings,
// ranges, errors) are the Reply builders of http.ts, which the handlers turn into Responses.
import {
  ARCHIVES_DIR,
  archiveEtag,
  archiveKey,
  type BundleManifest,
  bytesEtag,
  CATEGORIES_DOCUMENT,
  CATEGORY_DOCUMENTS_DIR,
  categoryDocumentPath,
  DOCUMENT_SCHEMA_VERSION,
  documentSubject,
  INDEX_DOCUMENT,
  type ListingPageDocument,
  type ListingQuery,
  listingQuerySchema,
  listPlugins,
  OPENAPI_DOCUMENT,
  PLUGIN_DOCUMENTS_DIR,
  pluginDocumentPath,
  serializeDocument,
  TUF_METADATA_DIR,
  TUF_METADATA_FILE,
} from '@magellon/hub-core';
import { type Context, Hono } from 'hono';
import { cors } from 'hono/cors';
import { TrieRouter } from 'hono/router/trie-router';
import {
  ALLOW,
  ARCHIVE_CACHE,
  COMMON_HEADERS,
  CORS_ALLOW_HEADERS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE,
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

const document = (path: string): Route => ({ kind: 'document', path });
const LISTING: Route = { kind: 'listing' };
const HEALTH_ROUTE: Route = { kind: 'health' };

function pluginRoute(segment: string): Route {
  const id = /^([^/]+?)(\.json)?$/.exec(segment)![1]!;
  return isSlug(id)
    ? document(pluginDocumentPath(id))
    : { kind: 'none', message: `no plugin ${JSON.stringify(echo(id))}: plugin ids are lowercase slugs` };
}

function categoryRoute(segment: string): Route {
  const slug = /^([^/]+?)(\.json)?$/.exec(segment)![1]!;
  return isSlug(slug)
    ? document(categoryDocumentPath(slug))
    : { kind: 'none', message: `no category ${JSON.stringify(echo(slug))}: categories are lowercase slugs` };
}

/**
 * Every shape the API answers: a Hono path pattern (matched against the raw, still percent-encoded
 * path) and what a path of that shape asks for, from its last segment. The app registers exactly
 * these; resolveRoute matches the same table. Ids and file names are plain characters, so any `%`
 * escape or dot segment in a segment names nothing: an encoded slash or `..` never reaches a
 * document or the store.
 */
export const API_ROUTES: ReadonlyArray<{ pattern: string; route: (segment: string) => Route }> = [
  { pattern: '/healthz', route: () => HEALTH_ROUTE },
  { pattern: `/${INDEX_DOCUMENT}`, route: () => document(INDEX_DOCUMENT) },
  { pattern: `/${CATEGORIES_DOCUMENT}`, route: () => document(CATEGORIES_DOCUMENT) },
  { pattern: `/${OPENAPI_DOCUMENT}`, route: () => document(OPENAPI_DOCUMENT) },
  { pattern: `/${CATEGORY_DOCUMENTS_DIR}`, route: () => document(CATEGORIES_DOCUMENT) },
  { pattern: `/${CATEGORY_DOCUMENTS_DIR}/`, route: () => document(CATEGORIES_DOCUMENT) },
  { pattern: `/${CATEGORY_DOCUMENTS_DIR}/:slug`, route: categoryRoute },
  { pattern: `/${PLUGIN_DOCUMENTS_DIR}`, route: () => LISTING },
  { pattern: `/${PLUGIN_DOCUMENTS_DIR}/`, route: () => LISTING },
  { pattern: `/${PLUGIN_DOCUMENTS_DIR}/:id`, route: pluginRoute },
  {
    pattern: `/${ARCHIVES_DIR}/:file`,
    route: (file) =>
      ARCHIVE_FILE.test(file)
        ? { kind: 'archive', key: archiveKey(file), file }
        : { kind: 'none', message: `no archive ${JSON.stringify(echo(file))}` },
  },
  {
    pattern: `/${TUF_METADATA_DIR}/:file`,
    route: (file) =>
      TUF_METADATA_FILE.test(file)
        ? { kind: 'tuf', key: `${TUF_METADATA_DIR}/${file}`, file }
        : { kind: 'none', message: `no TUF metadata ${JSON.stringify(echo(file))}` },
  },
];

const lastSegment = (path: string) => path.slice(path.lastIndexOf('/') + 1);
const nothingAt = (pathname: string) => `nothing at ${JSON.stringify(echo(pathname))}; see /v1/openapi.json`;

type RouteOf = (segment: string) => Route;
let table: TrieRouter<RouteOf> | undefined;

/**
 * Maps a raw (still percent-encoded) path to what it asks for, with a Hono router over API_ROUTES:
 * the same answer the app's routing gives (the Node fast path and `hub mirror` use it).
 */
export function resolveRoute(pathname: string): Route {
  if (!table) {
    table = new TrieRouter<RouteOf>();
    for (const r of API_ROUTES) table.add('GET', r.pattern, r.route);
  }
  const hit = table.match('GET', pathname)[0][0];
  return hit ? hit[0](lastSegment(pathname)) : { kind: 'none', message: nothingAt(pathname) };
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

/** How a request reads its headers. */
export type HeaderLookup = (name: string) => string | null | undefined;

/** What one route handler gets: the method (HEAD stays HEAD), the query string and the headers. */
interface Ask {
  method: string;
  /** `?…` as URL.search gives it ('' for none or a bare `?`). */
  search: string;
  header: HeaderLookup;
}

/**
 * The path Hono routes on: the raw pathname of the request URL, never percent-decoded (Hono's
 * default decodes it, which would turn `%2e%2e` into `..` and `%2F` into `/`).
 */
export function rawPath(request: Request): string {
  const url = request.url;
  const start = url.indexOf('/', url.indexOf(':') + 3);
  if (start === -1) return '/';
  let end = start;
  while (end < url.length && url.charCodeAt(end) !== 63 && url.charCodeAt(end) !== 35) end++;
  return url.slice(start, end);
}

/** The query string of a request URL as URL.search gives it. */
function searchOf(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return '';
  const hash = url.indexOf('#', q);
  const search = hash === -1 ? url.slice(q) : url.slice(q, hash);
  return search === '?' ? '' : search;
}

const HEALTH = new TextEncoder().encode('{"status":"ok"}\n');

function healthReply(method: string): Reply {
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
}

/** What an error thrown while answering becomes: a store's failure is a 404 or 503, anything else a logged 500. */
export function failureReply(err: unknown): Reply {
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

/**
 * The whole API: one Hono app over `source` (what the Worker runs, and `hub serve` through
 * @hono/node-server). In order: a request target longer than MAX_URL_CHARS is a 400; hono/cors
 * answers preflights (OPTIONS); any other method but GET and HEAD is a 405 with Allow. Hono answers
 * HEAD from the GET routes with the body dropped; the handlers see `HEAD` and never read a body for
 * it (an archive's HEAD asks the store's `head`).
 *
 * hono/etag does not fit: the documents' ETags are made at build time, one per encoding, and
 * revalidation must match any of them (documentReply); hashing each response again would give
 * other ETags than the Node fast path, `hub mirror` and the TUF targets see.
 */
export function createHubApp(source: HubSource, opts: HubAppOptions = {}): Hono {
  const listings = new ListingCache(opts.listingCacheSize ?? 512);
  const app = new Hono({ getPath: rawPath });
  app.use(async (c, next) => {
    if (c.req.path.length + searchOf(c.req.url).length <= MAX_URL_CHARS) return next();
    return toResponse(
      errorReply(400, 'bad_request', `the request target is longer than ${MAX_URL_CHARS} characters`),
    );
  });
  // Preflights, whatever the path: hono/cors answers them (204). Every other answer already carries
  // the CORS headers (COMMON_HEADERS in each Reply, which the Node fast path sends too), so the
  // middleware does not wrap them again.
  app.options(
    '*',
    async (c, next) => {
      // Also Allow and nosniff, and no Vary: the answer is the same whatever
      // Access-Control-Request-Headers asks (hono/cors adds a Vary for its allowHeaders).
      c.header('allow', ALLOW);
      c.header('x-content-type-options', 'nosniff');
      await next();
      c.res.headers.delete('vary');
    },
    // Each header is given as one string (hono/cors joins list items with "," and no space).
    cors({
      origin: '*',
      allowMethods: [ALLOW],
      allowHeaders: [CORS_ALLOW_HEADERS],
      exposeHeaders: [CORS_EXPOSE_HEADERS],
      maxAge: CORS_MAX_AGE,
    }),
  );
  app.use(async (c, next) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    return toResponse(
      errorReply(
        405,
        'method_not_allowed',
        `${echo(method)} is not allowed; this API is read-only (GET, HEAD)`,
        [['allow', ALLOW]],
      ),
    );
  });
  const answer = async (c: Context, route: Route): Promise<Response> => {
    const raw = c.req.raw;
    const ask: Ask = {
      method: raw.method,
      search: searchOf(raw.url),
      header: (name) => raw.headers.get(name),
    };
    return toResponse(await routeReply(route, ask, source, listings, opts));
  };
  for (const { pattern, route } of API_ROUTES) {
    app.get(pattern, (c) => answer(c, route(lastSegment(c.req.path))));
  }
  app.notFound((c) => toResponse(errorReply(404, 'not_found', nothingAt(c.req.path))));
  app.onError((err) => toResponse(failureReply(err)));
  return app;
}

/** The Reply for one routed request. */
async function routeReply(
  to: Route,
  ask: Ask,
  source: HubSource,
  listings: ListingCache,
  opts: HubAppOptions,
): Promise<Reply> {
  switch (to.kind) {
    case 'health':
      return healthReply(ask.method);
    case 'none':
      return errorReply(404, 'not_found', to.message);
    case 'document':
      return preparedReply(to.path, ask, source);
    case 'listing':
      return listingReply(ask, source, listings);
    case 'archive':
      return archiveReply(to, ask, await source.manifest(), source, opts);
    case 'tuf':
      return tufReply(to, ask.method, source);
  }
}

/** A prepared document: its build-time ETags and encodings (documentReply), bytes from the source. */
async function preparedReply(path: string, ask: Ask, source: HubSource): Promise<Reply> {
  if (ask.search !== '') return errorReply(400, 'bad_request', 'this document takes no query parameters');
  const manifest = await source.manifest();
  const doc = manifest.documents[path];
  if (!doc) return errorReply(404, 'not_found', missingDocument(path));
  const { reply, encoding, withBody } = documentReply(
    doc,
    ask.method,
    ask.header('accept-encoding'),
    ask.header('if-none-match'),
  );
  if (withBody) {
    const body = await source.document(path, encoding);
    if (!body) return errorReply(503, 'unavailable', `${path} is listed but could not be read`);
    reply.body = body;
  }
  return reply;
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

async function listingReply(ask: Ask, source: HubSource, cache: ListingCache): Promise<Reply> {
  const { method, header } = ask;
  // The same query string is parsed and checked once (bounded memo), not on every request.
  let parsed = parsedQueries.get(ask.search);
  if (!parsed) {
    parsed = parseListingQuery(new URLSearchParams(ask.search));
    if (parsedQueries.size >= 1024) parsedQueries.delete(parsedQueries.keys().next().value as string);
    parsedQueries.set(ask.search, parsed);
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
  { method, header }: Ask,
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
