import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { LoadedEntry } from '../catalog/model';
import { buildHubDocuments, serializeDocument } from '../documents/build-index';
import { buildOpenApiDocument } from '../documents/openapi';
import { type Finding, hasErrors } from '../findings';
import {
  BUILD_DIRS,
  BUNDLE_MANIFEST,
  bytesEtag,
  CATEGORIES_DOCUMENT,
  categoryDocumentPath,
  ENCODINGS,
  encodedPath,
  INDEX_DOCUMENT,
  isDocumentPath,
  OPENAPI_DOCUMENT,
  pluginDocumentPath,
  TUF_METADATA_DIR,
} from '../layout';
import type { BundleManifest } from '../schema/api';
import { DOCUMENT_SCHEMA_VERSION } from '../schema/documents';
import { bundleFiles, type PrepareOptions, prepareBundle } from './bundle';
import { checkCatalogArchives, locateArchive } from './check-archives';
import { isInside } from './fs/tree-file';
import { errnoOf, ioFinding } from './io-error';
import { TufError, tufTargets, type WriteTufOptions, writeTufRepository } from './tuf';

/** A file every hub build holds, so `hub build` only ever replaces a dir it made itself. */
export const BUILD_MARKER = '.hub-build';

export class BuildError extends Error {
  constructor(
    message: string,
    readonly code: 'build.bad-out' | 'build.write-failed',
  ) {
    super(message);
  }
}

export interface BuildStats {
  out: string;
  plugins: number;
  versions: number;
  documents: number;
  archives: number;
  /** The output already held exactly this build, so nothing was written. */
  unchanged?: boolean;
}

/** A build either happened (stats) or was refused because archives failed their checks (findings). */
export type BuildResult =
  | { ok: true; stats: BuildStats; findings: Finding[] }
  | { ok: false; findings: Finding[] };

/** A build held in memory: every document's bytes by path under the output dir, and the archives to copy. */
export interface RenderedBuild {
  catalogRoot: string;
  entries: readonly LoadedEntry[];
  /**
   * `v1/index.json`, `v1/categories.json`, `v1/categories/<slug>.json`, `v1/plugins/<id>.json`,
   * `v1/openapi.json` → serialized JSON.
   */
  documents: Map<string, string>;
  /** Hub-relative archive paths (`assets/plugins/x.mpn`) the build publishes. */
  archives: string[];
  /** The sha256 and size the catalog gives each archive path (checked against the bytes when copied). */
  archiveInfo: BundleManifest['archives'];
  /** The catalog's own clock (see catalogTimestamp). */
  generated_at: string;
  plugins: number;
  versions: number;
}

export interface WriteBuildOptions {
  /** Paths in findings relative to this dir (as loadCatalog's displayFrom). */
  displayFrom?: string;
  /**
   * The previous build is renamed aside and then removed: 'background' (default) in a detached
   * process so the command returns at once, 'wait' before returning.
   */
  removeOld?: 'background' | 'wait';
  onProgress?: (done: number, total: number, entry: LoadedEntry) => void;
  /**
   * Also write signed TUF metadata into `<out>/tuf/metadata/` (see tuf.ts). Its versions continue
   * from `previousMetadataDir` when given, else from the output being replaced, else start at 1.
   */
  tuf?: Omit<WriteTufOptions, 'requirePrevious' | 'authors'> & {
    /** The catalog's author-signed plugins (LoadedCatalog.authorRoles): required, so none is forgotten. */
    authors: NonNullable<WriteTufOptions['authors']>;
  };
}

/** Renders every /v1 document in memory (no I/O). */
export function renderHubBuild(catalogRoot: string, entries: readonly LoadedEntry[]): RenderedBuild {
  const root = resolve(catalogRoot);
  const docs = buildHubDocuments(entries.map((e) => e.entry));
  const documents = new Map<string, string>([
    [INDEX_DOCUMENT, serializeDocument(docs.index)],
    [CATEGORIES_DOCUMENT, serializeDocument(docs.categories)],
    [OPENAPI_DOCUMENT, serializeDocument(buildOpenApiDocument(DOCUMENT_SCHEMA_VERSION))],
  ]);
  for (const [id, doc] of docs.plugins) documents.set(pluginDocumentPath(id), serializeDocument(doc));
  for (const [slug, doc] of docs.category) documents.set(categoryDocumentPath(slug), serializeDocument(doc));
  const archives: string[] = [];
  const archiveInfo: BundleManifest['archives'] = {};
  for (const { entry } of entries) {
    const where = locateArchive(root, entry.archive.url);
    if (where.kind !== 'local') continue;
    archives.push(where.rel);
    archiveInfo[where.rel] = { sha256: entry.archive.sha256, size: entry.archive.size_bytes };
  }
  return {
    catalogRoot: root,
    entries,
    documents,
    archives,
    archiveInfo,
    generated_at: docs.index.generated_at,
    plugins: docs.plugins.size,
    versions: entries.length,
  };
}

