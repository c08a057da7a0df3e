#!/usr/bin/env node
// Builds the commands users run on plain Node: `hub` (here) and `coreservice` (../../coreservice).
//
// `hub` goes into dist/: one small entry (dist/main.js) and code-split chunks
// that the commands load on demand, with @magellon/hub-core and every npm dependency bundled
// in, so the packed CLI needs nothing but node; and dist/templates/, the plugin template with
// its symbolic links (the shared runtime) replaced by the files they point at, since a
// packed tarball drops links. Plain JavaScript on purpose: it runs from the root `prepare`
// script, before anything is compiled.
//
//   node packages/cli/build.mjs        (also: npm run build -w @magellon/hub, npm run build:cli)
//
// Files are only rewritten when their bytes change, each by rename, so a rebuild while
// another process runs `hub` never lets it read a half-written file.
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, 'dist');
const { version } = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));

const FILE_MODE = 0o644;

/** Bundles `entryPoints` (relative to `cwd`) into memory: `{ path → { bytes, mode } }` relative to `outdir`. */
async function bundle(cwd, entryPoints, outdir, define) {
  const result = await build({
    absWorkingDir: cwd,
    entryPoints,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir,
    // Chunks stay at the top of dist/: scaffold finds ./templates relative to its chunk.
    chunkNames: '[name]-[hash]',
    write: false,
    logLevel: 'warning',
    legalComments: 'none',
    minifySyntax: true,
    define,
    // tuf-js's default fetcher is never used (see src/no-make-fetch-happen.cjs).
    alias: { 'make-fetch-happen': join(here, 'src', 'no-make-fetch-happen.cjs') },
    // CommonJS dependencies call require() for node built-ins; ESM has no require.
    banner: {
      js: "import { createRequire as __hubCreateRequire } from 'node:module'; const require = __hubCreateRequire(import.meta.url);",
    },
  });
  return new Map(
    result.outputFiles.map((f) => [
      relative(outdir, f.path),
      { bytes: Buffer.from(f.contents), mode: FILE_MODE },
    ]),
  );
}

/** The `hub` command and its template. */
async function buildCli() {
  const files = await bundle(here, { main: 'src/main.ts', 'serve-worker': 'src/serve-worker.ts' }, outdir, {
    __HUB_VERSION__: JSON.stringify(version),
  });
  // The template, links followed; Python caches left out (scaffold skips them too).
  const walk = (rel) => {
    for (const name of readdirSync(join(here, rel)).sort()) {
      if (name === '__pycache__' || name.endsWith('.pyc')) continue;
      const path = `${rel}/${name}`;
      const st = statSync(join(here, path));
      if (st.isDirectory()) walk(path);
      else files.set(path, { bytes: readFileSync(join(here, path)), mode: st.mode & 0o777 });
    }
  };
  walk('templates');
  return files;
}

/** Makes `outdir` hold exactly `files`, touching only what changed. Returns how many files were written. */
function sync(outdir, files) {
  mkdirSync(outdir, { recursive: true });
  let written = 0;
  for (const [name, { bytes, mode }] of files) {
    const path = join(outdir, name);
    let old;
    try {
      old = { bytes: readFileSync(path), mode: statSync(path).mode & 0o777 };
    } catch {}
    if (old?.bytes.equals(bytes) && old.mode === mode) continue;
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, bytes);
    chmodSync(tmp, mode);
    renameSync(tmp, path);
    written++;
  }
  // Remove what this build no longer makes (deepest first, so emptied folders go too).
  const present = readdirSync(outdir, { recursive: true, encoding: 'utf8' }).sort().reverse();
  for (const name of present) {
    const path = join(outdir, name);
    if (files.has(name) || /\.tmp-\d+$/.test(name)) continue;
    if (statSync(path).isDirectory()) {
      if (readdirSync(path).length === 0) rmdirSync(path);
    } else rmSync(path, { force: true });
  }
  return written;
}

const started = performance.now();
// esbuild has already printed what failed; its stack trace would add nothing.
const files = await buildCli().catch(() => process.exit(1));
const written = sync(outdir, files);
const coreservice = join(here, '..', '..', 'coreservice');
const csOut = join(coreservice, 'dist');
const csVersion = JSON.parse(readFileSync(join(coreservice, 'package.json'), 'utf8')).version;
const csFiles = await bundle(coreservice, { main: 'src/cli.ts' }, csOut, {
  __CORESERVICE_VERSION__: JSON.stringify(csVersion),
}).catch(() => process.exit(1));
const csWritten = sync(csOut, csFiles);
const ms = Math.round(performance.now() - started);
if (!process.argv.includes('--quiet'))
  console.log(
    `hub ${version}: built packages/cli/dist/ (${files.size} files, ${written} changed) and coreservice/dist/ (${csFiles.size} files, ${csWritten} changed) in ${ms} ms`,
  );
