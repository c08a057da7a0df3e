// Every path and name the hub's parts agree on, spelled once: where a catalog keeps its entries,
// owners and archives; what a build writes and the API serves (documents, their encodings, the
// bundle manifest); the names of an archive's root manifest; and the ETags the build records and the
// servers send. `hub build`, the API (Node and Worker), CoreService's client, `publish`, `yank`,
// `verify`, `pack` and the installer all build and parse these names here, and the API serves
// exactly the TUF metadata files `hub build --tuf-keys` writes. Runtime-free: the ETag
// of bytes uses WebCrypto, so the Worker and Node compute it with the same function.

// ——— the catalog (a git repo's `catalog/` dir, or any dir holding `plugins/`) ———

/** The catalog's folder inside a hub repository. */
export const CATALOG_DIR = 'catalog';
/** The folder of plugin folders inside a catalog: `plugins/<plugin_id>/`. */
export const PLUGINS_DIR = 'plugins';
/** Who may set `tier: verified`, at the catalog's root. */
export const MAINTAINERS_FILE = 'maintainers.yaml';
/** The file name of a plugin's owners list, beside its `<version>.yaml` entries. */
export const OWNERS_FILE = 'owners.yaml';
/** The file name of a plugin's author-signed TUF targets metadata, beside its owners.yaml (docs/tuf.md). */
export const SIGNED_TARGETS_FILE = 'signed-targets.json';
/** Catalog entries (and owners lists) are YAML files with this suffix. */
export const ENTRY_SUFFIX = '.yaml';

/** The file name of a version's entry: `<version>.yaml`. */
export function entryFileName(version: string): string {
  return `${version}${ENTRY_SUFFIX}`;
}

/** A plugin's folder, relative to the catalog root: `plugins/<plugin_id>`. */
export function pluginDir(pluginId: string): string {
  return `${PLUGINS_DIR}/${pluginId}`;
}

/** A version's entry, relative to the catalog root: `plugins/<plugin_id>/<version>.yaml`. */
export function entryPath(pluginId: string, version: string): string {
  return `${pluginDir(pluginId)}/${entryFileName(version)}`;
}

/** A plugin's owners list, relative to the catalog root: `plugins/<plugin_id>/owners.yaml`. */
export function ownersPath(pluginId: string): string {
  return `${pluginDir(pluginId)}/${OWNERS_FILE}`;
}

/** A plugin's author-signed targets, relative to the catalog root. */
export function signedTargetsPath(pluginId: string): string {
  return `${pluginDir(pluginId)}/${SIGNED_TARGETS_FILE}`;
}

/** What a catalog-relative path is: an entry, an owners list, signed targets, an archive, or other. */
export type CatalogPathKind = 'entry' | 'owners' | 'signed-targets' | 'archive' | 'maintainers' | 'other';

/** Classifies a catalog-relative path (`/`-separated) by the layout above. */
export function catalogPathKind(rel: string): CatalogPathKind {
  if (rel === MAINTAINERS_FILE) return 'maintainers';
  if (rel.startsWith(`${ARCHIVES_DIR}/`)) return 'archive';
  const parts = rel.split('/');
  if (parts.length !== 3 || parts[0] !== PLUGINS_DIR || !parts[1]) return 'other';
  const name = parts[2]!;
  if (name === OWNERS_FILE) return 'owners';
  if (name === SIGNED_TARGETS_FILE) return 'signed-targets';
  return name.endsWith(ENTRY_SUFFIX) && name.length > ENTRY_SUFFIX.length ? 'entry' : 'other';
}

// ——— archives (in a catalog, in a build, in a store, and their URLs) ———

/** Plugin archives end with this. */
export const ARCHIVE_SUFFIX = '.mpn';
/** The catalog's (and a build's) folder of files served as they are. */
export const ASSETS_DIR = 'assets';
/** Where archives live in a catalog, a build and a store, and the API's URL path for them. */
export const ARCHIVES_DIR = `${ASSETS_DIR}/plugins`;

/** The archive file name the hub uses for a version: `<plugin_id>-<version>.mpn`. */
export function archiveFileName(pluginId: string, version: string): string {
  return `${pluginId}-${version}${ARCHIVE_SUFFIX}`;
}

/** An archive's key in a build or store (and its path in a catalog): `assets/plugins/<file>`. */
export function archiveKey(file: string): string {
  return `${ARCHIVES_DIR}/${file}`;
}

/** The key of a version's archive: `assets/plugins/<plugin_id>-<version>.mpn`. */
export function versionArchiveKey(pluginId: string, version: string): string {
  return archiveKey(archiveFileName(pluginId, version));
}

/** The hub-relative URL archives are served from: `/assets/plugins/<plugin_id>-<version>.mpn`. */
export function hubArchiveUrl(pluginId: string, version: string): string {
  return `/${versionArchiveKey(pluginId, version)}`;
}

/** The archive file named by a hub-relative archive URL or key (`/assets/plugins/x.mpn` → `x.mpn`), or undefined. */
export function archiveFileOf(urlOrKey: string): string | undefined {
  const key = urlOrKey.startsWith('/') ? urlOrKey.slice(1) : urlOrKey;
  if (!key.startsWith(`${ARCHIVES_DIR}/`)) return undefined;
  const file = key.slice(ARCHIVES_DIR.length + 1);
  return file !== '' && !file.includes('/') ? file : undefined;
}