/**
 * Builds the /v1 documents and the archives layout into `out`:
 * `v1/index.json`, `v1/categories.json`, `v1/plugins/<id>.json`, `assets/plugins/*.mpn`.
 * Every local archive is copied and the copy checked (size, sha256, safe unzip, manifest ↔ entry);
 * any failure refuses the whole build with findings. The new tree is written beside `out` and
 * swapped in at the end, so a failed build leaves the previous one untouched.
 */
export async function writeHubBuild(
  catalogRoot: string,
  entries: readonly LoadedEntry[],
  outArg: string,
  opts: WriteBuildOptions = {},
): Promise<BuildResult> {
  checkBuildTarget(catalogRoot, outArg);
  return writeRenderedBuild(renderHubBuild(catalogRoot, entries), outArg, opts);
}

/**
 * Whether `out` can become an output dir, before any work: it is a folder or does not exist yet,
 * the nearest existing folder above it is a folder, and that folder accepts new entries. The last
 * check makes a real (empty, at once removed) folder, because permissions alone do not tell: /proc
 * and /sys refuse new folders with ENOENT, and Node 20's recursive mkdir loops forever there.
 * Returns the problem as an `io.*` finding on `out` (or on the folder that refuses), else undefined.
 */
export function outputDirProblem(out: string): Finding | undefined {
  let dir = resolve(out);
  for (;;) {
    try {
      if (!statSync(dir).isDirectory()) {
        return ioFinding(Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }), out);
      }
      break;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') return ioFinding(err, out);
    }
    const up = dirname(dir);
    if (up === dir) return ioFinding(Object.assign(new Error('no root'), { code: 'ENOENT' }), out);
    dir = up;
  }
  try {
    rmdirSync(mkdtempSync(join(dir, '.hub-write-check-')));
    return undefined;
  } catch (err) {
    const rel = relative(process.cwd(), dir);
    const shown = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR')
      return {
        file: shown,
        severity: 'error',
        code: 'io.not-writable',
        message: `refuses new folders (${errnoOf(err)} from mkdir), so ${out} cannot be made there; choose another location, e.g. --out dist`,
      };
    return ioFinding(err, shown);
  }
}

/**
 * Refuses an output dir that holds the catalog or sits inside it, a non-empty dir hub build did not
 * make, or one that cannot be created (see {@link outputDirProblem}). Writes nothing.
 */
export function checkBuildTarget(catalogRoot: string, outArg: string): void {
  const out = resolve(outArg);
  const root = resolve(catalogRoot);
  if (isInside(out, root) || out === dirname(out)) {
    throw new BuildError(
      `refusing to build into ${outArg}: it holds the catalog; choose a separate dir such as dist`,
      'build.bad-out',
    );
  }
  if (isInside(root, out)) {
    throw new BuildError(
      `refusing to build into ${outArg}: it is inside the catalog, whose files the build reads; choose a dir outside it such as dist`,
      'build.bad-out',
    );
  }
  const problem = outputDirProblem(outArg);
  if (problem) {
    throw new BuildError(`cannot build into ${outArg}: ${problem.file} ${problem.message}`, 'build.bad-out');
  }
  let stats: ReturnType<typeof lstatSync> | undefined;
  try {
    stats = lstatSync(out);
  } catch {
    return;
  }
  if (!stats.isDirectory()) {
    throw new BuildError(`refusing to replace ${outArg}: it is not a directory`, 'build.bad-out');
  }
  if (readdirSync(out).length > 0 && !existsSync(join(out, BUILD_MARKER))) {
    throw new BuildError(
      `refusing to replace ${outArg}: it is not empty and was not made by hub build`,
      'build.bad-out',
    );
  }
}

/** Creates `dir`'s missing parents one level at a time (checked writable by outputDirProblem). */
function makeParents(dir: string): void {
  const missing: string[] = [];
  for (let current = dir; !existsSync(current); current = dirname(current)) missing.unshift(current);
  for (const d of missing) mkdirSync(d);
}

