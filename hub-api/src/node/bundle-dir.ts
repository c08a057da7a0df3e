import { join } from 'node:path';
import { BUNDLE_MANIFEST, type BundleManifest, bundleManifestSchema, encodedPath } from '@magellon/hub-core';
import { FileTree } from '@magellon/hub-core/node';
import type { MemoryDocument } from '../source';

/** The largest document (or manifest) a server loads: far above a 10,000-plugin index (~30 MB). */
export const MAX_DOCUMENT_BYTES = 512 * 1024 * 1024;

export class BundleDirError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'BundleDirError';
  }
}

/**
 * Loads a build dir's bundle (what `hub build` writes) into memory: the manifest, then each
 * document with its `.gz` and `.br`, each read only if it is a regular file inside the dir and
 * checked against the size the manifest gives it.
 */
export function loadBundleDir(dir: string): {
  manifest: BundleManifest;
  documents: Map<string, MemoryDocument>;
} {
  const tree = new FileTree(dir);
  const read = (rel: string, expected?: number): Buffer => {
    const got = tree.read(join(tree.real, rel), expected ?? MAX_DOCUMENT_BYTES);
    if (!got.ok) throw new BundleDirError(`${rel} ${got.refusal.message}`, rel);
    if (expected !== undefined && got.bytes.length !== expected) {
      throw new BundleDirError(
        `${rel} has ${got.bytes.length} bytes but ${BUNDLE_MANIFEST} says ${expected}; rebuild with hub build`,
        rel,
      );
    }
    return Buffer.from(got.bytes);
  };
  let manifest: BundleManifest;
  try {
    manifest = bundleManifestSchema.parse(JSON.parse(read(BUNDLE_MANIFEST).toString('utf8')));
  } catch (err) {
    if (err instanceof BundleDirError) throw err;
    throw new BundleDirError(
      `${BUNDLE_MANIFEST} is not a hub bundle manifest (${(err as Error).message.split('\n')[0]}); rebuild with hub build`,
      BUNDLE_MANIFEST,
    );
  }
  const documents = new Map<string, MemoryDocument>();
  for (const [path, d] of Object.entries(manifest.documents)) {
    documents.set(path, {
      identity: read(path, d.size),
      gzipBytes: read(encodedPath(path, 'gzip'), d.gzip),
      brBytes: read(encodedPath(path, 'br'), d.br),
    });
  }
  return { manifest, documents };
}
