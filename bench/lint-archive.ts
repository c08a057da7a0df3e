// Archive lint benchmark: `hub lint x.mpn` on a ~200 MiB plugin of mostly incompressible files, against
// `sha256sum x.mpn` + `unzip -tq x.mpn` (whole processes, median of interleaved rounds).
//   npx tsx bench/lint-archive.ts      (BENCH_MIB / BENCH_ROUNDS to change)
// Goal: ratio ≤ 0.7 and hub's peak RSS < 150 MiB.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packPlugin } from '../packages/core/src/node/pack';
import { load } from './load';

const MIB = 1024 * 1024;
const TOTAL_MIB = Number(process.env.BENCH_MIB ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const root = import.meta.dirname;
const hub = join(root, '..', 'packages', 'cli', 'bin', 'hub.js');
const example = join(root, '..', 'examples', 'plugins', 'fft');
const TIME = '/usr/bin/time';

interface Run {
  ms: number;
  /** Peak RSS in KiB, when /usr/bin/time is there to measure it. */
  maxRssKiB?: number;
}

/** Runs a command as a whole process; with /usr/bin/time also its peak RSS. */
function timed(command: string, args: string[]): Run {
  const withTime = existsSync(TIME);
  const start = process.hrtime.bigint();
  const result = withTime
    ? spawnSync(TIME, ['-f', '%M', command, ...args], { encoding: 'utf8', maxBuffer: 64 * MIB })
    : spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * MIB });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  if (!withTime) return { ms };
  const lines = result.stderr.trim().split('\n');
  return { ms, maxRssKiB: Number(lines[lines.length - 1]) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** A plugin dir: the fft example (links resolved) plus random binaries adding up to TOTAL_MIB. */
function makePlugin(dir: string): void {
  cpSync(example, dir, { recursive: true, dereference: true });
  for (let i = 0; i < 10; i++) writeFileSync(join(dir, `notes-${i}.txt`), 'measurement notes\n'.repeat(500));
  mkdirSync(join(dir, 'weights'));
  const sizes = [64, 48, 32, 24, 16, 8, 4, 2, 1, 1];
  const scale = TOTAL_MIB / sizes.reduce((a, b) => a + b, 0);
  sizes.forEach((mib, i) => {
    const file = join(dir, 'weights', `layer-${i}.bin`);
    const bytes = Math.round(mib * scale * MIB);
    writeFileSync(file, Buffer.alloc(0));
    for (let done = 0; done < bytes; done += 4 * MIB) {
      writeFileSync(file, randomBytes(Math.min(4 * MIB, bytes - done)), { flag: 'a' });
    }
  });
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'hub-bench-lint-'));
  try {
    // The same plugin without the big files: hub's start-up cost (tsx compiling the CLI), for context.
    const small = join(tmp, 'small');
    cpSync(example, small, { recursive: true, dereference: true });
    const smallArchive = join(tmp, 'small.mpn');
    await packPlugin(small, { out: smallArchive });
    const plugin = join(tmp, 'fft');
    makePlugin(plugin);
    const archive = join(tmp, 'x.mpn');
    const packed = await packPlugin(plugin, { out: archive });
    rmSync(plugin, { recursive: true, force: true });
    console.log(`archive: ${(packed.size_bytes / MIB).toFixed(1)} MiB, ${packed.files} files`);
    // Warm the page cache and check hub accepts the archive at all.
    readFileSync(archive);
    timed(process.execPath, [hub, 'lint', archive]);

    const reference: number[] = [];
    const lint: number[] = [];
    const rss: number[] = [];
    const startup: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      startup.push(timed(process.execPath, [hub, 'lint', smallArchive]).ms);
      reference.push(timed('sha256sum', [archive]).ms + timed('unzip', ['-tq', archive]).ms);
      const run = timed(process.execPath, [hub, 'lint', archive]);
      lint.push(run.ms);
      if (run.maxRssKiB !== undefined) rss.push(run.maxRssKiB);
    }
    const ref = median(reference);
    const ours = median(lint);
    console.log(
      `reference (sha256sum + unzip -tq): median ${ref.toFixed(0)} ms  [${reference.map((v) => v.toFixed(0)).join(', ')}]`,
    );
    console.log(
      `hub lint:                          median ${ours.toFixed(0)} ms  [${lint.map((v) => v.toFixed(0)).join(', ')}]`,
    );
    console.log(`ratio: ${(ours / ref).toFixed(2)} (goal ≤ 0.70) · ${load()}`);
    const base = median(startup);
    console.log(
      `hub lint of the same plugin without the big files (start-up): median ${base.toFixed(0)} ms; ` +
        `the 200 MiB pass itself ≈ ${(ours - base).toFixed(0)} ms, ratio without start-up ≈ ${((ours - base) / ref).toFixed(2)}`,
    );
    if (rss.length > 0) {
      console.log(`hub peak RSS: max ${(Math.max(...rss) / 1024).toFixed(0)} MiB (goal < 150 MiB)`);
    } else {
      console.log('hub peak RSS: not measured (/usr/bin/time not found)');
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
