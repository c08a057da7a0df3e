#!/usr/bin/env node
// The `hub` command: runs the compiled build in ../dist (packages/cli/build.mjs makes it;
// `npm ci` at the repo root runs that build). No TypeScript loader is involved.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error(
    'hub: the compiled CLI is missing (packages/cli/dist/main.js); run `npm run build` in packages/cli, or `npm ci` at the repo root',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
