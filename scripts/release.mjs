#!/usr/bin/env node
// Makes the two installable packages, as the `release` workflow attaches them to a GitHub release:
//
//   node scripts/release.mjs --out <dir> [--tag v0.1.0]
//
// writes <dir>/magellon-hub-<version>.tgz and <dir>/magellon-coreservice-<version>.tgz (`npm pack`
// of packages/cli and coreservice; their prepack builds the bundles) and <dir>/SHA256SUMS in the
// format `sha256sum -c` reads. It refuses, before packing, a package that declares runtime
// dependencies (both must be self-contained bundles: `npm install -g <tarball>` works offline), two
// packages whose versions differ, and a --tag that is not `v<version>`. Plain JavaScript: it runs
// before anything is compiled.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
/** The installable packages: their folders, package names and the command each installs. */
export const PACKAGES = [
  { dir: 'packages/cli', name: '@magellon/hub', bin: 'hub' },
  { dir: 'coreservice', name: '@magellon/coreservice', bin: 'coreservice' },
];

function fail(message) {
  console.error(`release: ${message}`);
  process.exit(1);
}

let parsed;
try {
  parsed = parseArgs({
    options: { out: { type: 'string' }, tag: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
} catch (err) {
  console.error(`release: ${err.message}`);
  process.exit(2);
}
const { values } = parsed;
if (values.help || !values.out) {
  console.log('Usage: node scripts/release.mjs --out <dir> [--tag v<version>]');
  process.exit(values.help ? 0 : 2);
}

const manifests = PACKAGES.map((p) => ({
  ...p,
  json: JSON.parse(readFileSync(join(ROOT, p.dir, 'package.json'), 'utf8')),
}));
for (const m of manifests) {
  if (m.json.name !== m.name) fail(`${m.dir}/package.json is named ${m.json.name}, not ${m.name}`);
  if (m.json.private) fail(`${m.name} is marked private`);
  const deps = Object.keys(m.json.dependencies ?? {});
  if (deps.length > 0)
    fail(`${m.name} declares runtime dependencies (${deps.join(', ')}); it must bundle them instead`);
  if (m.json.bin?.[m.bin] === undefined) fail(`${m.name} does not install the ${m.bin} command`);
}
const versions = [...new Set(manifests.map((m) => m.json.version))];
if (versions.length !== 1) fail(`the packages' versions differ: ${versions.join(', ')}`);
const version = versions[0];
if (values.tag !== undefined && values.tag !== `v${version}`)
  fail(
    `the tag ${JSON.stringify(values.tag)} does not match the packages' version ${version} (expected v${version})`,
  );

const out = resolve(values.out);
mkdirSync(out, { recursive: true });
const sums = [];
for (const m of manifests) {
  const r = spawnSync(
    'npm',
    ['pack', '--json', '--pack-destination', out, '-w', m.name, '--no-fund', '--no-audit'],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (r.status !== 0) fail(`npm pack -w ${m.name} failed (exit ${r.status})`);
  const [packed] = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')));
  const file = join(out, basename(packed.filename));
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  sums.push(`${sha256}  ${basename(file)}`);
  console.log(`${basename(file)}  ${packed.size} bytes  ${packed.entryCount} files  sha256 ${sha256}`);
}
writeFileSync(join(out, 'SHA256SUMS'), `${sums.join('\n')}\n`);
console.log(`wrote ${join(out, 'SHA256SUMS')}`);
