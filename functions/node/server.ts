// The hub API on Node: one http server running the handler the Hono app (and the Worker) runs,
// writing its replies straight to the socket, with a fast path for prepared documents in memory.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  chooseEncoding,
  createHubHandler,
  documentReply,
  errorReply,
  type HubAppOptions,
  type HubSource,
  MAX_URL_CHARS,
  noneMatch,
  type Reply,
  resolveRoute,
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

/** Writes a Reply: exactly its status and headers, and its body (bytes, or a stream piped with backpressure). */
function writeReply(res: ServerResponse, method: string | undefined, reply: Reply): void {
  res.writeHead(reply.status, reply.headers.flat());
  const body = reply.body;
  if (!body || method === 'HEAD') {
    res.end();
    if (body instanceof ReadableStream) void body.cancel();
    return;
  }
  if (body instanceof Uint8Array) {
    res.end(body);
    return;
  }
  pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), res).catch(() =>
    res.destroy(),
  );
}

/**
 * The request handler. A prepared document in memory is answered synchronously (the bytes and
 * headers were made at build time); everything else goes through the same handler the Hono app
 * (and so the Worker) uses, with its Reply written straight to the socket: no Request or Response
 * objects, no web streams for bytes already in memory. The rules are one set (http.ts, app.ts).
 */
export function hubRequestListener(source: HubSource, opts: HubAppOptions & { siteDir?: string } = {}) {
  const handler = createHubHandler(source, opts);
  const site = opts.siteDir ? siteFiles(opts.siteDir) : undefined;
  // Per document: its three ETags, and the header list of each answer (built once by documentReply,
  // so they are the very headers the handler would send). Keyed with the ETag: a new bundle, new entries.
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
  const documentSync = source.documentSync;
  const manifestSync = source.manifestSync;
  return (req: IncomingMessage, res: ServerResponse) => {
    const target = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (site && target.length <= MAX_URL_CHARS && isSiteTarget(target)) {
      let pathname: string | undefined;
      try {
        pathname = new URL(target, 'http://hub.invalid').pathname;
      } catch {}
      if (pathname && site.serve(method, pathname, res)) return;
    }
    if (
      documentSync &&
      manifestSync &&
      (method === 'GET' || method === 'HEAD') &&
      target.length <= MAX_URL_CHARS &&
      !target.includes('?')
    ) {
      const route = resolveRoute(target);
      if (route.kind === 'document') {
        const doc = manifestSync().documents[route.path];
        if (doc) {
          const encoding = chooseEncoding(req.headers['accept-encoding']);
          const inm = req.headers['if-none-match'];
          const fresh = inm !== undefined && noneMatch(inm, variantsOf(route.path, doc.etag));
          const body = fresh || method === 'HEAD' ? undefined : documentSync(route.path, encoding);
          if (fresh || method === 'HEAD' || body) {
            res.writeHead(fresh ? 304 : 200, headersFor(route.path, doc, encoding, fresh));
            res.end(body);
            return;
          }
        }
      }
    }
    let url: URL;
    try {
      // Parsed as fetch's URL parses it (dot segments resolved), so Node and workerd route alike.
      url = new URL(target.startsWith('/') ? target : `/${target}`, 'http://hub.invalid');
    } catch {
      writeReply(res, method, errorReply(400, 'bad_request', 'the request target is not a valid URL'));
      return;
    }
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    handler.reply(method, url, header).then(
      (reply) => writeReply(res, method, reply),
      () => writeReply(res, method, errorReply(500, 'internal', 'internal error; the hub logged it')),
    );
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
