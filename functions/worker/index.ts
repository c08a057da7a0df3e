// The hub API as a Cloudflare Worker: the same Hono app as the Node server, over the bundle and
// archives that `hub upload` put in the R2 bucket bound as HUB_BUCKET.
import { createHubApp, createR2Store, createStoreSource, type R2BucketLike } from '@magellon/hub-api';

export interface Env {
  HUB_BUCKET: R2BucketLike;
  /** Seconds a loaded bundle manifest is trusted before it is read again (default 60). */
  HUB_MANIFEST_TTL?: string;
}

/**
 * The request as the client sent it. Cloudflare (and workerd under Miniflare) rewrite
 * Accept-Encoding to "br, gzip" and keep the client's own in `cf.clientAcceptEncoding`; the API
 * must choose an encoding the client accepts, so it sees the client's header ("" = none sent).
 */
function clientRequest(request: Request): Request {
  const original = (request as Request & { cf?: { clientAcceptEncoding?: string } }).cf?.clientAcceptEncoding;
  if (original === undefined) return request;
  const headers = new Headers(request.headers);
  if (original) headers.set('accept-encoding', original);
  else headers.delete('accept-encoding');
  return new Request(request, { headers });
}

let cached: { bucket: R2BucketLike; app: ReturnType<typeof createHubApp> } | undefined;

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    if (!cached || cached.bucket !== env.HUB_BUCKET) {
      const ttl = Number(env.HUB_MANIFEST_TTL ?? '60');
      const source = createStoreSource(createR2Store(env.HUB_BUCKET, 'HUB_BUCKET'), {
        manifestTtlMs: (Number.isFinite(ttl) && ttl >= 0 ? ttl : 60) * 1000,
      });
      cached = { bucket: env.HUB_BUCKET, app: createHubApp(source) };
    }
    return cached.app.fetch(clientRequest(request));
  },
};
