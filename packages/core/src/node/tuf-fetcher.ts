// How every client of signed hub metadata (CoreService's registries, `hub mirror`) fetches it for
// tuf-js: a GET over undici that follows no redirect, is bounded in time, sends an Authorization
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

export class TufHttpFetcher extends BaseFetcher {
  constructor(private readonly opts: TufFetcherOptions) {
    super();
  }

  async fetch(url: string): Promise<NodeJS.ReadableStream> {
    const authorization = this.opts.authorization?.(new URL(url));
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers: {
          accept: 'application/json',
          'accept-encoding': 'identity',
          ...(authorization ? { authorization } : {}),
        },
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        maxRedirections: 0,
      } as Parameters<typeof request>[1]);
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
