// The S3 driver: objects in an S3 bucket (AWS, Cloudflare R2's S3 API, OpenStack Swift's s3api,
// MinIO…). The SDK is imported on first use, so nothing else pays for it.
import type { GetObjectCommandOutput, ListObjectsV2CommandOutput, S3Client } from '@aws-sdk/client-s3';
import { sha256Hex } from './sha256';
import {
  type ByteRange,
  checkKey,
  type ObjectBody,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  type StoredObject,
  StoreError,
} from './store';

export interface S3StoreOptions {
  bucket: string;
  /** e.g. `https://<account>.r2.cloudflarestorage.com` or `http://127.0.0.1:18080`; AWS when absent. */
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most non-AWS servers need. Default: true with an endpoint. */
  forcePathStyle?: boolean;
  /** Every key is stored under this prefix (no leading or trailing slash). */
  prefix?: string;
  /** Keys per ListObjectsV2 page (default 1000; tests use small pages to prove paging). */
  pageSize?: number;
}

type Sdk = typeof import('@aws-sdk/client-s3');

/** The S3 error's name and HTTP status, whatever shape the SDK gave it. */
function errInfo(err: unknown): { name: string; status?: number; code?: string } {
  const e = err as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  return { name: e?.Code ?? e?.name ?? 'Error', status: e?.$metadata?.httpStatusCode, code: e?.code };
}

/** One store's settings and lazily made client, shared by its steps. */
interface S3Context {
  opts: S3StoreOptions;
  /** `s3://bucket at endpoint`, for messages. */
  where: string;
  /** The key prefix, `''` or ending in `/`. */
  prefix: string;
  connect(): Promise<{ sdk: Sdk; s3: S3Client }>;
}

/** The SDK and a client for `opts`, imported and made on first use. */
function s3Connector(opts: S3StoreOptions): () => Promise<{ sdk: Sdk; s3: S3Client }> {
  let client: Promise<{ sdk: Sdk; s3: S3Client }> | undefined;
  return () => {
    // Bundled (the compiled hub), the CommonJS SDK may come back as the namespace's default export.
    client ??= import('@aws-sdk/client-s3').then((mod) => {
      const sdk = ('S3Client' in mod ? mod : (mod as unknown as { default: Sdk }).default) as Sdk;
      return {
        sdk,
        s3: new sdk.S3Client({
          region: opts.region ?? 'auto',
          ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
          forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
          ...(opts.accessKeyId && opts.secretAccessKey
            ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } }
            : {}),
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          maxAttempts: 2,
        }),
      };
    });
    return client;
  };
}

/** Turns an SDK failure into a StoreError that says what failed and where. */
function fail(ctx: S3Context, what: string, key: string, err: unknown): never {
  if (err instanceof StoreError) throw err;
  const { where, opts } = ctx;
  const { name, status, code } = errInfo(err);
  if (name === 'NoSuchBucket') {
    throw new StoreError('no-bucket', `${where}: bucket "${opts.bucket}" does not exist (${what} ${key})`, {
      cause: err,
    });
  }
  if (
    status === 403 ||
    ['SignatureDoesNotMatch', 'InvalidAccessKeyId', 'AccessDenied', 'InvalidClientTokenId'].includes(name)
  ) {
    throw new StoreError(
      'auth',
      `${where} refused the credentials (${name}${status ? `, HTTP ${status}` : ''}) on ${what} ${key}; check the access key and secret`,
      { cause: err },
    );
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || name === 'TimeoutError') {
    throw new StoreError('unavailable', `${where} cannot be reached (${code ?? name}) on ${what} ${key}`, {
      cause: err,
    });
  }
  throw new StoreError(
    'io',
    `${where}: ${what} ${key} failed: ${name}${status ? ` (HTTP ${status})` : ''}: ${(err as Error).message}`,
    { cause: err },
  );
}

function isMissing(err: unknown): boolean {
  const { name, status } = errInfo(err);
  return (status === 404 && name !== 'NoSuchBucket') || name === 'NoSuchKey' || name === 'NotFound';
}

function toInfo(
  key: string,
  size: number,
  meta?: Record<string, string>,
  contentType?: string,
): StoredObject {
  return {
    key,
    size,
    ...(meta?.sha256 ? { sha256: meta.sha256 } : {}),
    ...(contentType ? { contentType } : {}),
  };
}

async function s3Head(ctx: S3Context, key: string): Promise<StoredObject | undefined> {
  checkKey(key);
  const { sdk, s3 } = await ctx.connect();
  try {
    const o = await s3.send(new sdk.HeadObjectCommand({ Bucket: ctx.opts.bucket, Key: ctx.prefix + key }));
    return toInfo(key, o.ContentLength ?? 0, o.Metadata, o.ContentType);
  } catch (err) {
    if (isMissing(err)) {
      // HEAD has no body to tell a missing bucket from a missing key: ask the bucket.
      await s3.send(new sdk.HeadBucketCommand({ Bucket: ctx.opts.bucket })).catch((e) => {
        if (errInfo(e).status === 404) fail(ctx, 'head', key, Object.assign(e, { name: 'NoSuchBucket' }));
        fail(ctx, 'head', key, e);
      });
      return undefined;
    }
    return fail(ctx, 'head', key, err);
  }
}

