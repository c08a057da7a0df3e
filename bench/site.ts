// Site benchmark: the catalog site built (Astro + Pagefind, whole processes) from a generated
// catalog of BENCH_SITE_PLUGINS plugins × 5 versions, against `hub build` of the same catalog (the
// /v1 documents: the other thing built from every entry), measured in the same run. Prints the
// build time, the ratio, the pages written and the largest HTML page (the catalog page must stay
// small however many plugins there are).   npm run bench:site

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCatalog } from '@magellon/hub-core/test-support';
import { load } from './load';

const PLUGINS = Number(process.env.BENCH_SITE_PLUGINS ?? 2000);
const ROOT = join(import.meta.dirname, '..');

function timed(args: string[], env: Record<string, string> = {}): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t;
}

const work = mkdtempSync(join(tmpdir(), 'hub-bench-site-'));
try {
  const catalog = join(work, 'catalog');
  generateCatalog(catalog, PLUGINS, 5);
  const hubMs = timed([
    join(ROOT, 'packages', 'cli', 'bin', 'hub.js'),
    'build',
    catalog,
    '--out',
    join(work, 'api'),
  ]);
  const out = join(work, 'site');
  const siteMs = timed([join(ROOT, 'scripts', 'build-site.mjs')], {
    HUB_SITE_CATALOG: catalog,
    HUB_SITE_OUT: out,
  });
  let pages = 0;
  let largest = { size: 0, path: '' };
  let bytes = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else {
        bytes += s.size;
        if (name.endsWith('.html')) {
          pages++;
          if (s.size > largest.size) largest = { size: s.size, path: p.slice(out.length) };
        }
      }
    }
  };
  walk(out);
  const index = statSync(join(out, 'index.html')).size;
  console.log(`${PLUGINS} plugins × 5 versions (node ${process.version}):`);
  console.log(`  hub build (reference)           ${(hubMs / 1000).toFixed(1)} s  1.00× · ${load()}`);
  console.log(
    `  site build (Astro + Pagefind)   ${(siteMs / 1000).toFixed(1)} s  ${(siteMs / hubMs).toFixed(2)}×`,
  );
  console.log(
    `  ${pages} HTML pages, ${(bytes / 1024 / 1024).toFixed(1)} MiB in all; catalog page ${(index / 1024).toFixed(0)} KiB; largest page ${(largest.size / 1024).toFixed(0)} KiB (${largest.path})`,
  );
} finally {
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
}
