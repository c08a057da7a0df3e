#!/usr/bin/env node
// The `coreservice` command: runs the compiled build in ../dist (packages/cli/build.mjs makes it;
// `npm ci` at the repo root runs that build). No TypeScript loader is involved.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(
    'coreservice: the compiled build is missing (coreservice/dist/main.js); run `npm run build:cli` at the repo root',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
