// Catalog benchmark: validate + build of a generated catalog, against YAML parse-only as the reference.
//   npm run bench            (5,000 plugins × 5 versions; BENCH_PLUGINS / BENCH_VERSIONS / BENCH_ROUNDS to change)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCatalog } from './generate-catalog';

const PLUGINS = Number(process.env.BENCH_PLUGINS ?? 5000);
const VERSIONS = Number(process.env.BENCH_VERSIONS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const root = import.meta.dirname;
const hub = join(root, '..', 'packages', 'cli', 'bin', 'hub.js');

interface Sample {
  ms: number;
  count: number;
  phases: Record<string, number>;
  maxRssMiB: number;
}

function step(name: string, catalog: string, out: string): Sample {
  const text = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'catalog-step.ts'), name, catalog, out],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(text) as Sample;
}

/** Wall time of a whole CLI run, process start and TypeScript loading included. */
function cli(args: string[]): number {
  const t = performance.now();
  execFileSync(process.execPath, [hub, ...args], { stdio: 'ignore' });
  return performance.now() - t;
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

  const samples: Record<string, Sample[]> = { parse: [], validate: [], build: [], 'write-floor': [] };
  step('parse', catalog, out); // warm the page cache so no step pays for the first read
  for (let r = 0; r < ROUNDS; r++) {
    // Interleave the steps so drift in machine load hits all of them alike.
    for (const name of ['parse', 'validate', 'build', 'write-floor'] as const)
      samples[name]!.push(step(name, catalog, out));
  }
  const parse = median(samples.parse!.map((s) => s.ms));
  console.log(`\nin-process, median of ${ROUNDS} (ratio = time / parse-only time):`);
  console.log('step                          ms      ratio   peak RSS');
  const row = (label: string, name: string) => {
    const ms = median(samples[name]!.map((s) => s.ms));
    const rss = Math.max(...samples[name]!.map((s) => s.maxRssMiB));
    console.log(
      `${label.padEnd(28)}${ms.toFixed(0).padStart(6)}  ${(ms / parse).toFixed(2).padStart(6)}×  ${rss.toFixed(0).padStart(5)} MiB`,
    );
  };
  row('read + YAML parse (reference)', 'parse');
  row('validate', 'validate');
  row('validate + build', 'build');
  row('write-floor (see below)', 'write-floor');

  const phase = (name: string) => median(samples.build!.map((s) => s.phases[name] ?? 0));
  const [v, r, w] = [phase('validate'), phase('render'), phase('write')];
  const floor = median(samples['write-floor']!.map((s) => s.ms));
  console.log(`\nvalidate + build, by phase (median):`);
  console.log(
    `  validate ${v.toFixed(0)} ms · render documents in memory ${r.toFixed(0)} ms · write files ${w.toFixed(0)} ms`,
  );
  console.log(
    `  validate + render (the CPU work) = ${(v + r).toFixed(0)} ms = ${((v + r) / parse).toFixed(2)}× parse-only`,
  );
  console.log(
    `  write ${w.toFixed(0)} ms vs write-floor ${floor.toFixed(0)} ms (only creating the same ${samples['write-floor']![0]!.count} files in a fresh dir: the disk's cost)`,
  );

  t = performance.now();
  const validateCli = median(
    Array.from({ length: ROUNDS }, () => cli(['validate', catalog, '--no-archives'])),
  );
  const buildCli = median(Array.from({ length: ROUNDS }, () => cli(['build', catalog, '--out', out])));
  console.log(`\nwhole CLI runs (node start + TypeScript load included), median of ${ROUNDS}:`);
  console.log(`hub validate --no-archives   ${validateCli.toFixed(0).padStart(6)} ms`);
  console.log(`hub build                    ${buildCli.toFixed(0).padStart(6)} ms`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
