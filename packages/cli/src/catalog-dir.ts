import { dirname, join, resolve } from 'node:path';
import type { Finding } from '@magellon/hub-core';
import { catalogAt, findCatalogRoot, ioFinding, shownPath } from '@magellon/hub-core/node';
import { notADirectory, statPath } from './paths';

/**
 * The catalog `hub validate` / `hub build` should read. Given a dir: that dir, or its catalog/
 * child when it is a hub repo. Given none: the nearest catalog at or above the cwd. A plugin's
 * sources, a file, or no catalog anywhere up the tree is a finding instead. `base` is where
 * `hub build` puts its default dist/: the cwd, or beside the catalog that was found (so a build
 * run deep inside a catalog never writes into it).
 */
export function resolveCatalogDir(
  command: string,
  given: string | undefined,
): { dir: string; base: string } | { problem: Finding } {
  if (given !== undefined) {
    const st = statPath(given);
    if ('problem' in st) {
      // A missing dir is reported by the catalog loader (catalog.not-found), like a dir without plugins/.
      return st.problem.code === 'io.not-found' ? { dir: given, base: '.' } : st;
    }
    if (st.kind === 'file') return { problem: ioFinding(notADirectory(given), given) };
    const here = catalogAt(given);
    if (here?.found === 'plugin-sources') return { problem: pluginSources(given) };
    if (here?.found === 'catalog' && here.root !== given) return { dir: join(given, 'catalog'), base: '.' };
    return { dir: given, base: '.' };
  }
  const search = findCatalogRoot(process.cwd());
  switch (search.found) {
    case 'catalog':
      // dist/ goes beside the catalog, never inside it (hub build refuses an output inside the catalog).
      return {
        dir: shownPath(search.root),
        base: shownPath(search.at === search.root ? dirname(search.root) : search.at),
      };
    case 'plugin-sources':
      return { problem: pluginSources(shownPath(search.dir)) };
    case 'nothing': {
      const from = search.looked[0] ?? resolve('.');
      const to = search.looked.at(-1) ?? from;
      return {
        problem: {
          file: '.',
          severity: 'error',
          code: 'catalog.not-found',
          message: `no catalog here or above: looked for plugins/ and catalog/plugins/ in ${from}${to === from ? '' : ` and every folder up to ${to}`}; run hub ${command} inside a catalog, or name it: hub ${command} <catalog-dir>`,
        },
      };
    }
  }
}

function pluginSources(dir: string): Finding {
  return {
    file: dir,
    severity: 'error',
    code: 'catalog.plugin-sources',
    message: `this looks like a plugin's sources (it holds a manifest), not a catalog; run hub lint ${dir}`,
  };
}
