import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MANIFEST_NAMES } from '../layout';

/** What a folder turned out to be when looking for a catalog. */
export type CatalogSearch =
  /** `root` holds plugins/; `at` is the folder it was found from: `root` itself, or a hub repo holding it as catalog/. */
  | { found: 'catalog'; root: string; at: string }
  /** `dir` holds manifest.yaml or plugin.yaml: a plugin's sources, which `hub lint` checks. */
  | { found: 'plugin-sources'; dir: string }
  /** Neither in any folder looked at (`looked`, innermost first). */
  | { found: 'nothing'; looked: string[] };

function stat(path: string) {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES…: not something to look into
  }
}
const isDir = (path: string) => stat(path)?.isDirectory() ?? false;
const isFile = (path: string) => stat(path)?.isFile() ?? false;

/**
 * What `dir` itself is: a plugin's sources (it holds manifest.yaml or plugin.yaml), a catalog
 * root (it holds plugins/), or a folder whose catalog/ child is one (a hub repo's root).
 * Undefined when it is none of these.
 */
export function catalogAt(dir: string): Exclude<CatalogSearch, { found: 'nothing' }> | undefined {
  if (!stat(dir)?.isDirectory()) return undefined;
  if (MANIFEST_NAMES.some((name) => isFile(join(dir, name)))) return { found: 'plugin-sources', dir };
  if (isDir(join(dir, 'plugins'))) return { found: 'catalog', root: dir, at: dir };
  if (isDir(join(dir, 'catalog', 'plugins')))
    return { found: 'catalog', root: join(dir, 'catalog'), at: dir };
  return undefined;
}

/**
 * Finds the catalog a command run in `start` (the cwd) means: the nearest folder at or above
 * `start` that is a catalog root or holds one in catalog/. Stops early at a plugin's sources,
 * so `hub validate` run inside a plugin can say to run `hub lint` instead. Returns absolute paths.
 */
export function findCatalogRoot(start: string): CatalogSearch {
  const looked: string[] = [];
  let dir = resolve(start);
  for (;;) {
    const here = catalogAt(dir);
    if (here) return here;
    looked.push(dir);
    const up = dirname(dir);
    if (up === dir) return { found: 'nothing', looked };
    dir = up;
  }
}
