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
  const docs = buildHubDocuments(entries.map((e) => e.entry));
  const staging = join(dirname(out), `.${basename(out)}.building-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    mkdirSync(join(staging, 'v1', 'plugins'), { recursive: true });
    mkdirSync(join(staging, 'assets', 'plugins'), { recursive: true });
    writeFileSync(join(staging, BUILD_MARKER), 'made by hub build; safe to delete\n');
    writeFileSync(join(staging, 'v1', 'index.json'), serializeDocument(docs.index));
    writeFileSync(join(staging, 'v1', 'categories.json'), serializeDocument(docs.categories));
    for (const [id, doc] of docs.plugins)
      writeFileSync(join(staging, 'v1', 'plugins', `${id}.json`), serializeDocument(doc));
    let archives = 0;
    for (const { entry } of entries) {
      const src = localArchivePath(root, entry.archive.url);
      if (!src || !existsSync(src)) continue;
      const dest = join(staging, relative(root, src));
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(src, dest);
      archives++;
    }
    const old = `${staging}.old`;
    if (existsSync(out)) renameSync(out, old);
    renameSync(staging, out);
    rmSync(old, { recursive: true, force: true });
    return {
      out,
      plugins: docs.plugins.size,
      versions: entries.length,
      documents: docs.plugins.size + 2,
      archives,
    };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (err instanceof BuildError) throw err;
    throw new BuildError(`could not write ${outArg}: ${(err as Error).message}`, 'build.write-failed');
  }
}
