// CLI start-up benchmark: whole processes of `hub --help` and `hub --version` against a bare
// `node -e 0`, interleaved so drift in machine load hits all three alike. Goal: --help ≤ 3× node.
//   npx tsx bench/cli-startup.ts           (BENCH_RUNS=15 by default; npm run bench:cli)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { load } from './load';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const hub = join(import.meta.dirname, '..', 'packages', 'cli', 'bin', 'hub.js');
if (!existsSync(join(import.meta.dirname, '..', 'packages', 'cli', 'dist', 'main.js'))) {
  console.error('build the CLI first: npm run build:cli');
  process.exit(1);
}

const cases: Array<[string, string[]]> = [
  ['node -e 0', ['-e', '0']],
  ['hub --help', [hub, '--help']],
  ['hub --version', [hub, '--version']],
];

function once(args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const samples = new Map<string, number[]>(cases.map(([label]) => [label, []]));
for (const [, args] of cases) once(args); // warm the page cache
for (let i = 0; i < RUNS; i++) for (const [label, args] of cases) samples.get(label)!.push(once(args));

const base = median(samples.get('node -e 0')!);
console.log(`whole processes, median of ${RUNS} interleaved runs (node ${process.version}):`);
for (const [label] of cases) {
  const xs = samples.get(label)!;
  const ms = median(xs);
  console.log(
    `${label.padEnd(16)}${ms.toFixed(1).padStart(8)} ms   ${(ms / base).toFixed(2).padStart(5)}× node   (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`,
  );
}
const ratio = median(samples.get('hub --help')!) / base;
console.log(
  `\nhub --help is ${ratio.toFixed(2)}× node -e 0 (goal ≤ 3×): ${ratio <= 3 ? 'met' : 'NOT met'} · ${load()}`,
);
