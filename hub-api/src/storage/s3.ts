// The S3 driver: objects in an S3 bucket (AWS, Cloudflare R2's S3 API, OpenStack Swift's s3api,
// MinIO…). The SDK is imported on first use, so nothing else pays for it.
import type { GetObjectCommandOutput, ListObjectsV2CommandOutput, S3Client } from '@aws-sdk/client-s3';
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

export function createS3Store(opts: S3StoreOptions): ObjectStore {
  const where = `s3://${opts.bucket}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`;
  const prefix = opts.prefix ? `${opts.prefix.replace(/^\/+|\/+$/g, '')}/` : '';
  let client: Promise<{ sdk: Sdk; s3: S3Client }> | undefined;
  const connect = () => {
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
  /** Turns an SDK failure into a StoreError that says what failed and where. */
  const fail = (what: string, key: string, err: unknown): never => {
    if (err instanceof StoreError) throw err;
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
      {
        cause: err,
      },
    );
  };
  const isMissing = (err: unknown) => {
    const { name, status } = errInfo(err);
    return (status === 404 && name !== 'NoSuchBucket') || name === 'NoSuchKey' || name === 'NotFound';
  };
  const toInfo = (
    key: string,
    size: number,
    meta?: Record<string, string>,
    contentType?: string,
  ): StoredObject => ({
    key,
    size,
    ...(meta?.sha256 ? { sha256: meta.sha256 } : {}),
    ...(contentType ? { contentType } : {}),
  });

  const store: ObjectStore = {
    driver: 's3',
    description: where,
    async head(key) {
      checkKey(key);
      const { sdk, s3 } = await connect();
      try {
        const o = await s3.send(new sdk.HeadObjectCommand({ Bucket: opts.bucket, Key: prefix + key }));
        return toInfo(key, o.ContentLength ?? 0, o.Metadata, o.ContentType);
      } catch (err) {
        if (isMissing(err)) {
          // HEAD has no body to tell a missing bucket from a missing key: ask the bucket.
          await s3.send(new sdk.HeadBucketCommand({ Bucket: opts.bucket })).catch((e) => {
            if (errInfo(e).status === 404) fail('head', key, Object.assign(e, { name: 'NoSuchBucket' }));
            fail('head', key, e);
          });
          return undefined;
        }
        return fail('head', key, err);
      }
    },
    async get(key, range?: ByteRange): Promise<ObjectBody | undefined> {
      checkKey(key);
      const { sdk, s3 } = await connect();
      let o: GetObjectCommandOutput;
      try {
        o = await s3.send(
          new sdk.GetObjectCommand({
            Bucket: opts.bucket,
            Key: prefix + key,
            ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
          }),
        );
      } catch (err) {
        if (isMissing(err)) return undefined;
        return fail('get', key, err);
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
    },
    async put(key, bytes, putOpts): Promise<PutResult> {
      checkKey(key);
      if ((await sha256Hex(bytes)) !== putOpts.sha256) {
        throw new StoreError('io', `${where}: ${key}: the bytes do not have the sha256 given for them`);
      }
      const old = await store.head(key);
      if (old?.sha256 === putOpts.sha256 && old.size === bytes.length) return 'unchanged';
      if (old && putOpts.immutable) {
        throw new StoreError(
          'conflict',
          `${where} already holds ${key} with different bytes; it is immutable`,
        );
      }
      const { sdk, s3 } = await connect();
      try {
        await s3.send(
          new sdk.PutObjectCommand({
            Bucket: opts.bucket,
            Key: prefix + key,
            Body: bytes,
            ContentLength: bytes.length,
            Metadata: { sha256: putOpts.sha256 },
            ...(putOpts.contentType ? { ContentType: putOpts.contentType } : {}),
          }),
        );
      } catch (err) {
        return fail('put', key, err);
      }
      return old ? 'replaced' : 'created';
    },
    async list(listPrefix) {
      if (listPrefix !== '') checkKey(listPrefix.replace(/\/$/, ''));
      const { sdk, s3 } = await connect();
      const out: StoredObject[] = [];
      let token: string | undefined;
      do {
        let page: ListObjectsV2CommandOutput;
        try {
          page = await s3.send(
            new sdk.ListObjectsV2Command({
              Bucket: opts.bucket,
              Prefix: prefix + listPrefix,
              ContinuationToken: token,
              MaxKeys: opts.pageSize ?? 1000,
            }),
          );
        } catch (err) {
          return fail('list', listPrefix || '(all)', err);
        }
        for (const o of page.Contents ?? []) {
          if (o.Key) out.push({ key: o.Key.slice(prefix.length), size: o.Size ?? 0 });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async delete(key) {
      checkKey(key);
      const { sdk, s3 } = await connect();
      await s3.send(new sdk.DeleteObjectCommand({ Bucket: opts.bucket, Key: prefix + key })).catch((e) => {
        if (!isMissing(e)) fail('delete', key, e);
      });
    },
    async presignGet(key, expiresSeconds) {
      checkKey(key);
      const { sdk, s3 } = await connect();
      const presigner = await import('@aws-sdk/s3-request-presigner');
      const { getSignedUrl } = (
        'getSignedUrl' in presigner
          ? presigner
          : (presigner as unknown as { default: typeof presigner }).default
      ) as typeof presigner;
      return getSignedUrl(s3, new sdk.GetObjectCommand({ Bucket: opts.bucket, Key: prefix + key }), {
        expiresIn: expiresSeconds,
      });
    },
  };
  return store;
}
