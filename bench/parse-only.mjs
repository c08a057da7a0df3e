// The reference for bench/catalog.ts: a plain Node script that reads every catalog entry and parses
// its YAML (js-yaml, the same parser hub uses), and nothing else.   node bench/parse-only.mjs <catalog>
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_SCHEMA, load } from 'js-yaml';

const plugins = join(process.argv[2] ?? 'catalog', 'plugins');
let count = 0;
for (const id of readdirSync(plugins)) {
  for (const file of readdirSync(join(plugins, id))) {
    load(readFileSync(join(plugins, id, file), 'utf8'), { schema: CORE_SCHEMA });
    count++;
  }
}
process.stdout.write(`${count}\n`);
