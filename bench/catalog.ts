// Catalog benchmark, whole processes (node start included), against a plain Node script that reads
// and parses the same files (bench/parse-only.mjs) measured in the same run:
//   hub validate --no-archives  (goal ≤ 1.5×)    hub build into an existing output dir  (goal ≤ 2.5×),
//   both when nothing changed and when one entry changed since the output was built
//   npm run bench     (5,000 plugins × 5 versions; BENCH_PLUGINS / BENCH_VERSIONS / BENCH_ROUNDS to change)
// Then, in-process, where a build's time goes (validate, render, write) and a write-floor: only
// creating the same files, the disk's own cost.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCatalog } from '@magellon/hub-core/test-support';
import { load } from './load';

const PLUGINS = Number(process.env.BENCH_PLUGINS ?? 5000);
const VERSIONS = Number(process.env.BENCH_VERSIONS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const root = import.meta.dirname;
const hub = join(root, '..', 'packages', 'cli', 'bin', 'hub.js');
if (!existsSync(join(root, '..', 'packages', 'cli', 'dist', 'main.js'))) {
  console.error('build the CLI first: npm run build:cli');
  process.exit(1);
}
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface Run {
  ms: number;
  rssMiB?: number;
}

/** One whole process; peak RSS from /usr/bin/time when it is there. */
function run(args: string[], work: string): Run {
  const rssFile = join(work, 'rss');
  const [cmd, argv] = TIME
    ? [TIME, ['-o', rssFile, '-f', '%M', process.execPath, ...args]]
    : [process.execPath, args];
  const t = performance.now();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, rssMiB: TIME ? Number(readFileSync(rssFile, 'utf8').trim()) / 1024 : undefined };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const work = mkdtempSync(join(tmpdir(), 'hub-bench-'));
try {
  const catalog = join(work, 'catalog');
  const out = join(work, 'dist');
  let t = performance.now();
  const files = generateCatalog(catalog, PLUGINS, VERSIONS);
  console.log(
    `generated ${files} entries (${PLUGINS} plugins × ${VERSIONS} versions) in ${Math.round(performance.now() - t)} ms`,
  );
  // A second copy where one entry changes before every build: the output must really be rebuilt
  // (the unchanged case finds its output up to date and writes nothing).
  const catalog2 = join(work, 'catalog2');
  const out2 = join(work, 'dist2');
  cpSync(catalog, catalog2, { recursive: true });
  const changing = join(catalog2, 'plugins', readdirSync(join(catalog2, 'plugins')).sort()[0]!);
  const changingFile = join(changing, readdirSync(changing).sort()[0]!);
  let flips = 0;
  const changeOne = () =>
    writeFileSync(
      changingFile,
      readFileSync(changingFile, 'utf8').replace(/^description: .*$/m, `description: changed ${flips++}`),
    );
  const cases: Array<[string, string[], (() => void)?]> = [
    ['read + parse only (reference)', [join(root, 'parse-only.mjs'), catalog]],
    ['hub validate --no-archives', [hub, 'validate', catalog, '--no-archives']],
    ['hub build (existing output)', [hub, 'build', catalog, '--out', out]],
    ['hub build (one entry changed)', [hub, 'build', catalog2, '--out', out2], changeOne],
  ];
  for (const [, args, before] of cases) {
    before?.();
    run(args, work); // warm the page cache; leaves a build in `out` and `out2`
  }
  const samples = new Map<string, Run[]>(cases.map(([label]) => [label, []]));
  // Interleave so drift in machine load hits every command alike.
  for (let r = 0; r < ROUNDS; r++)
    for (const [label, args, before] of cases) {
      before?.();
      samples.get(label)!.push(run(args, work));
    }
  const base = median(samples.get(cases[0]![0])!.map((s) => s.ms));
  console.log(`\nwhole processes, median of ${ROUNDS} interleaved rounds (node ${process.version}):`);
  for (const [label] of cases) {
    const xs = samples.get(label)!;
    const ms = median(xs.map((s) => s.ms));
    const rss =
      xs[0]?.rssMiB === undefined ? '' : `  peak RSS ${Math.max(...xs.map((s) => s.rssMiB!)).toFixed(0)} MiB`;
    console.log(
      `  ${label.padEnd(32)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / base).toFixed(2)}×${rss} · ${load()}`,
    );
  }

  // Where a build's time goes, in one process (tsx loads the TypeScript sources for this part).
  t = performance.now();
  const phases = JSON.parse(
    execFileSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'catalog-step.ts'), 'build', catalog, out],
      {
        encoding: 'utf8',
      },
    ),
  ) as { phases: Record<string, number> };
  const floor = JSON.parse(
    execFileSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'catalog-step.ts'), 'write-floor', catalog, out],
      {
        encoding: 'utf8',
      },
    ),
  ) as { ms: number; count: number };
  const p = phases.phases;
  console.log(
    `\nin one process: validate ${p.validate?.toFixed(0)} ms · render documents ${p.render?.toFixed(0)} ms · write ${p.write?.toFixed(0)} ms; write-floor (only creating the same ${floor.count} files) ${floor.ms.toFixed(0)} ms`,
  );
} finally {
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
}