async function s3Get(ctx: S3Context, key: string, range?: ByteRange): Promise<ObjectBody | undefined> {
  checkKey(key);
  const { sdk, s3 } = await ctx.connect();
  let o: GetObjectCommandOutput;
  try {
    o = await s3.send(
      new sdk.GetObjectCommand({
        Bucket: ctx.opts.bucket,
        Key: ctx.prefix + key,
        ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
      }),
    );
  } catch (err) {
    if (isMissing(err)) return undefined;
    return fail(ctx, 'get', key, err);
  }
  const total = range
    ? Number(/\/(\d+)$/.exec(o.ContentRange ?? '')?.[1] ?? range.offset + range.length)
    : (o.ContentLength ?? 0);
  const body = o.Body?.transformToWebStream() ?? new Blob([]).stream();
  return {
    ...toInfo(key, total, o.Metadata, o.ContentType),
    body: body as ReadableStream<Uint8Array>,
    ...(range ? { range } : {}),
  };
}

async function s3Put(
  ctx: S3Context,
  key: string,
  bytes: Uint8Array,
  putOpts: PutOptions,
): Promise<PutResult> {
  checkKey(key);
  const { where } = ctx;
  if ((await sha256Hex(bytes)) !== putOpts.sha256) {
    throw new StoreError('io', `${where}: ${key}: the bytes do not have the sha256 given for them`);
  }
  const old = await s3Head(ctx, key);
  if (old?.sha256 === putOpts.sha256 && old.size === bytes.length) return 'unchanged';
  if (old && putOpts.immutable) {
    throw new StoreError('conflict', `${where} already holds ${key} with different bytes; it is immutable`);
  }
  const { sdk, s3 } = await ctx.connect();
  try {
    await s3.send(
      new sdk.PutObjectCommand({
        Bucket: ctx.opts.bucket,
        Key: ctx.prefix + key,
        Body: bytes,
        ContentLength: bytes.length,
        Metadata: { sha256: putOpts.sha256 },
        ...(putOpts.contentType ? { ContentType: putOpts.contentType } : {}),
      }),
    );
  } catch (err) {
    return fail(ctx, 'put', key, err);
  }
  return old ? 'replaced' : 'created';
}

async function s3List(ctx: S3Context, listPrefix: string): Promise<StoredObject[]> {
  if (listPrefix !== '') checkKey(listPrefix.replace(/\/$/, ''));
  const { sdk, s3 } = await ctx.connect();
  const out: StoredObject[] = [];
  let token: string | undefined;
  do {
    let page: ListObjectsV2CommandOutput;
    try {
      page = await s3.send(
        new sdk.ListObjectsV2Command({
          Bucket: ctx.opts.bucket,
          Prefix: ctx.prefix + listPrefix,
          ContinuationToken: token,
          MaxKeys: ctx.opts.pageSize ?? 1000,
        }),
      );
    } catch (err) {
      return fail(ctx, 'list', listPrefix || '(all)', err);
    }
    for (const o of page.Contents ?? []) {
      if (o.Key) out.push({ key: o.Key.slice(ctx.prefix.length), size: o.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

async function s3Presign(ctx: S3Context, key: string, expiresSeconds: number): Promise<string> {
  checkKey(key);
  const { sdk, s3 } = await ctx.connect();
  const presigner = await import('@aws-sdk/s3-request-presigner');
  const { getSignedUrl } = (
    'getSignedUrl' in presigner ? presigner : (presigner as unknown as { default: typeof presigner }).default
  ) as typeof presigner;
  return getSignedUrl(s3, new sdk.GetObjectCommand({ Bucket: ctx.opts.bucket, Key: ctx.prefix + key }), {
    expiresIn: expiresSeconds,
  });
}

export function createS3Store(opts: S3StoreOptions): ObjectStore {
  const ctx: S3Context = {
    opts,
    where: `s3://${opts.bucket}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`,
    prefix: opts.prefix ? `${opts.prefix.replace(/^\/+|\/+$/g, '')}/` : '',
    connect: s3Connector(opts),
  };
  return {
    driver: 's3',
    description: ctx.where,
    head: (key) => s3Head(ctx, key),
    get: (key, range) => s3Get(ctx, key, range),
    put: (key, bytes, putOpts) => s3Put(ctx, key, bytes, putOpts),
    list: (listPrefix) => s3List(ctx, listPrefix),
    async delete(key) {
      checkKey(key);
      const { sdk, s3 } = await ctx.connect();
      await s3
        .send(new sdk.DeleteObjectCommand({ Bucket: opts.bucket, Key: ctx.prefix + key }))
        .catch((e) => {
          if (!isMissing(e)) fail(ctx, 'delete', key, e);
        });
    },
    presignGet: (key, expiresSeconds) => s3Presign(ctx, key, expiresSeconds),
  };
}
