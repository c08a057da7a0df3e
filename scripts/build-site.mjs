// Builds the catalog site: Astro (static, from the catalog through the domain library) into
// site/dist, then the Pagefind search index over it. HUB_SITE_CATALOG and HUB_SITE_OUT choose
// another catalog and output dir.   node scripts/build-site.mjs
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, process.env.HUB_SITE_OUT ?? 'site/dist');
const env = { ...process.env, ASTRO_TELEMETRY_DISABLED: '1', HUB_SITE_OUT: out };
const bin = (name) => join(root, 'node_modules', '.bin', name);

const started = performance.now();
const astro = spawnSync(bin('astro'), ['build', '--silent'], { cwd: root, env, stdio: 'inherit' });
if (astro.status !== 0) process.exit(astro.status ?? 1);
const pagefind = spawnSync(bin('pagefind'), ['--site', out, '--silent'], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (pagefind.status !== 0) process.exit(pagefind.status ?? 1);
console.log(`site built into ${out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