/** Writes a rendered build into a staging dir, checks its archives, and swaps it in for `out`. */
export async function writeRenderedBuild(
  build: RenderedBuild,
  outArg: string,
  opts: WriteBuildOptions = {},
): Promise<BuildResult> {
  const out = resolve(outArg);
  const stats = {
    out,
    plugins: build.plugins,
    versions: build.versions,
    documents: build.documents.size,
    archives: build.archives.length,
  };
  const previous = previousBuild(out);
  // With TUF the metadata is signed afresh every build (a new timestamp), so nothing is skipped.
  if (!opts.tuf && (await previous.holds?.(build))) {
    // The output is this very build already: check the archives as always, write nothing.
    const findings = await checkCatalogArchives(build.catalogRoot, build.entries, {
      displayFrom: opts.displayFrom,
      onProgress: opts.onProgress,
    });
    if (hasErrors(findings)) return { ok: false, findings };
    return { ok: true, findings, stats: { ...stats, unchanged: true } };
  }
  const staging = join(dirname(out), `.${basename(out)}.building-${process.pid}`);
  const failed = (err: unknown, where = staging) => {
    discardStaging(staging);
    if (err instanceof TufError)
      return new BuildError(`no TUF metadata: ${err.code}: ${err.message}`, 'build.write-failed');
    return new BuildError(
      `could not write ${outArg}: ${ioFinding(err, where).message}`,
      'build.write-failed',
    );
  };
  let findings: Finding[];
  try {
    await writeStaging(build, staging, out, previous.reuse);
    findings = await checkCatalogArchives(build.catalogRoot, build.entries, {
      displayFrom: opts.displayFrom,
      copyInto: staging,
      onProgress: opts.onProgress,
    });
    if (hasErrors(findings)) {
      discardStaging(staging);
      return { ok: false, findings };
    }
    if (opts.tuf) {
      writeTufRepository(staging, tufTargets(build.documents, build.archiveInfo), {
        ...opts.tuf,
        previousMetadataDir: opts.tuf.previousMetadataDir ?? join(out, TUF_METADATA_DIR),
        requirePrevious: opts.tuf.previousMetadataDir !== undefined,
      });
    }
  } catch (err) {
    throw failed(err);
  }
  const old = swapIn(staging, out, (err) => failed(err, out));
  removeAside(old, opts.removeOld ?? 'background');
  return { ok: true, findings, stats };
}

/** Moves the staging dir to `out`, the previous output aside (put back if the move fails); returns where it went. */
function swapIn(staging: string, out: string, failed: (err: unknown) => Error): string {
  const old = join(dirname(out), `.${basename(out)}.old-${process.pid}-${Date.now()}`);
  try {
    if (existsSync(out)) renameSync(out, old);
    renameSync(staging, out);
  } catch (err) {
    if (!existsSync(out) && existsSync(old)) renameSync(old, out);
    throw failed(err);
  }
  return old;
}

/** Writes the documents (prepared, or linked from the previous build when unchanged) into a fresh staging dir. */
async function writeStaging(
  build: RenderedBuild,
  staging: string,
  out: string,
  reuse: PrepareOptions['reuse'],
): Promise<void> {
  // A leftover of a build that crashed in this same process id.
  rmSync(staging, { recursive: true, force: true });
  makeParents(dirname(out));
  mkdirSync(staging);
  for (const dir of BUILD_DIRS) mkdirSync(join(staging, dir));
  writeFileSync(join(staging, BUILD_MARKER), 'made by hub build; safe to delete\n');
  const bundle = await prepareBundle(build.documents, build.archiveInfo, build.generated_at, { reuse });
  for (const [path, bytes] of bundleFiles(bundle)) writeFileSync(join(staging, path), bytes);
  // Unchanged documents: the previous build's files, linked (or copied where links fail).
  for (const path of bundle.reused) {
    for (const file of ENCODINGS.map((e) => encodedPath(path, e))) {
      try {
        linkSync(join(out, file), join(staging, file));
      } catch {
        copyFileSync(join(out, file), join(staging, file));
      }
    }
  }
  for (const rel of new Set(build.archives.map((a) => dirname(a)))) {
    mkdirSync(join(staging, rel), { recursive: true });
  }
}

