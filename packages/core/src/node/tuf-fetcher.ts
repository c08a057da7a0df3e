// How every client of signed hub metadata (CoreService's registries, `hub mirror`) fetches it for
// tuf-js: a GET over undici that follows no redirect (`getHubJson`, CoreService's document fetch too), is bounded in time, sends an Authorization
// header only where the caller says (a registry's own origin), and answers a status other than 200
// with tuf-js's DownloadHTTPError (a 404 for `<n+1>.root.json` is how a client learns it holds the
// newest root). tuf-js bounds the bytes it reads (its max lengths).
import type { Readable } from 'node:stream';
import { BaseFetcher } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import { request } from 'undici';

export interface TufFetcherOptions {
  /** Idle bound on the headers and on the body. */
  timeoutMs: number;
  /** The Authorization header for a URL, or undefined (none). */
  authorization?: (url: URL) => string | undefined;
  /** The error for a request that got no answer (refused, reset, timed out); `code` is the cause. */
  unreachable: (url: string, code: string) => Error;
}

/**
 * One GET of a hub's JSON (a plugin document, a metadata file) over undici: identity encoding, an
 * Authorization header only when given, idle-bounded headers and body, and no redirect followed
 * (undici's `request` follows none without its redirect interceptor, so a 3xx is an answer like any
 * other). Network failures are thrown as they come, for the caller to word.
 */
export function getHubJson(url: string | URL, opts: { timeoutMs: number; authorization?: string }) {
  return request(url, {
    method: 'GET',
    headers: {
      accept: 'application/json',
      'accept-encoding': 'identity',
      ...(opts.authorization ? { authorization: opts.authorization } : {}),
    },
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
}

export class TufHttpFetcher extends BaseFetcher {
  constructor(private readonly opts: TufFetcherOptions) {
    super();
  }

  async fetch(url: string): Promise<NodeJS.ReadableStream> {
    const authorization = this.opts.authorization?.(new URL(url));
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await getHubJson(url, { timeoutMs: this.opts.timeoutMs, authorization });
    } catch (err) {
      throw this.opts.unreachable(url, (err as NodeJS.ErrnoException).code ?? (err as Error).message);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new DownloadHTTPError(`${new URL(url).pathname} answered ${res.statusCode}`, res.statusCode);
    }
    return res.body as unknown as Readable;
  }
}
