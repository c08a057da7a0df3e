// The hub API on Node: one http server running the Hono app, with a fast path that answers
// prepared documents straight from memory using the same rules (http.ts) the app uses.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createHubApp,
  documentReply,
  errorReply,
  type HubAppOptions,
  type HubSource,
  MAX_URL_CHARS,
  preflight,
  resolveRoute,
  toResponse,
} from '@magellon/hub-api';

export interface ListenOptions extends HubAppOptions {
  port: number;
  host: string;
}

export interface RunningServer {
  /** `http://host:port`, as a person would paste it. */
  url: string;
  port: number;
  server: Server;
  /** Stops accepting, lets requests in flight finish (at most `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Runs a fetch handler (the Hono app) for a Node request and writes its Response as it is: the
 * status, exactly the headers it set (nothing added), and the body streamed with backpressure.
 */
function viaFetch(fetch: (req: Request) => Response | Promise<Response>) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      try {
        headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
      } catch {
        // a header value fetch's Headers refuses (e.g. a control character): left out
      }
    }
    const host = /^[A-Za-z0-9.:[\]-]{1,255}$/.test(req.headers.host ?? '') ? req.headers.host : 'localhost';
    let response: Response;
    try {
      // The target is taken as sent; URL parsing (dot segments, escapes) is the app's, as in workerd.
      const url = new URL(`http://${host}${(req.url ?? '/').startsWith('/') ? req.url : `/${req.url}`}`);
      response = await fetch(new Request(url, { method: req.method, headers }));
    } catch {
      response = toResponse(errorReply(400, 'bad_request', 'the request target is not a valid URL'));
    }
    const out: string[] = [];
    for (const [k, v] of response.headers) out.push(k, v);
    res.writeHead(response.status, out);
    if (!response.body || req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), res).catch(
      () => res.destroy(),
    );
  };
}

/**
 * The request handler: what can be answered from memory without waiting (a prepared document,
 * a preflight, a refused method) is written directly, with no Request/Response objects; the rest
 * goes through the Hono app. Both use the same rules (http.ts), so the answers are the same.
 */
export function hubRequestListener(source: HubSource, opts: HubAppOptions = {}) {
  const app = createHubApp(source, opts);
  const viaHono = viaFetch((req) => app.fetch(req));
  const documentSync = source.documentSync;
  const manifestSync = source.manifestSync;
  return (req: IncomingMessage, res: ServerResponse) => {
    const target = req.url ?? '/';
    const early = preflight(req.method ?? 'GET', target);
    if (early) {
      res.writeHead(early.status, early.headers.flat());
      res.end(early.body);
      return;
    }
    if (
      documentSync &&
      manifestSync &&
      (req.method === 'GET' || req.method === 'HEAD') &&
      target.length <= MAX_URL_CHARS &&
      !target.includes('?')
    ) {
      const route = resolveRoute(target);
      if (route.kind === 'document') {
        const doc = manifestSync().documents[route.path];
        if (doc) {
          const { reply, encoding, withBody } = documentReply(
            doc,
            req.method,
            req.headers['accept-encoding'],
            req.headers['if-none-match'],
          );
          const body = withBody ? documentSync(route.path, encoding) : undefined;
          if (!withBody || body) {
            res.writeHead(reply.status, reply.headers.flat());
            res.end(body);
            return;
          }
        }
      }
    }
    void viaHono(req, res);
  };
}

/** Listens on host:port (127.0.0.1 unless told otherwise) and resolves once it accepts connections. */
export function listenHub(source: HubSource, opts: ListenOptions): Promise<RunningServer> {
  const server = createServer({ keepAliveTimeout: 5_000 }, hubRequestListener(source, opts));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      resolve({
        url: `http://${host}:${port}`,
        port,
        server,
        close: (graceMs = 5_000) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => server.closeAllConnections(), graceMs);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
