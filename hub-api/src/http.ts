// Pure HTTP rules of the hub API as Replies (status, headers, body), shared by the Hono app's
// handlers and the Node server's fast path so both answer with the same bytes. Runtime-free.
import {
  type ApiError,
  type BundleDocument,
  type Encoding,
  encodedEtag,
  encodingEtags,
} from '@magellon/hub-core';

export const JSON_TYPE = 'application/json; charset=utf-8';
export const DOCUMENT_CACHE = 'public, max-age=300, stale-while-revalidate=86400';
export const ARCHIVE_CACHE = 'public, max-age=31536000, immutable';
export const ERROR_CACHE = 'no-store';
/** TUF's moving entry points (timestamp.json, root.json): a minute, so freshness is near. */
export const TUF_MOVING_CACHE = 'public, max-age=60';
/** Longest request target (path + query) the API reads; longer ones are a 400, never parsed. */
export const MAX_URL_CHARS = 2048;

/** The methods the API answers (Allow of a 405 and of a preflight). */
export const ALLOW = 'GET, HEAD, OPTIONS';
/** CORS: the response headers a page may read, the request headers it may send, how long a preflight holds. */
export const CORS_EXPOSE_HEADERS = 'ETag, Link, Content-Length, Content-Range, Accept-Ranges';
export const CORS_ALLOW_HEADERS = 'If-None-Match, Range, If-Range, Accept-Encoding';
export const CORS_MAX_AGE = 86400;

/** Headers every response carries: CORS is open for reading, and browsers must not sniff types. */
export const COMMON_HEADERS: ReadonlyArray<[string, string]> = [
  ['access-control-allow-origin', '*'],
  ['access-control-expose-headers', CORS_EXPOSE_HEADERS],
  ['x-content-type-options', 'nosniff'],
];

/** What to send: the same shape serves Hono (as a Response) and the Node fast path (written directly). */
export interface Reply {
  status: number;
  headers: Array<[string, string]>;
  body?: Uint8Array | ReadableStream<Uint8Array>;
}

/**
 * The encoding to send, from Accept-Encoding: of gzip and brotli, the one with the highest q-value
 * (`*` stands for any coding not named), ties going to the one named first; identity when neither
 * is acceptable. Cloudflare's edge chooses the same way, so a Worker's answer passes through as is.
 */
export function chooseEncoding(acceptEncoding: string | null | undefined): Encoding {
  if (!acceptEncoding) return 'identity';
  const known = chosen.get(acceptEncoding);
  if (known) return known;
  const encoding = negotiate(acceptEncoding);
  // Clients send a handful of distinct headers: remember the answers (bounded).
  if (chosen.size >= 256) chosen.clear();
  chosen.set(acceptEncoding, encoding);
  return encoding;
}

const chosen = new Map<string, Encoding>();

function negotiate(acceptEncoding: string): Encoding {
  const seen = new Map<string, { q: number; at: number }>();
  acceptEncoding
    .slice(0, 512)
    .split(',')
    .forEach((part, at) => {
      const [name, ...params] = part.trim().toLowerCase().split(';');
      if (!name || seen.has(name)) return;
      let q = 1;
      for (const p of params) {
        const m = /^\s*q\s*=\s*([01](?:\.[0-9]{0,3})?)\s*$/.exec(p);
        if (m) q = Number(m[1]);
      }
      seen.set(name, { q: Math.min(q, 1), at });
    });
  const star = seen.get('*');
  const weigh = (name: string) => seen.get(name) ?? (star ? { q: star.q, at: star.at } : { q: 0, at: 0 });
  const br = weigh('br');
  const gzip = seen.get('gzip') ?? seen.get('x-gzip') ?? weigh('gzip');
  if (br.q <= 0 && gzip.q <= 0) return 'identity';
  if (br.q !== gzip.q) return br.q > gzip.q ? 'br' : 'gzip';
  return br.at < gzip.at ? 'br' : 'gzip';
}

