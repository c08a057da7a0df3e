import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ObjectStore } from '@magellon/hub-api';
import { createFsStore, createS3Store, UploadError, uploadBuild } from '@magellon/hub-api/node';
import { BUNDLE_MANIFEST } from '@magellon/hub-core';
import { endProgress, green, progress, red, safe } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

const MB = 1024 * 1024;

/**
 * The S3 store `--bucket`/`--endpoint`/`--region`/`--prefix` name (also `hub mirror --to s3://`),
 * credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the SDK's usual files).
 */
export function s3StoreFromFlags(flags: {
  bucket: string;
  endpoint?: string;
  region?: string;
  prefix?: string;
}): ObjectStore {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(flags.bucket)) {
    throw new UsageError(
      `--bucket "${safe(flags.bucket)}" is not a bucket name (3-63 lowercase letters, digits, . and -)`,
    );
  }
  if (flags.endpoint && !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(flags.endpoint)) {
    throw new UsageError(`--endpoint "${safe(flags.endpoint)}" must be an http(s) URL`);
  }
  return createS3Store({
    bucket: flags.bucket,
    endpoint: flags.endpoint,
    region: flags.region ?? process.env.AWS_REGION ?? 'auto',
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    prefix: flags.prefix,
  });
}

export const uploadCommand: Command = {
  name: 'upload',
  help: `Usage: hub upload [build-dir] --bucket <name> [--endpoint <url>] [--region <r>] [--prefix <p>]
       hub upload [build-dir] --to-dir <dir>

Pushes a hub build (default: dist) to an S3 bucket with the S3 API: AWS S3,
Cloudflare R2 (--endpoint https://<account>.r2.cloudflarestorage.com), MinIO,
OpenStack Swift's s3api… The Cloudflare Worker (infra/wrangler.toml) serves
the bucket it is bound to. Archives go first, then every document with its
.gz and .br, and hub-bundle.json last, so readers never see a half upload.

Objects whose sha256 is already in the bucket are skipped (run it again after a
build and only what changed is sent). A published archive is never replaced by
different bytes: that stops the upload with an error (publish a new version).

Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for R2, an R2 API
token's key id and secret), or the usual AWS credential files.

Options:
  --bucket <name>     the bucket to upload to
  --endpoint <url>    the S3 endpoint (default: AWS, from --region)
  --region <r>        region (default: auto, what R2 expects)
  --prefix <p>        store every object under this key prefix
  --to-dir <dir>      upload into a local folder instead (a mirror; same rules)
  -h, --help          show this help

Exit codes: 0 uploaded (or nothing to do), 1 the store refused or failed, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('upload', args, {
      bucket: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      prefix: { type: 'string' },
      'to-dir': { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length > 1) throw new UsageError('hub upload takes at most one build dir');
    const dir = positionals[0] ?? 'dist';
    const bucket = values.bucket;
    const toDir = values['to-dir'];
    if (!bucket === !toDir)
      throw new UsageError('give --bucket <name> (S3, R2) or --to-dir <dir>, one of them');
    const s3 = bucket
      ? s3StoreFromFlags({
          bucket,
          endpoint: values.endpoint,
          region: values.region,
          prefix: values.prefix,
        })
      : undefined;
    if (!existsSync(join(dir, BUNDLE_MANIFEST))) {
      console.error(red(`✖ ${safe(dir)} is not a hub build (no ${BUNDLE_MANIFEST}); run hub build first`));
      return EXIT.failed;
    }
    if (toDir) mkdirSync(toDir, { recursive: true });
    const store: ObjectStore = toDir ? createFsStore(toDir) : (s3 as ObjectStore);
    const started = performance.now();
    try {
      const stats = await uploadBuild(dir, store, (p) =>
        progress(`uploading ${p.done}/${p.total} ${safe(p.key)} (${p.result})`),
      );
      endProgress();
      const ms = Math.round(performance.now() - started);
      console.log(
        green(
          `✔ ${safe(store.description)}: ${stats.created} new, ${stats.replaced} replaced, ${stats.unchanged} already there; sent ${(stats.bytesSent / MB).toFixed(1)} MiB in ${ms} ms`,
        ),
      );
      return EXIT.ok;
    } catch (err) {
      endProgress();
      if (err instanceof UploadError) {
        console.error(red(`✖ ${safe(err.message)}`));
        console.error(
          '  what was sent before it stays; nothing after it was sent. Fix the cause and run hub upload again.',
        );
        return EXIT.failed;
      }
      throw err;
    }
  },
};
