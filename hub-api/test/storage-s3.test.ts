import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepoCatalog } from '../../functions/test/harness';
import { REPO_ROOT, runHub } from '../../packages/cli/test/run-hub';
import { createHubApp } from '../src/app';
import { createStoreSource } from '../src/source';
import { createS3Store } from '../src/storage/s3';
import { StoreError } from '../src/storage/store';
import { describeStoreContract } from './storage-contract';
import { type SwiftEndpoint, startSwift } from './swift';

let swift: SwiftEndpoint | undefined;
let swiftTried = false;
const buckets: string[] = [];

function client(s: SwiftEndpoint) {
  return new S3Client({
    endpoint: s.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function ensureSwift(): SwiftEndpoint | undefined {
  if (!swiftTried) {
    swiftTried = true;
    swift = startSwift();
  }
  return swift;
}

async function newBucket(s: SwiftEndpoint): Promise<string> {
  const name = `hub-test-${randomUUID().slice(0, 8)}`;
  // Swift's proxy answers /healthcheck before its account and container servers take requests;
  // until they do, s3api says 503 ("Please reduce your request rate"). Wait for them, boundedly.
  for (let attempt = 0; ; attempt++) {
    try {
      await client(s).send(new CreateBucketCommand({ Bucket: name }));
      break;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 503 || attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  buckets.push(name);
  return name;
}

async function emptyAndDelete(s: SwiftEndpoint, bucket: string) {
  const c = client(s);
  for (;;) {
    const page = await c.send(new ListObjectsV2Command({ Bucket: bucket }));
    for (const o of page.Contents ?? [])
      await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
    if (!page.IsTruncated) break;
  }
  await c.send(new DeleteBucketCommand({ Bucket: bucket }));
}

afterAll(async () => {
  if (swift) for (const b of buckets) await emptyAndDelete(swift, b).catch(() => {});
  swift?.stop();
});

describeStoreContract('s3 (OpenStack Swift)', async () => {
  const s = ensureSwift();
  if (!s) return undefined;
  const bucket = await newBucket(s);
  return {
    // A small page size proves that list() follows continuation tokens.
    store: createS3Store({
      bucket,
      endpoint: s.endpoint,
      region: 'us-east-1',
      accessKeyId: s.accessKeyId,
      secretAccessKey: s.secretAccessKey,
      pageSize: 2,
    }),
    cleanup: async () => {},
  };
});

describe('s3 store against Swift: what a lab admin gets wrong', () => {
  let s: SwiftEndpoint | undefined;
  let bucket = '';
  beforeAll(async () => {
    s = ensureSwift();
    if (s) bucket = await newBucket(s);
  }, 600_000);

  it('a wrong secret is an auth error naming the endpoint and the bucket', async (ctx) => {
    if (!s) return ctx.skip();
    const store = createS3Store({
      bucket,
      endpoint: s.endpoint,
      region: 'us-east-1',
      accessKeyId: s.accessKeyId,
      secretAccessKey: 'wrong-secret',
    });
    for (const attempt of [() => store.head('x'), () => store.get('x'), () => store.list('')]) {
      const err = (await attempt().catch((e: unknown) => e)) as StoreError;
      expect(err).toBeInstanceOf(StoreError);
      expect(err.code).toBe('auth');
      expect(err.message).toContain(s.endpoint);
      expect(err.message).toContain(bucket);
      expect(err.message).not.toContain('wrong-secret');
    }
  });

  it('a missing bucket is named as missing', async (ctx) => {
    if (!s) return ctx.skip();
    const store = createS3Store({
      bucket: 'no-such-bucket-here',
      endpoint: s.endpoint,
      region: 'us-east-1',
      accessKeyId: s.accessKeyId,
      secretAccessKey: s.secretAccessKey,
    });
    for (const attempt of [() => store.head('x'), () => store.get('x'), () => store.list('')]) {
      const err = (await attempt().catch((e: unknown) => e)) as StoreError;
      expect(err.code).toBe('no-bucket');
      expect(err.message).toContain('"no-such-bucket-here" does not exist');
    }
  });

  it('a presigned URL downloads with plain fetch; a tampered one gets 403', async (ctx) => {
    if (!s) return ctx.skip();
    const store = createS3Store({
      bucket,
      endpoint: s.endpoint,
      region: 'us-east-1',
      accessKeyId: s.accessKeyId,
      secretAccessKey: s.secretAccessKey,
    });
    const bytes = Buffer.from('presigned bytes');
    await store.put('assets/plugins/p-1.0.0.mpn', bytes, {
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    const url = await store.presignGet!('assets/plugins/p-1.0.0.mpn', 60);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(bytes)).toBe(true);
    const sig = /X-Amz-Signature=([0-9a-f]+)/.exec(url)!;
    const flipped = url.replace(
      sig[0],
      `X-Amz-Signature=${sig[1]!.slice(0, -1)}${sig[1]!.endsWith('0') ? '1' : '0'}`,
    );
    expect((await fetch(flipped)).status).toBe(403);
  });

  it('an endpoint nobody listens on is "unavailable", naming it', async () => {
    const store = createS3Store({
      bucket: 'any-bucket',
      endpoint: 'http://127.0.0.1:1',
      region: 'us-east-1',
      accessKeyId: 'a',
      secretAccessKey: 'b',
    });
    const err = (await store.head('x').catch((e: unknown) => e)) as StoreError;
    expect(err.code).toBe('unavailable');
    expect(err.message).toContain('http://127.0.0.1:1');
  });
});

describe('a hub build in an S3 bucket', () => {
  let s: SwiftEndpoint | undefined;
  let bucket = '';
  let dir = '';
  let cleanupBuild = () => {};
  beforeAll(async () => {
    s = ensureSwift();
    if (!s) return;
    bucket = await newBucket(s);
    const built = await buildRepoCatalog();
    dir = built.dir;
    cleanupBuild = built.cleanup;
  }, 600_000);
  afterAll(() => cleanupBuild());
  const storeFor = (sw: SwiftEndpoint) =>
    createS3Store({
      bucket,
      endpoint: sw.endpoint,
      region: 'us-east-1',
      accessKeyId: sw.accessKeyId,
      secretAccessKey: sw.secretAccessKey,
    });

  it('hub upload sends it once, then nothing; the API serves it from the bucket, archives by presigned redirect', async (ctx) => {
    if (!s) return ctx.skip();
    const env = {
      AWS_ACCESS_KEY_ID: s.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
      AWS_REGION: 'us-east-1',
    };
    const first = runHub(['upload', dir, '--bucket', bucket, '--endpoint', s.endpoint], REPO_ROOT, env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/: \d+ new, 0 replaced, 0 already there/);
    const again = runHub(['upload', dir, '--bucket', bucket, '--endpoint', s.endpoint], REPO_ROOT, env);
    expect(again.stdout).toMatch(/: 0 new, 0 replaced, \d+ already there; sent 0\.0 MiB/);
    const wrong = runHub(['upload', dir, '--bucket', bucket, '--endpoint', s.endpoint], REPO_ROOT, {
      ...env,
      AWS_SECRET_ACCESS_KEY: 'nope',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('refused the credentials');
    expect(wrong.stderr + wrong.stdout).not.toContain('nope');

    const app = createHubApp(createStoreSource(storeFor(s)), { presignSeconds: 60 });
    const index = await app.request('/v1/index.json');
    expect(Buffer.from(await index.arrayBuffer()).equals(readFileSync(join(dir, 'v1/index.json')))).toBe(
      true,
    );
    const redirect = await app.request('/assets/plugins/fft-1.1.0.mpn');
    expect(redirect.status).toBe(302);
    const bytes = Buffer.from(await (await fetch(redirect.headers.get('location')!)).arrayBuffer());
    expect(bytes.equals(readFileSync(join(dir, 'assets/plugins/fft-1.1.0.mpn')))).toBe(true);
  });
});

describe('hub publish --bucket: the archive goes to S3, never replacing a published object', () => {
  it('uploads the archive, points the entry at its https URL, and refuses other bytes under the same key', async (ctx) => {
    const s = ensureSwift();
    if (!s) return ctx.skip();
    const bucket = await newBucket(s);
    const work = mkdtempSync(join(tmpdir(), 'hub-publish-s3-'));
    try {
      const git = (dir: string, ...args: string[]) =>
        execFileSync('git', ['-C', dir, ...args], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }).trim();
      const repo = join(work, 'catalog-repo');
      mkdirSync(repo);
      git(repo, 'init', '-q', '-b', 'main');
      cpSync(join(REPO_ROOT, 'catalog'), join(repo, 'catalog'), { recursive: true });
      git(repo, 'add', '-A');
      git(repo, '-c', 'user.email=a@example.org', '-c', 'user.name=A', 'commit', '-q', '-m', 'catalog');
      git(repo, 'config', 'user.email', 'a@example.org');
      git(repo, 'config', 'user.name', 'A');
      const plugin = join(work, 'fft');
      cpSync(join(REPO_ROOT, 'examples', 'plugins', 'fft'), plugin, { recursive: true, dereference: true });
      const manifest = join(plugin, 'manifest.yaml');
      writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/^version:.*$/m, 'version: 1.3.0'));
      const env = {
        AWS_ACCESS_KEY_ID: s.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
        AWS_REGION: 'us-east-1',
        GITHUB_TOKEN: '',
      };
      const args = ['publish', plugin, '--repo-dir', repo, '--bucket', bucket, '--endpoint', s.endpoint];
      const base = 'https://archives.example.org/hub';
      const first = runHub([...args, '--archive-base-url', base], REPO_ROOT, env);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      // The branch adds the entry only; the archive is in the bucket, byte for byte.
      expect(git(repo, 'diff', '--name-only', 'main', 'publish/fft-1.3.0')).toBe(
        'catalog/plugins/fft/1.3.0.yaml',
      );
      const entry = git(repo, 'show', 'publish/fft-1.3.0:catalog/plugins/fft/1.3.0.yaml');
      expect(entry).toContain(`url: ${base}/assets/plugins/fft-1.3.0.mpn`);
      const sha = /sha256: ([0-9a-f]{64})/.exec(entry)![1]!;
      const stored = await client(s).send(
        new GetObjectCommand({ Bucket: bucket, Key: 'assets/plugins/fft-1.3.0.mpn' }),
      );
      const bytes = Buffer.from(await stored.Body!.transformToByteArray());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(sha);

      // Same version, other bytes: the bucket keeps what it has and nothing new is proposed.
      writeFileSync(join(plugin, 'README.md'), 'changed after publishing\n');
      const second = runHub(
        [...args, '--archive-base-url', base, '--branch', 'publish/fft-1.3.0-again'],
        REPO_ROOT,
        env,
      );
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('already holds assets/plugins/fft-1.3.0.mpn with different bytes');
      const after = await client(s).send(
        new GetObjectCommand({ Bucket: bucket, Key: 'assets/plugins/fft-1.3.0.mpn' }),
      );
      expect(Buffer.from(await after.Body!.transformToByteArray()).equals(bytes)).toBe(true);
      expect(git(repo, 'branch', '--list', 'publish/fft-1.3.0-again')).toBe('');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
