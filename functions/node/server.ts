// The hub API on Node: one http server running the Hono app the Worker runs (createHubApp, through
// @hono/node-server), with a from-memory fast path for prepared documents in front of it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import {
  chooseEncoding,
  createHubApp,
  documentReply,
  errorReply,
  failureReply,
  type HubAppOptions,
  type HubSource,
  MAX_URL_CHARS,
  noneMatch,
  type Reply,
  resolveRoute,
  toResponse,
} from '@magellon/hub-api';
import { type BundleDocument, type Encoding, encodingEtags } from '@magellon/hub-core';
import { isSiteTarget, siteFiles } from './site-files';

export interface ListenOptions extends HubAppOptions {
  port: number;
  host: string;
  /** The built catalog site (site/dist), served under /plugins/. */
  siteDir?: string;
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
 * The from-memory fast path: a prepared document (or its 304) answered synchronously with the
 * bytes and headers made at build time, the very headers documentReply gives the Hono app, found
 * with the app's own route table (resolveRoute). It saves the Request/Response round trip for the
 * API's hottest answers (see README, bench:api). Returns false for anything else.
 */
function documentFastPath(source: HubSource): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { documentSync, manifestSync } = source;
  if (!documentSync || !manifestSync) return () => false;
  // Per document: its three ETags, and the header list of each answer (built once by documentReply).
  // Keyed with the ETag: a new bundle, new entries.
  const variants = new Map<string, string[]>();
  const heads = new Map<string, string[]>();
  const variantsOf = (path: string, etag: string) => {
    let v = variants.get(path + etag);
    if (!v) {
      v = encodingEtags(etag);
      variants.set(path + etag, v);
    }
    return v;
  };
  const ASK = { identity: '', gzip: 'gzip', br: 'br' } as const;
  const headersFor = (path: string, doc: BundleDocument, encoding: Encoding, fresh: boolean) => {
    const key = `${path}\0${doc.etag}\0${encoding}\0${fresh ? 1 : 0}`;
    let h = heads.get(key);
    if (!h) {
      h = documentReply(doc, 'GET', ASK[encoding], fresh ? doc.etag : undefined).reply.headers.flat();
      heads.set(key, h);
    }
    return h;
  };
  return (req, res) => {
    const target = req.url ?? '/';
    const method = req.method;
    if (
      (method !== 'GET' && method !== 'HEAD') ||
      target.length > MAX_URL_CHARS ||
      target.includes('?') ||
      target.charCodeAt(0) !== 47
    )
      return false;
    const route = resolveRoute(target);
    if (route.kind !== 'document') return false;
    const doc = manifestSync().documents[route.path];
    if (!doc) return false;
    const encoding = chooseEncoding(req.headers['accept-encoding']);
    const inm = req.headers['if-none-match'];
    const fresh = inm !== undefined && noneMatch(inm, variantsOf(route.path, doc.etag));
    const body = fresh || method === 'HEAD' ? undefined : documentSync(route.path, encoding);
    if (!fresh && method !== 'HEAD' && !body) return false;
    res.writeHead(fresh ? 304 : 200, headersFor(route.path, doc, encoding, fresh));
    res.end(body);
    return true;
  };
}

/** Writes an error Reply (its body is bytes) straight to the socket. */
function writeError(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, reply.headers.flat());
  res.end(reply.body);
}

/** The host of every request URL the app sees on Node. */
const ORIGIN_HOST = 'hub.invalid';

/**
 * The request handler: the built site under /plugins/ (when given), then the document fast path,
 * then the Hono app (createHubApp, the one the Worker runs) through @hono/node-server.
 */
export function hubRequestListener(source: HubSource, opts: HubAppOptions & { siteDir?: string } = {}) {
  const app = createHubApp(source, opts);
  const viaHono = getRequestListener(app.fetch, {
    hostname: ORIGIN_HOST,
    // A target node-server cannot make a URL of is a JSON 400, as the API answers bad input.
    errorHandler: (err) =>
      toResponse(
        (err as Error).name === 'RequestError'
          ? errorReply(400, 'bad_request', 'the request target is not a valid URL')
          : failureReply(err),
      ),
  });
  const site = opts.siteDir ? siteFiles(opts.siteDir) : undefined;
  const fast = documentFastPath(source);
  return (req: IncomingMessage, res: ServerResponse) => {
    const target = req.url ?? '/';
    if (site && target.length <= MAX_URL_CHARS && isSiteTarget(target)) {
      let pathname: string | undefined;
      try {
        pathname = new URL(target, 'http://hub.invalid').pathname;
      } catch {}
      if (pathname && site.serve(req.method ?? 'GET', pathname, res)) return;
    }
    if (fast(req, res)) return;
    // The answer depends on the target alone: it is parsed as fetch's URL parses it (dot segments
    // resolved, backslashes made slashes), so Node and workerd route alike, on a fixed origin (an
    // odd Host header changes nothing); a target without its leading slash (`*`, absolute form) is
    // a path like any other.
    let url: URL;
    try {
      url = new URL(target.charCodeAt(0) === 47 ? target : `/${target}`, `http://${ORIGIN_HOST}`);
    } catch {
      writeError(res, errorReply(400, 'bad_request', 'the request target is not a valid URL'));
      return;
    }
    req.url = url.pathname + url.search;
    req.headers.host = ORIGIN_HOST;
    void viaHono(req, res);
  };
}

/** Listens on host:port (127.0.0.1 unless told otherwise) and resolves once it accepts connections. */
export function listenHub(source: HubSource, opts: ListenOptions): Promise<RunningServer> {
  const server = createServer({ keepAliveTimeout: 5_000 }, hubRequestListener(source, opts));
  // A request Node cannot even parse (bad request line, huge headers) still gets a JSON error.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const body = `${JSON.stringify({ error: { code: 'bad_request', message: tooLarge ? 'the request headers are too large' : 'the request is not valid HTTP' } })}\n`;
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
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
