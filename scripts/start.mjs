// `npm start`: runs the hub on embedded defaults from the compiled CLI (packages/cli/dist, which
// `npm ci` and `npm start` build): validates and builds catalog/ and serves the /v1 API and the
// archives on http://127.0.0.1:8080 (PORT and HOST override), until Ctrl-C.
import { existsSync } from 'node:fs';

const entry = new URL('../packages/cli/dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('npm start: the compiled CLI is missing; run `npm run build:cli` (or `npm ci`) first');
  process.exit(1);
}
const { main } = await import(entry.href);
const args = [
  'serve',
  'catalog',
  '--port',
  process.env.PORT ?? '8080',
  '--host',
  process.env.HOST ?? '127.0.0.1',
];
console.log(`$ hub ${args.join(' ')}`);
process.exitCode = await main(args);
