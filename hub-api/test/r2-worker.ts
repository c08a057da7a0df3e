// A test Worker: runs the R2 store inside workerd and exposes each of its operations over HTTP,
// so the storage contract suite can drive the real driver on the real runtime.
import { createR2Store, type R2BucketLike } from '../src/storage/r2';
import { StoreError } from '../src/storage/store';

interface Env {
  BUCKET: R2BucketLike;
}

const json = (v: unknown, status = 200) =>
  new Response(JSON.stringify(v), { status, headers: { 'content-type': 'application/json' } });

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const op = url.pathname.slice(1);
    const key = url.searchParams.get('key') ?? '';
    const store = createR2Store(env.BUCKET, 'BUCKET');
    try {
      switch (op) {
        case 'head':
          return json({ object: (await store.head(key)) ?? null });
        case 'get': {
          const offset = url.searchParams.get('offset');
          const range =
            offset === null
              ? undefined
              : { offset: Number(offset), length: Number(url.searchParams.get('length')) };
          const got = await store.get(key, range);
          if (!got) return json({ object: null }, 404);
          const { body, ...meta } = got;
          return new Response(body, { headers: { 'x-object': JSON.stringify(meta) } });
        }
        case 'put': {
          const bytes = new Uint8Array(await request.arrayBuffer());
          const opts = JSON.parse(url.searchParams.get('opts') ?? '{}');
          return json({ result: await store.put(key, bytes, opts) });
        }
        case 'list':
          return json({ objects: await store.list(url.searchParams.get('prefix') ?? '') });
        case 'delete':
          await store.delete(key);
          return json({});
      }
      return json({ error: { code: 'io', message: `no op ${op}` } }, 400);
    } catch (err) {
      if (err instanceof StoreError) return json({ error: { code: err.code, message: err.message } }, 409);
      return json({ error: { code: 'io', message: String(err) } }, 500);
    }
  },
};
