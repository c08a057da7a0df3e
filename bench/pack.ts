// Pack benchmark: `hub pack` of a ~200 MiB plugin of mostly incompressible files against `zip -r -X`.
//   npx tsx bench/pack.ts       (BENCH_PACK_MIB / BENCH_ROUNDS to change the size and the rounds)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { load } from './load';

const MIB = Number(process.env.BENCH_PACK_MIB ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const hub = join(import.meta.dirname, '..', 'packages', 'cli', 'bin', 'hub.js');

const MANIFEST = `manifest_version: "1"
plugin_id: bench-plugin
name: Bench plugin
version: 1.0.0
requires_sdk: ">=2.0,<3.0"
author: Bench
license: MIT
description: A large plugin for the pack benchmark.
category: ctf
install:
  - method: uv
    pyproject: pyproject.toml
tags: [bench]
`;

/** ~MIB MiB: model weights and data as random bytes (incompressible), plus some Python and JSON. */
function makeTree(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const put = (path: string, data: string | Buffer) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), data);
    files++;
    bytes += data.length;
  };
  put('manifest.yaml', MANIFEST);
  put('pyproject.toml', '[project]\nname = "bench-plugin"\nversion = "1.0.0"\n');
  put('schemas/input.json', '{"type": "object"}\n');
  put('schemas/output.json', '{"type": "object"}\n');
  const textBytes = Math.floor(MIB * 0.05 * 1024 * 1024);
  for (let i = 0; bytes < textBytes; i++) {
    const lines = Array.from(
      { length: 400 },
      (_, j) => `def f_${i}_${j}(x):\n    return x * ${j} + ${i}  # step ${j} of module ${i}\n`,
    );
    put(`plugin/mod_${String(i).padStart(3, '0')}.py`, lines.join(''));
  }
  for (let i = 0; bytes < MIB * 1024 * 1024; i++) {
    const size = Math.min(8 * 1024 * 1024 - i * 37_123, MIB * 1024 * 1024 - bytes);
    put(`weights/part-${String(i).padStart(3, '0')}.bin`, randomBytes(Math.max(size, 1)));
  }
  return { files, bytes };
}

function time(command: string, args: string[], cwd: string): number {
  const t = performance.now();
  execFileSync(command, args, {
    cwd,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const work = mkdtempSync(join(tmpdir(), 'hub-bench-pack-'));
try {
  const dir = join(work, 'bench-plugin');
  const { files, bytes } = makeTree(dir);
  console.log(`generated ${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${dir}`);
  const zipOut = join(work, 'out.zip');
  const hubOut = join(work, 'out.mpn');
  const runs = { zip: [] as number[], hub: [] as number[] };
  for (let r = 0; r < ROUNDS + 1; r++) {
    // Interleaved; round 0 only warms the page cache and is not counted.
    // Both start without an output file, so neither pays for deleting the previous one.
    rmSync(zipOut, { force: true });
    const z = time('zip', ['-r', '-X', '-q', zipOut, 'bench-plugin'], work);
    rmSync(hubOut, { force: true });
    const h = time(process.execPath, [hub, 'pack', dir, '--out', hubOut, '--force'], work);
    if (r > 0) {
      runs.zip.push(z);
      runs.hub.push(h);
    }
  }
  const zip = median(runs.zip);
  const hubMs = median(runs.hub);
  const size = (f: string) => (statSync(f).size / 1024 / 1024).toFixed(1);
  console.log(
    `zip -r -X   median ${Math.round(zip)} ms  (${runs.zip.map(Math.round).join(', ')})  ${size(zipOut)} MiB`,
  );
  console.log(
    `hub pack    median ${Math.round(hubMs)} ms  (${runs.hub.map(Math.round).join(', ')})  ${size(hubOut)} MiB`,
  );
  console.log(`ratio hub/zip: ${(hubMs / zip).toFixed(2)}× · ${load()}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
