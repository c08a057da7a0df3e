// Where the API's data comes from: a prepared bundle (the documents `hub build` writes, with
// their ETags and encodings) and an archive store. Runtime-free.
import {
  BUNDLE_MANIFEST,
  type BundleManifest,
  bundleManifestSchema,
  type Encoding,
  encodedPath,
  INDEX_DOCUMENT,
  type IndexDocument,
  indexDocumentReadSchema,
} from '@magellon/hub-core';
import { type ObjectStore, StoreError } from './storage/store';

export interface HubSource {
  /** The bundle manifest: every document's ETag and sizes, every archive's sha256 and size. */
  manifest(): Promise<BundleManifest>;
  /** A document's bytes in one encoding, or undefined when it is not in the bundle. */
  document(path: string, encoding: Encoding): Promise<Uint8Array | ReadableStream<Uint8Array> | undefined>;
  /** The same, without waiting, when the bytes are in memory (the Node server's fast path uses it). */
  documentSync?(path: string, encoding: Encoding): Uint8Array | undefined;
  /** The manifest, without waiting, once it is loaded. */
  manifestSync?(): BundleManifest;
  /** `v1/index.json` parsed, for the listing. */
  index(): Promise<IndexDocument>;
  /** Archives by key (`assets/plugins/<file>.mpn`). */
  archives: ObjectStore;
  /** TUF metadata by key (`tuf/metadata/<file>`); the archives store when not given. */
  metadata?: ObjectStore;
}

/** A document's three encodings, in memory. */
export interface MemoryDocument {
  identity: Uint8Array;
  gzipBytes: Uint8Array;
  brBytes: Uint8Array;
}

const pick = (d: MemoryDocument, encoding: Encoding) =>
  encoding === 'identity' ? d.identity : encoding === 'gzip' ? d.gzipBytes : d.brBytes;

/** A source whose documents are all in memory (the Node server: built at start, served with no I/O). */
export function createMemorySource(
  manifest: BundleManifest,
  documents: ReadonlyMap<string, MemoryDocument>,
  archives: ObjectStore,
): HubSource {
  let index: IndexDocument | undefined;
  const documentSync = (path: string, encoding: Encoding) => {
    const d = documents.get(path);
    return d ? pick(d, encoding) : undefined;
  };
  return {
    archives,
    manifest: async () => manifest,
    manifestSync: () => manifest,
    documentSync,
    document: async (path, encoding) => documentSync(path, encoding),
    index: async () => {
      if (!index) {
        const bytes = documentSync(INDEX_DOCUMENT, 'identity');
        index = indexDocumentReadSchema.parse(JSON.parse(new TextDecoder().decode(bytes))) as IndexDocument;
      }
      return index;
    },
  };
}

export interface StoreSourceOptions {
  /** How long a loaded manifest (and the index parsed with it) is trusted before it is read again. */
  manifestTtlMs?: number;
  now?: () => number;
}

/**
 * A source that reads the bundle from a store (R2 in the Worker; S3 or fs work alike): the
 * manifest once per `manifestTtlMs`, documents on demand. Only paths the manifest lists are read.
 */
export function createStoreSource(store: ObjectStore, opts: StoreSourceOptions = {}): HubSource {
  const ttl = opts.manifestTtlMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let cached: { at: number; manifest: BundleManifest; index?: IndexDocument } | undefined;

  const readJson = async (key: string): Promise<unknown> => {
    const got = await store.get(key);
    if (!got) throw new StoreError('io', `${store.description} has no ${key}; run hub upload`);
    return JSON.parse(await new Response(got.body).text());
  };
  const manifest = async (): Promise<BundleManifest> => {
    if (cached && now() - cached.at < ttl) return cached.manifest;
    const m = bundleManifestSchema.parse(await readJson(BUNDLE_MANIFEST));
    cached = { at: now(), manifest: m };
    return m;
  };
  return {
    archives: store,
    manifest,
    document: async (path, encoding) => {
      const m = await manifest();
      if (!m.documents[path]) return undefined;
      return (await store.get(encodedPath(path, encoding)))?.body;
    },
    index: async () => {
      await manifest();
      const entry = cached!;
      entry.index ??= indexDocumentReadSchema.parse(await readJson(INDEX_DOCUMENT)) as IndexDocument;
      return entry.index;
    },
  };
}