/** Whether If-None-Match names any of `etags` (weak comparison, as RFC 9110 asks for this header). */
export function noneMatch(ifNoneMatch: string | null | undefined, etags: readonly string[]): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  for (const raw of ifNoneMatch.slice(0, 4096).split(',')) {
    const tag = raw.trim().replace(/^W\//, '');
    if (etags.includes(tag)) return true;
  }
  return false;
}

/** `{"error": {"code", "message"}}` with its status. */
export function errorReply(
  status: number,
  code: ApiError['error']['code'],
  message: string,
  extra: Array<[string, string]> = [],
): Reply {
  const body = new TextEncoder().encode(`${JSON.stringify({ error: { code, message } })}\n`);
  return {
    status,
    headers: [
      ['content-type', JSON_TYPE],
      ['content-length', String(body.length)],
      ['cache-control', ERROR_CACHE],
      ...extra,
      ...COMMON_HEADERS,
    ],
    body,
  };
}

/** Input echoed in an error message: printable ASCII only, at most 120 characters. */
export function echo(text: string): string {
  const cut = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  return cut.replace(/[^\x20-\x7e…]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The answer for a prepared JSON document, without its body: 304 when If-None-Match names it,
 * else 200 in the best encoding the client accepts. `withBody` says whether the caller must attach
 * the bytes of `encoding` (not for 304 and HEAD).
 */
export function documentReply(
  doc: BundleDocument,
  method: string,
  acceptEncoding: string | null | undefined,
  ifNoneMatch: string | null | undefined,
): { reply: Reply; encoding: Encoding; withBody: boolean } {
  const encoding = chooseEncoding(acceptEncoding);
  const etag = encodedEtag(doc.etag, encoding);
  const validators: Array<[string, string]> = [
    ['etag', etag],
    ['cache-control', DOCUMENT_CACHE],
    ['vary', 'Accept-Encoding'],
  ];
  if (noneMatch(ifNoneMatch, encodingEtags(doc.etag))) {
    return { reply: { status: 304, headers: [...validators, ...COMMON_HEADERS] }, encoding, withBody: false };
  }
  const size = encoding === 'identity' ? doc.size : encoding === 'gzip' ? doc.gzip : doc.br;
  const headers: Array<[string, string]> = [
    ['content-type', JSON_TYPE],
    ['content-length', String(size)],
    ...(encoding === 'identity' ? [] : ([['content-encoding', encoding]] as Array<[string, string]>)),
    ...validators,
    ...COMMON_HEADERS,
  ];
  return { reply: { status: 200, headers }, encoding, withBody: method !== 'HEAD' };
}

export type RangeAsk =
  | { kind: 'none' }
  | { kind: 'range'; offset: number; length: number }
  | { kind: 'unsatisfiable' };

/**
 * Reads a Range header for an object of `size` bytes. One `bytes=` range is served (`a-b`, `a-`,
 * `-n`); several ranges, other units or a malformed header are ignored (a 200 of the whole, as RFC
 * 9110 allows); a well-formed range that misses the object is unsatisfiable (416).
 */
export function parseRange(header: string | null | undefined, size: number): RangeAsk {
  if (!header) return { kind: 'none' };
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m) return { kind: 'none' };
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return { kind: 'none' };
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    const length = Math.min(n, size);
    return { kind: 'range', offset: size - length, length };
  }
  const start = Number(a);
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return { kind: 'none' };
  return { kind: 'range', offset: start, length: end - start + 1 };
}

/** Turns a Reply into a Response; bodies go out as they are (already encoded), never re-encoded by workerd. */
export function toResponse(reply: Reply): Response {
  // Headers as a plain object: @hono/node-server writes one as it is, without building Headers.
  const init: ResponseInit & { encodeBody?: 'manual' } = {
    status: reply.status,
    headers: Object.fromEntries(reply.headers),
    encodeBody: 'manual',
  };
  return new Response((reply.body ?? null) as ConstructorParameters<typeof Response>[0], init);
}
