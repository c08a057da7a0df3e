// The R2 driver: objects in a Cloudflare R2 bucket binding (the Worker's HUB_BUCKET). Runtime-free.

import { sha256Hex } from './sha256';
import {
  type ByteRange,
  checkKey,
  type ObjectBody,
  type ObjectStore,
  type PutResult,
  type StoredObject,
  StoreError,
} from './store';

/** The parts of an R2 object this driver reads (a subset of workers-types' R2Object). */
export interface R2ObjectLike {
  key: string;
  size: number;
  customMetadata?: Record<string, string>;
  httpMetadata?: { contentType?: string };
  range?: { offset?: number; length?: number } | { suffix: number };
}
export interface R2ObjectBodyLike extends R2ObjectLike {
  body: ReadableStream<Uint8Array>;
}
/** The parts of an R2 bucket binding this driver calls. */
export interface R2BucketLike {
  head(key: string): Promise<R2ObjectLike | null>;
  get(
    key: string,
    options?: { range?: { offset: number; length: number } },
  ): Promise<R2ObjectBodyLike | null>;
  put(
    key: string,
    value: Uint8Array | ArrayBuffer,
    options?: { customMetadata?: Record<string, string>; httpMetadata?: { contentType?: string } },
  ): Promise<R2ObjectLike | null>;
  delete(key: string): Promise<void>;
  list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<{
    objects: R2ObjectLike[];
    truncated: boolean;
    cursor?: string;
  }>;
}

function info(o: R2ObjectLike): StoredObject {
  return {
    key: o.key,
    size: o.size,
    ...(o.customMetadata?.sha256 ? { sha256: o.customMetadata.sha256 } : {}),
    ...(o.httpMetadata?.contentType ? { contentType: o.httpMetadata.contentType } : {}),
  };
}

/** A store over an R2 bucket binding; `name` is the binding's name, for messages. */
export function createR2Store(bucket: R2BucketLike, name = 'HUB_BUCKET'): ObjectStore {
  const fail = (what: string, key: string, err: unknown): never => {
    if (err instanceof StoreError) throw err;
    throw new StoreError('io', `r2:${name}: ${what} ${key} failed: ${(err as Error).message}`, {
      cause: err,
    });
  };
  return {
    driver: 'r2',
    description: `r2:${name}`,
    async head(key) {
      checkKey(key);
      const o = await bucket.head(key).catch((e) => fail('head', key, e));
      return o ? info(o) : undefined;
    },
    async get(key, range?: ByteRange): Promise<ObjectBody | undefined> {
      checkKey(key);
      const o = await bucket.get(key, range ? { range } : undefined).catch((e) => fail('get', key, e));
      if (!o) return undefined;
      return { ...info(o), body: o.body, ...(range ? { range } : {}) };
    },
    async put(key, bytes, opts): Promise<PutResult> {
      checkKey(key);
      if ((await sha256Hex(bytes)) !== opts.sha256) {
        throw new StoreError('io', `r2:${name}: ${key}: the bytes do not have the sha256 given for them`);
      }
      const old = await bucket.head(key).catch((e) => fail('head', key, e));
      if (old?.customMetadata?.sha256 === opts.sha256 && old.size === bytes.length) return 'unchanged';
      if (old && opts.immutable) {
        throw new StoreError(
          'conflict',
          `r2:${name} already holds ${key} with different bytes; it is immutable`,
        );
      }
      // An exact-length ArrayBuffer copy: a view into a larger (pooled) buffer is not what R2 expects.
      // (Buffer#slice is a view, not a copy: new Uint8Array copies exactly these bytes.)
      const body = new Uint8Array(bytes).buffer as ArrayBuffer;
      await bucket
        .put(key, body, {
          customMetadata: { sha256: opts.sha256 },
          ...(opts.contentType ? { httpMetadata: { contentType: opts.contentType } } : {}),
        })
        .catch((e) => fail('put', key, e));
      return old ? 'replaced' : 'created';
    },
    async list(prefix) {
      if (prefix !== '') checkKey(prefix.replace(/\/$/, ''));
      const out: StoredObject[] = [];
      let cursor: string | undefined;
      do {
        const page = await bucket.list({ prefix, cursor }).catch((e) => fail('list', prefix, e));
        out.push(...page.objects.map(info));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async delete(key) {
      checkKey(key);
      await bucket.delete(key).catch((e) => fail('delete', key, e));
    },
  };
}
