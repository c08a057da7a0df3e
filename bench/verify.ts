// Pull-request check benchmark: `hub verify` of a PR that adds one version to a generated
// 25,000-entry catalog in a real git repo, against `hub validate` of the whole catalog, as whole
// processes, interleaved in one run. Goal: verify under 5 s, because unchanged entries are parsed
// for the catalog-wide rules but never re-checked or re-downloaded; the install smoke test of the
// new version (a real coreservice install and health check) is included, and also shown without.
//   npm run bench:verify     (BENCH_PLUGINS / BENCH_VERSIONS / BENCH_ROUNDS to change)

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCatalog, packRelease } from '@magellon/hub-core/test-support';
import { archiveFileName, renderOwnersYaml } from '../packages/core/src';
import { entryForArchive, renderEntryYaml } from '../packages/core/src/node';
import { load } from './load';

const PLUGINS = Number(process.env.BENCH_PLUGINS ?? 5000);
const VERSIONS = Number(process.env.BENCH_VERSIONS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROOT = join(import.meta.dirname, '..');
const HUB = join(ROOT, 'packages', 'cli', 'bin', 'hub.js');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, '-c', 'user.email=bench@example.org', '-c', 'user.name=Bench', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });

function time(args: string[], expectStatus: number): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, [HUB, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  const ms = performance.now() - t;
  if (r.status !== expectStatus) throw new Error(`hub ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const work = mkdtempSync(join(tmpdir(), 'hub-bench-verify-'));
try {
  const repo = join(work, 'repo');
  const t = performance.now();
  const n = generateCatalog(join(repo, 'catalog'), PLUGINS, VERSIONS);
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'the published catalog');
  git(repo, 'checkout', '-q', '-b', 'pr');
  const published_at = '2026-01-05T10:00:00Z';
  mkdirSync(join(repo, 'catalog', 'assets', 'plugins'), { recursive: true });
  mkdirSync(join(repo, 'catalog', 'plugins', 'fft'), { recursive: true });
  const packed = await packRelease(
    join(ROOT, 'examples', 'plugins'),
    { id: 'fft', version: '1.3.0', published_at },
    join(repo, 'catalog', 'assets', 'plugins', archiveFileName('fft', '1.3.0')),
    work,
  );
  writeFileSync(
    join(repo, 'catalog', 'plugins', 'fft', '1.3.0.yaml'),
    renderEntryYaml(entryForArchive(packed, { tier: 'community', published_at })),
  );
  // A new plugin: its author becomes its owner.
  writeFileSync(join(repo, 'catalog', 'plugins', 'fft', 'owners.yaml'), renderOwnersYaml(['bench-bot']));
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'fft 1.3.0');
  console.log(
    `a git repo with ${n} entries on main and a PR adding fft 1.3.0, made in ${Math.round(performance.now() - t)} ms`,
  );

  const cases: Array<[string, string[]]> = [
    ['hub validate (whole catalog)', ['validate', join(repo, 'catalog')]],
    ['hub verify (PR, with install)', ['verify', repo, '--base', 'main', '--author', 'bench-bot']],
    ['hub verify --no-install', ['verify', repo, '--base', 'main', '--author', 'bench-bot', '--no-install']],
  ];
  for (const [, args] of cases) time(args, 0); // warm the page cache and git's object cache
  const samples = new Map<string, number[]>(cases.map(([l]) => [l, []]));
  for (let r = 0; r < ROUNDS; r++) for (const [label, args] of cases) samples.get(label)!.push(time(args, 0));
  const base = median(samples.get(cases[0]![0])!);
  console.log(`\nwhole processes, median of ${ROUNDS} interleaved rounds (node ${process.version}):`);
  for (const [label] of cases) {
    const xs = samples.get(label)!;
    const ms = median(xs);
    console.log(
      `  ${label.padEnd(32)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / base).toFixed(2)}×  (range ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} ms) · ${load()}`,
    );
  }
  const verify = median(samples.get(cases[1]![0])!);
  console.log(
    `\nverify of a one-version PR: ${(verify / 1000).toFixed(2)} s (goal < 5 s: ${verify < 5000 ? 'met' : 'NOT met'})`,
  );
} finally {
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
}
