// One measured step of bench/catalog.ts, run in its own process so peak RSS is its own.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CORE_SCHEMA, load } from 'js-yaml';
import { loadCatalog, renderHubBuild, writeRenderedBuild } from '../packages/core/src/node';

const [step, dir, out] = process.argv.slice(2);
if (!step || !dir) throw new Error('usage: catalog-step <parse|validate|build|write-floor> <catalog> [out]');

// write-floor: the least any build writing the same documents (and their .gz/.br) into a fresh dir must pay on this disk.
const docs: Array<[string, Buffer]> = [];
if (step === 'write-floor') {
  for (const f of readdirSync(join(out!, 'v1'), { recursive: true, encoding: 'utf8' })) {
    if (/\.json(\.gz|\.br)?$/.test(f)) docs.push([f, readFileSync(join(out!, 'v1', f))]);
  }
}

const phases: Record<string, number> = {};
const started = performance.now();
let count = 0;
if (step === 'write-floor') {
  const target = `${out}-floor`;
  for (const dir of new Set(docs.map(([f]) => dirname(f)))) mkdirSync(join(target, dir), { recursive: true });
  for (const [f, bytes] of docs) writeFileSync(join(target, f), bytes);
  count = docs.length;
} else if (step === 'parse') {
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
  if (step === 'build') {
    phases.validate = performance.now() - started;
    const t = performance.now();
    const rendered = renderHubBuild(dir, catalog.entries);
    phases.render = performance.now() - t;
    const w = performance.now();
    const result = await writeRenderedBuild(rendered, out ?? join(dir, '..', 'dist'), { removeOld: 'wait' });
    if (!result.ok) throw new Error(`bench build refused: ${result.findings[0]?.message}`);
    phases.write = performance.now() - w;
  }
}
const ms = performance.now() - started;
if (step === 'write-floor') rmSync(`${out}-floor`, { recursive: true, force: true });
process.stdout.write(
  JSON.stringify({ step, count, ms, phases, maxRssMiB: process.resourceUsage().maxRSS / 1024 }),
);
