import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';
import { BUNDLE_MANIFEST, bytesEtag, encodedPath } from '../layout';
import type { BundleDocument, BundleManifest } from '../schema/api';
import { DOCUMENT_SCHEMA_VERSION } from '../schema/documents';

/** A served document's bytes in each encoding, made once at build time. */
export interface PreparedDocument extends BundleDocument {
  identity: Buffer;
  gzipBytes: Buffer;
  brBytes: Buffer;
}

export interface PreparedBundle {
  manifest: BundleManifest;
  /** By path (`v1/index.json`). */
  documents: Map<string, PreparedDocument>;
  /**
   * Documents whose compressed copies were not made again because `reuse` vouched for existing ones
   * (their gzipBytes and brBytes are empty; the caller links or copies the files it has).
   */
  reused: Set<string>;
}

export interface PrepareOptions {
  /**
   * Says whether a previous build already holds this document with this ETag and both compressed
   * copies (returning their sizes). Compressing is most of a build's time; unchanged documents can
   * skip it.
   */
  reuse?: (path: string, etag: string, size: number) => { gzip: number; br: number } | undefined;
}

/**
 * Compresses every document with gzip (level 6: level 9 took seven times as long on a 13 MB index
 * for 2% less) and brotli (quality 5: at 11 that index takes a minute, for 6% less), computes the
 * ETags, and returns the manifest the servers read.
 */
export async function prepareBundle(
  documents: ReadonlyMap<string, string | Uint8Array>,
  archives: BundleManifest['archives'],
  generated_at: string,
  opts: PrepareOptions = {},
): Promise<PreparedBundle> {
  const prepared = new Map<string, PreparedDocument>();
  const reused = new Set<string>();
  const none = Buffer.alloc(0);
  // Synchronously: through libuv's thread pool the same work took three to four times as long here.
  for (const [path, text] of documents) {
    const identity = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
    const etag = await bytesEtag(identity);
    const previous = opts.reuse?.(path, etag, identity.length);
    if (previous) {
      reused.add(path);
      prepared.set(path, {
        etag,
        size: identity.length,
        ...previous,
        identity,
        gzipBytes: none,
        brBytes: none,
      });
      continue;
    }
    const gzipBytes = gzipSync(identity, { level: 6 });
    const brBytes = brotliCompressSync(identity, {
      params: {
        [zlib.BROTLI_PARAM_QUALITY]: 5,
        [zlib.BROTLI_PARAM_SIZE_HINT]: identity.length,
        [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
      },
    });
    prepared.set(path, {
      etag,
      size: identity.length,
      gzip: gzipBytes.length,
      br: brBytes.length,
      identity,
      gzipBytes,
      brBytes,
    });
  }
  const sorted = new Map([...prepared].sort(([a], [b]) => (a < b ? -1 : 1)));
  const manifest: BundleManifest = {
    schema_version: DOCUMENT_SCHEMA_VERSION,
    generated_at,
    documents: Object.fromEntries(
      [...sorted].map(([path, d]) => [path, { etag: d.etag, size: d.size, gzip: d.gzip, br: d.br }]),
    ),
    archives: Object.fromEntries(Object.entries(archives).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  return { manifest, documents: sorted, reused };
}

/**
 * Every file of a prepared bundle by path: each document, its `.gz` and `.br`, and the manifest.
 * Reused documents are left out: their files come from the build that made them.
 */
export function bundleFiles(bundle: PreparedBundle): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const [path, d] of bundle.documents) {
    if (bundle.reused.has(path)) continue;
    files.set(path, d.identity);
    files.set(encodedPath(path, 'gzip'), d.gzipBytes);
    files.set(encodedPath(path, 'br'), d.brBytes);
  }
  files.set(BUNDLE_MANIFEST, Buffer.from(`${JSON.stringify(bundle.manifest, null, 2)}\n`, 'utf8'));
  return files;
}
