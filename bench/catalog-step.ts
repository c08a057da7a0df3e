// One measured step of bench/catalog.ts, run in its own process so peak RSS is its own.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_SCHEMA, load } from 'js-yaml';
import { loadCatalog, writeHubBuild } from '../packages/core/src/node';

const [step, dir, out] = process.argv.slice(2);
if (!step || !dir) throw new Error('usage: catalog-step <parse|validate|build> <catalog> [out]');

const started = performance.now();
let count = 0;
if (step === 'parse') {
  // The reference: read every entry and parse its YAML, nothing else.
  const plugins = join(dir, 'plugins');
  for (const id of readdirSync(plugins)) {
    for (const f of readdirSync(join(plugins, id))) {
      load(readFileSync(join(plugins, id, f), 'utf8'), { schema: CORE_SCHEMA });
      count++;
    }
  }
} else {
  const catalog = await loadCatalog(dir);
  if (catalog.findings.some((f) => f.severity === 'error'))
    throw new Error(`bench catalog has errors: ${catalog.findings[0]?.message}`);
  count = catalog.entries.length;
  if (step === 'build') writeHubBuild(dir, catalog.entries, out ?? join(dir, '..', 'dist'));
}
const ms = performance.now() - started;
process.stdout.write(JSON.stringify({ step, count, ms, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