/**
 * What the build being replaced can lend the new one: documents whose ETag is unchanged, with their
 * compressed copies, as its own bundle manifest records them. Only a dir `hub build` made, only
 * regular files of the recorded sizes; anything doubtful is simply compressed again.
 */
function previousBuild(out: string): {
  reuse: PrepareOptions['reuse'];
  /** Whether the output holds exactly `build`: every document (same ETag) and archive, each file there. */
  holds?: (build: RenderedBuild) => Promise<boolean>;
} {
  if (!existsSync(join(out, BUILD_MARKER))) return { reuse: undefined };
  let manifest: BundleManifest;
  try {
    // Its files are reused only from real dirs of its own (no linked dir leading elsewhere).
    for (const dir of BUILD_DIRS) {
      if (!lstatSync(join(out, dir)).isDirectory()) return { reuse: undefined };
    }
    const st = lstatSync(join(out, BUNDLE_MANIFEST));
    if (!st.isFile() || st.size > 256 * 1024 * 1024) return { reuse: undefined };
    const text = readFileSync(join(out, BUNDLE_MANIFEST), 'utf8');
    manifest = JSON.parse(text) as BundleManifest;
    if (manifest.schema_version !== DOCUMENT_SCHEMA_VERSION || typeof manifest.documents !== 'object') {
      return { reuse: undefined };
    }
  } catch {
    return { reuse: undefined };
  }
  const sized = (file: string, size: number) => {
    try {
      const st = lstatSync(join(out, file));
      return st.isFile() && st.size === size;
    } catch {
      return false;
    }
  };
  const names = (dir: string) => {
    try {
      return new Set(readdirSync(join(out, dir)));
    } catch {
      return new Set<string>();
    }
  };
  const holds = async (build: RenderedBuild): Promise<boolean> => {
    const docs = Object.keys(manifest.documents);
    if (docs.length !== build.documents.size) return false;
    const archives = manifest.archives ?? {};
    const wanted = Object.entries(build.archiveInfo);
    if (Object.keys(archives).length !== wanted.length) return false;
    for (const [rel, a] of wanted) {
      const had = Object.hasOwn(archives, rel) ? archives[rel] : undefined;
      if (!had || had.sha256 !== a.sha256 || had.size !== a.size || !sized(rel, a.size)) return false;
    }
    // One listing per dir instead of a stat per file: each document and both its copies are there.
    const listed = new Map<string, Set<string>>();
    for (const [path, text] of build.documents) {
      const d = Object.hasOwn(manifest.documents, path) ? manifest.documents[path] : undefined;
      if (!d) return false;
      const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
      if (d.size !== bytes.length || d.etag !== (await bytesEtag(bytes))) return false;
      if (!isDocumentPath(path)) return false;
      const dir = dirname(path);
      let here = listed.get(dir);
      if (!here) {
        here = names(dir);
        listed.set(dir, here);
      }
      const base = basename(path);
      if (!ENCODINGS.every((e) => here.has(encodedPath(base, e)))) return false;
    }
    return true;
  };
  return {
    holds,
    reuse: (path, etag, size) => {
      if (!isDocumentPath(path)) return undefined;
      const d = Object.hasOwn(manifest.documents, path) ? manifest.documents[path] : undefined;
      if (!d || d.etag !== etag || d.size !== size) return undefined;
      const sizes = { identity: size, gzip: d.gzip, br: d.br };
      if (!ENCODINGS.every((e) => sized(encodedPath(path, e), sizes[e]))) return undefined;
      return { gzip: d.gzip, br: d.br };
    },
  };
}

/** Removes a staging dir after a failure; a failure to remove it must not hide the first error. */
function discardStaging(staging: string): void {
  try {
    rmSync(staging, { recursive: true, force: true });
  } catch {
    // Left behind; the next build in this process id tries again.
  }
}

/** Removes the previous build, by default in a detached process so the swap is all the user waits for. */
function removeAside(old: string, how: 'background' | 'wait'): void {
  if (!existsSync(old)) return;
  if (how === 'wait') {
    rmSync(old, { recursive: true, force: true, maxRetries: 3 });
    return;
  }
  const child = spawn(
    process.execPath,
    [
      '-e',
      'require("node:fs").rmSync(process.argv[1], { recursive: true, force: true, maxRetries: 3 })',
      old,
    ],
    { detached: true, stdio: 'ignore' },
  );
  child.on('error', () => rmSync(old, { recursive: true, force: true }));
  child.unref();
}
