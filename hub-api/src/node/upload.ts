import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUNDLE_MANIFEST,
  type BundleManifest,
  encodedPath,
  TUF_METADATA_DIR,
  TUF_METADATA_FILE,
} from '@magellon/hub-core';
import { FileTree } from '@magellon/hub-core/node';
import { type ObjectStore, type PutResult, StoreError } from '../storage/store';
import { loadBundleDir, MAX_DOCUMENT_BYTES } from './bundle-dir';

/** The largest archive `hub upload` sends (the hub's archive limit is far below this). */
export const MAX_UPLOAD_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024;

export interface UploadStats {
  created: number;
  replaced: number;
  unchanged: number;
  bytesSent: number;
}

export interface UploadProgress {
  done: number;
  total: number;
  key: string;
  result: PutResult;
}

/** Why an upload stopped: the key it was at and the store's error. Nothing after it was sent. */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly key: string,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Pushes a build dir (what `hub build` writes) to a store: archives first, then every document
 * and its encodings, and the bundle manifest last, so a reader never finds a manifest naming
 * objects that are not there yet. Objects whose sha256 is already in the store are skipped;
 * a published archive is never replaced by different bytes (the store refuses: `conflict`).
 * Archives are checked against the sha256 the manifest gives them before anything is sent.
 */
export async function uploadBuild(
  dir: string,
  store: ObjectStore,
  onProgress?: (p: UploadProgress) => void,
): Promise<UploadStats> {
  const { manifest, documents } = loadBundleDir(dir);
  const tree = new FileTree(dir);
  const stats: UploadStats = { created: 0, replaced: 0, unchanged: 0, bytesSent: 0 };
  const archiveKeys = Object.keys(manifest.archives);
  // TUF metadata: versioned files first, then root.json, timestamp.json last (a reader following
  // the new timestamp finds everything it names).
  const tufDir = join(tree.real, TUF_METADATA_DIR);
  let tufFiles: string[] = [];
  try {
    tufFiles = readdirSync(tufDir).filter((f) => TUF_METADATA_FILE.test(f));
  } catch {}
  const rank = (f: string) => (f === 'timestamp.json' ? 2 : f === 'root.json' ? 1 : 0);
  tufFiles.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  const total = archiveKeys.length + documents.size * 3 + tufFiles.length + 1;
  let done = 0;
  const put = async (key: string, bytes: Uint8Array, contentType: string, immutable: boolean) => {
    let result: PutResult;
    try {
      result = await store.put(key, bytes, { sha256: sha256(bytes), contentType, immutable });
    } catch (err) {
      const why =
        err instanceof StoreError && err.code === 'conflict'
          ? `${store.description} already holds ${key} with different bytes; a published archive never changes (publish a new version instead)`
          : `${key}: ${(err as Error).message}`;
      throw new UploadError(`upload stopped at ${why}`, key, err);
    }
    stats[result]++;
    if (result !== 'unchanged') stats.bytesSent += bytes.length;
    onProgress?.({ done: ++done, total, key, result });
  };

  for (const key of archiveKeys) {
    const info = manifest.archives[key] as BundleManifest['archives'][string];
    const read = tree.read(join(tree.real, key), Math.min(info.size, MAX_UPLOAD_ARCHIVE_BYTES));
    if (!read.ok)
      throw new UploadError(`upload stopped at ${key}: it ${read.refusal.message}`, key, undefined);
    const bytes = Buffer.from(read.bytes);
    if (bytes.length !== info.size || sha256(bytes) !== info.sha256) {
      throw new UploadError(
        `upload stopped at ${key}: its bytes do not match the sha256 and size in ${BUNDLE_MANIFEST}; rebuild with hub build`,
        key,
        undefined,
      );
    }
    await put(key, bytes, 'application/zip', true);
  }
  for (const [path, d] of documents) {
    await put(path, d.identity, JSON_TYPE, false);
    await put(encodedPath(path, 'gzip'), d.gzipBytes, 'application/gzip', false);
    await put(encodedPath(path, 'br'), d.brBytes, 'application/x-brotli', false);
  }
  for (const f of tufFiles) {
    const key = `${TUF_METADATA_DIR}/${f}`;
    const read = tree.read(join(tufDir, f), MAX_DOCUMENT_BYTES);
    if (!read.ok)
      throw new UploadError(`upload stopped at ${key}: it ${read.refusal.message}`, key, undefined);
    await put(key, Buffer.from(read.bytes), JSON_TYPE, false);
  }
  const manifestRead = tree.read(join(tree.real, BUNDLE_MANIFEST), MAX_DOCUMENT_BYTES);
  if (!manifestRead.ok)
    throw new UploadError(`${BUNDLE_MANIFEST} ${manifestRead.refusal.message}`, BUNDLE_MANIFEST, undefined);
  await put(BUNDLE_MANIFEST, Buffer.from(manifestRead.bytes), JSON_TYPE, false);
  return stats;
}
