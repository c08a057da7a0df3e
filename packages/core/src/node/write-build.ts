import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { LoadedEntry } from '../catalog/model';
import { buildHubDocuments, serializeDocument } from '../documents/build-index';
import { localArchivePath } from './check-archives';

/** A file every hub build holds, so `hub build` only ever replaces a dir it made itself. */
export const BUILD_MARKER = '.hub-build';

export class BuildError extends Error {
  constructor(
    message: string,
    readonly code: string,
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
}

/** A build held in memory: every document's bytes by path under the output dir, and the archives to copy. */
export interface RenderedBuild {
  /** `v1/index.json`, `v1/categories.json`, `v1/plugins/<id>.json` → serialized JSON. */
  documents: Map<string, string>;
  /** Archive files under the catalog and where they go under the output dir. */
  archives: Array<{ src: string; dest: string }>;
  plugins: number;
  versions: number;
}

/** Renders every /v1 document in memory (no I/O besides checking which archives exist locally). */
export function renderHubBuild(catalogRoot: string, entries: readonly LoadedEntry[]): RenderedBuild {
  const root = resolve(catalogRoot);
  const docs = buildHubDocuments(entries.map((e) => e.entry));
  const documents = new Map<string, string>([
    ['v1/index.json', serializeDocument(docs.index)],
    ['v1/categories.json', serializeDocument(docs.categories)],
  ]);
  for (const [id, doc] of docs.plugins) documents.set(`v1/plugins/${id}.json`, serializeDocument(doc));
  const archives: RenderedBuild['archives'] = [];
  for (const { entry } of entries) {
    const src = localArchivePath(root, entry.archive.url);
    if (src && existsSync(src)) archives.push({ src, dest: relative(root, src) });
  }
  return { documents, archives, plugins: docs.plugins.size, versions: entries.length };
}

/**
 * Writes the /v1 documents and the archives layout:
 * `v1/index.json`, `v1/categories.json`, `v1/plugins/<id>.json`, `assets/plugins/*.mpn`.
 * The new tree is written beside `out` and swapped in at the end, so a failed build
 * leaves the previous one untouched.
 */
export function writeHubBuild(
  catalogRoot: string,
  entries: readonly LoadedEntry[],
  outArg: string,
): BuildStats {
  checkBuildTarget(catalogRoot, outArg);
  return writeRenderedBuild(renderHubBuild(catalogRoot, entries), outArg);
}

/** Refuses an output dir that holds the catalog, or a non-empty dir hub build did not make. */
export function checkBuildTarget(catalogRoot: string, outArg: string): void {
  const out = resolve(outArg);
  const root = resolve(catalogRoot);
  if (!relative(out, root).startsWith('..') || out === dirname(out)) {
    throw new BuildError(
      `refusing to build into ${outArg}: it holds the catalog; choose a separate dir such as dist`,
      'build.bad-out',
    );
  }
  if (existsSync(out) && readdirSync(out).length > 0 && !existsSync(join(out, BUILD_MARKER))) {
    throw new BuildError(
      `refusing to replace ${outArg}: it is not empty and was not made by hub build`,
      'build.bad-out',
    );
  }
}

/** Writes a rendered build into a staging dir and swaps it in for `out` (see writeHubBuild). */
export function writeRenderedBuild(build: RenderedBuild, outArg: string): BuildStats {
  const out = resolve(outArg);
  const staging = join(dirname(out), `.${basename(out)}.building-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    mkdirSync(join(staging, 'v1', 'plugins'), { recursive: true });
    mkdirSync(join(staging, 'assets', 'plugins'), { recursive: true });
    writeFileSync(join(staging, BUILD_MARKER), 'made by hub build; safe to delete\n');
    for (const [path, text] of build.documents) writeFileSync(join(staging, path), text);
    for (const { src, dest } of build.archives) {
      mkdirSync(dirname(join(staging, dest)), { recursive: true });
      copyFileSync(src, join(staging, dest));
    }
    const old = `${staging}.old`;
    if (existsSync(out)) renameSync(out, old);
    renameSync(staging, out);
    rmSync(old, { recursive: true, force: true });
    return {
      out,
      plugins: build.plugins,
      versions: build.versions,
      documents: build.documents.size,
      archives: build.archives.length,
    };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw new BuildError(`could not write ${outArg}: ${(err as Error).message}`, 'build.write-failed');
  }
}
