// `npm start`: runs the hub on embedded defaults, from the compiled CLI (packages/cli/dist,
// which `npm ci` and `npm start` build). Until the /v1 server lands, that means validating
// the catalog and building the documents and archives it will serve.
import { existsSync } from 'node:fs';

const entry = new URL('../packages/cli/dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('npm start: the compiled CLI is missing; run `npm run build:cli` (or `npm ci`) first');
  process.exit(1);
}
const { main } = await import(entry.href);

const steps = [
  ['validate', 'catalog'],
  ['build', 'catalog', '--out', 'dist'],
];
for (const args of steps) {
  console.log(`$ hub ${args.join(' ')}`);
  const code = await main(args);
  if (code !== 0) process.exit(code);
}
console.log(`
The hub's outputs are in dist/:
  dist/v1/index.json           the listing the Magellon web app reads
  dist/v1/plugins/<id>.json    one plugin with every version (CoreService reads this)
  dist/v1/categories.json      categories and their backends
  dist/assets/plugins/*.mpn    the archives`);