/** An archive's (and a source dir's) manifest, at its root. */
export const ARCHIVE_MANIFEST = 'manifest.yaml';
/** The legacy alias of the manifest that archives also carry, byte-identical. */
export const LEGACY_MANIFEST = 'plugin.yaml';
/** The manifest names, the current one first. */
export const MANIFEST_NAMES = [ARCHIVE_MANIFEST, LEGACY_MANIFEST] as const;

// ——— a build: documents, their encodings, the bundle manifest ———

/** The path of the bundle manifest inside a build and a store. */
export const BUNDLE_MANIFEST = 'hub-bundle.json';
/** The listing the Magellon web app reads. */
export const INDEX_DOCUMENT = 'v1/index.json';
/** Every category with its plugin count. */
export const CATEGORIES_DOCUMENT = 'v1/categories.json';
/** The API's OpenAPI description. */
export const OPENAPI_DOCUMENT = 'v1/openapi.json';
/** The folder of the plugins' documents (and the listing's URL path, `/v1/plugins`). */
export const PLUGIN_DOCUMENTS_DIR = 'v1/plugins';
/** The folder of the categories' documents. */
export const CATEGORY_DOCUMENTS_DIR = 'v1/categories';
/** The folders documents are written in, parents first. */
export const DOCUMENT_DIRS = ['v1', PLUGIN_DOCUMENTS_DIR, CATEGORY_DOCUMENTS_DIR] as const;

/** Every dir a build (and a mirror) has, parents first: the documents' and the archives'. */
export const BUILD_DIRS = [...DOCUMENT_DIRS, ASSETS_DIR, ARCHIVES_DIR] as const;

/** One plugin's document (every version): `v1/plugins/<plugin_id>.json`. */
export function pluginDocumentPath(pluginId: string): string {
  return `${PLUGIN_DOCUMENTS_DIR}/${pluginId}.json`;
}

/** One category's document: `v1/categories/<slug>.json`. */
export function categoryDocumentPath(slug: string): string {
  return `${CATEGORY_DOCUMENTS_DIR}/${slug}.json`;
}

/** What a plugin's or category's document path names (`v1/plugins/fft.json` → plugin fft), or undefined. */
export function documentSubject(path: string): { kind: 'plugin' | 'category'; name: string } | undefined {
  const m = /^v1\/(plugins|categories)\/([^/]+)\.json$/.exec(path);
  if (!m) return undefined;
  return { kind: m[1] === 'plugins' ? 'plugin' : 'category', name: m[2]! };
}

/** Whether a build-relative path is one a build writes documents at (the three shapes above). */
export function isDocumentPath(path: string): boolean {
  return /^v1\/(?:(?:plugins|categories)\/)?[^/]+\.json$/.test(path);
}

/** The content-codings a document is prepared (and served) in. */
export type Encoding = 'identity' | 'gzip' | 'br';
/** Every encoding, identity first. */
export const ENCODINGS: readonly Encoding[] = ['identity', 'gzip', 'br'];
/** The suffix of a document's file in each encoding: `index.json`, `index.json.gz`, `index.json.br`. */
export const ENCODING_SUFFIX: Readonly<Record<Encoding, string>> = { identity: '', gzip: '.gz', br: '.br' };

/** The file (or store key) of a document in one encoding. */
export function encodedPath(path: string, encoding: Encoding): string {
  return `${path}${ENCODING_SUFFIX[encoding]}`;
}

// ——— signed metadata (TUF; see node/tuf.ts for how it is made) ———

/** The metadata dir in a build, and its path under the API's root URL: `/tuf/metadata/<file>`. */
export const TUF_METADATA_DIR = 'tuf/metadata';

/**
 * A metadata file the hub serves: `N.root.json`, `N.snapshot.json`, `N.targets.json`, the delegated
 * roles `N.hub.json`, its hash bins `N.hub-bin-<hex>.json` and `N.plugin-<plugin_id>.json` (a catalog
 * slug), `root.json`, `timestamp.json`.
 */
export const TUF_METADATA_FILE =
  /^(?:[1-9][0-9]{0,9}\.(?:root|snapshot|targets|hub|hub-bin-[0-9a-f]{1,4}|plugin-[a-z0-9._-]{1,100})|root|timestamp)\.json$/;

/**
 * A role's metadata file: `<version>.<role>.json` (what clients fetch by version, and snapshot lists
 * as `<role>.json`), or `<role>.json` without a version (`timestamp.json`, the newest `root.json`).
 */
export function tufMetadataFile(role: string, version?: number): string {
  return version === undefined ? `${role}.json` : `${version}.${role}.json`;
}

// ——— ETags ———

/**
 * The strong ETag of bytes: a quoted, url-safe sha256 prefix (128 bits). The build records it for
 * every document; the API computes it for listing pages. WebCrypto, so Node and Workers agree.
 */
export async function bytesEtag(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let bin = '';
  for (const b of digest) bin += String.fromCharCode(b);
  return `"${btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').slice(0, 22)}"`;
}

/**
 * The ETag of one encoding of a document. Each content-coding is its own representation, so each
 * gets its own strong validator (RFC 9110 §8.8.3); a client revalidating with any of them gets a 304.
 */
export function encodedEtag(etag: string, encoding: Encoding): string {
  return encoding === 'identity' ? etag : `${etag.slice(0, -1)}-${encoding}"`;
}

/** A document's ETag in every encoding, identity first (any of them revalidates it). */
export function encodingEtags(etag: string): string[] {
  return ENCODINGS.map((e) => encodedEtag(etag, e));
}

/** An archive's ETag: its sha256, quoted (archives never change under one name). */
export function archiveEtag(sha256: string): string {
  return `"${sha256}"`;
}
