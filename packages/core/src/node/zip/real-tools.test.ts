import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import {
  buildYazlZip,
  buildZip,
  dataDescriptor,
  extractZip,
  hashZip,
  makeTempDir,
  type RawEntry,
  requireTool,
  scanZip,
  sha256,
  withZip64End,
} from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPlugin } from '../pack';

/**
 * Controls: archives written by the tools plugin authors really use must be accepted, and our reader
 * must see exactly the entries Info-ZIP `unzip` and Python's `zipfile` (the SDK's reader) see.
 */

const hasUnzip = requireTool('unzip', ['-v']);
const hasPython = requireTool('python3');
const hasZip = requireTool('zip', ['-v']);
const hasJar = requireTool('jar', ['--version']);

const SOURCE: Record<string, Buffer | null> = {
  'main.py': Buffer.from('print("hello")\n'),
  'bin/run.sh': Buffer.from('#!/bin/sh\nexec python3 main.py\n'),
  'lib/data.bin': randomBytes(200_000),
  'lib/deep/notes.txt': Buffer.from('lorem ipsum '.repeat(2000)),
  'empty/': null,
};

let root: string;
let src: string;

beforeAll(async () => {
  root = await makeTempDir();
  src = path.join(root, 'src');
  for (const [name, data] of Object.entries(SOURCE)) {
    const target = path.join(src, name);
    if (data === null) await mkdir(target, { recursive: true });
    else {
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, data);
    }
  }
  await chmod(path.join(src, 'bin/run.sh'), 0o755);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function run(command: string, args: string[], cwd?: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

const PYTHON_WRITE = `
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
target = sys.stdout.buffer if out == '-' else out
with zipfile.ZipFile(target, 'w', zipfile.ZIP_DEFLATED) as z:
    for base, dirs, files in sorted(os.walk(src)):
        for d in sorted(dirs):
            z.write(os.path.join(base, d), os.path.relpath(os.path.join(base, d), src) + '/')
        for f in sorted(files):
            z.write(os.path.join(base, f), os.path.relpath(os.path.join(base, f), src))
`;

const PYTHON_NAMES = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    assert z.testzip() is None
    print(json.dumps(z.namelist()))
`;

const PYTHON_FLAGS = `
import sys, zipfile
print(any(i.flag_bits & 8 for i in zipfile.ZipFile(sys.argv[1]).infolist()))
`;

/** What unzip and Python see, which must be what we see; then every byte must verify. */
async function expectSeenAlike(file: string, expected: Record<string, Buffer | null>): Promise<void> {
  const ours = (await scanZip(file)).map((entry) => entry.name).sort();
  if (hasUnzip) {
    expect(run('unzip', ['-Z1', file]).split('\n').filter(Boolean).sort()).toEqual(ours);
    run('unzip', ['-tq', file]);
  }
  if (hasPython)
    expect((JSON.parse(run('python3', ['-c', PYTHON_NAMES, file])) as string[]).sort()).toEqual(ours);

  const files = Object.entries(expected).filter((e): e is [string, Buffer] => e[1] !== null);
  const digests = await hashZip(file);
  expect(digests).toEqual(
    files
      .map(([name, data]) => ({ name, size: data.length, sha256: sha256(data) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
  );
  const dest = path.join(root, `out-${path.basename(file)}`);
  await extractZip(file, dest);
  for (const [name, data] of files) expect(await readFile(path.join(dest, name))).toEqual(data);
  await rm(dest, { recursive: true, force: true });
}

describe('archives from real tools are accepted and seen as unzip and Python see them', () => {
  it('yazl, the hub’s own writer', async () => {
    const file = path.join(root, 'yazl.zip');
    const entries = Object.entries(SOURCE).map(([name, data]) =>
      data === null ? { name, directory: true } : { name, data },
    );
    await writeFile(file, await buildYazlZip(entries));
    await expectSeenAlike(file, SOURCE);
  });

  it('yazl forcing zip64 records', async () => {
    const file = path.join(root, 'yazl64.zip');
    const entries = Object.entries(SOURCE).map(([name, data]) =>
      data === null ? { name, directory: true } : { name, data },
    );
    await writeFile(file, await buildYazlZip(entries, { forceZip64Format: true }));
    await expectSeenAlike(file, SOURCE);
  });

  it('hub pack (packPlugin) of an example plugin', async () => {
    const plugin = path.join(root, 'fft');
    await cp(path.resolve(__dirname, '../../../../../examples/plugins/fft'), plugin, {
      recursive: true,
      dereference: true,
    });
    const packed = await packPlugin(plugin, { out: path.join(root, 'fft.mpn') });
    const names = (await scanZip(packed.file)).map((e) => e.name);
    expect(names).toContain('manifest.yaml');
    expect(names).toContain('main.py');
    if (hasUnzip)
      expect(run('unzip', ['-Z1', packed.file]).split('\n').filter(Boolean).sort()).toEqual(names.sort());
    if (hasPython) {
      expect((JSON.parse(run('python3', ['-c', PYTHON_NAMES, packed.file])) as string[]).sort()).toEqual(
        names.sort(),
      );
    }
  });

  it.runIf(hasPython)('Python zipfile writing a seekable file', async () => {
    const file = path.join(root, 'python.zip');
    run('python3', ['-c', PYTHON_WRITE, src, file]);
    await expectSeenAlike(file, SOURCE);
  });

  it.runIf(hasPython)('Python zipfile writing to a pipe (data descriptors)', async () => {
    const file = path.join(root, 'python-pipe.zip');
    const script = PYTHON_WRITE.replace(/'/g, `'"'"'`);
    run('sh', ['-c', `python3 -c '${script}' "$0" - | cat > "$1"`, src, file]);
    // The pipe forces bit 3 on file entries: prove that path is really exercised.
    const flags = run('python3', ['-c', PYTHON_FLAGS, file]).trim();
    expect(flags).toBe('True');
    await expectSeenAlike(file, SOURCE);
  });

  it.runIf(hasZip)('zip -r -X', async () => {
    const file = path.join(root, 'zip-r.zip');
    run('zip', ['-q', '-r', '-X', file, '.'], src);
    await expectSeenAlike(file, SOURCE);
  });

  it.runIf(hasZip)('zip -r - streamed to stdout', async () => {
    const file = path.join(root, 'zip-stream.zip');
    run('sh', ['-c', 'zip -q -r - . > "$0"', file], src);
    await expectSeenAlike(file, SOURCE);
  });

  it.runIf(hasJar)('jar cfM', async () => {
    const file = path.join(root, 'jar.zip');
    run('jar', ['cfM', file, '-C', src, '.']);
    await expectSeenAlike(file, SOURCE);
  });
});

describe('hand-built layouts that real readers accept are accepted too', () => {
  const data = Buffer.from('print("streamed")\n');
  const values = { crc: crc32(data), compressedSize: data.length, size: data.length };
  const streamed = (descriptor: Buffer): RawEntry => ({
    name: 'main.py',
    data,
    flags: 0x8,
    local: { crc: 0, compressedSize: 0, size: 0 },
    after: descriptor,
  });
  const cases: [string, RawEntry[]][] = [
    ['a data descriptor with its signature', [streamed(dataDescriptor(values)), { name: 'b.txt' }]],
    [
      'a data descriptor without its signature',
      [streamed(dataDescriptor(values, { signature: false })), { name: 'b.txt' }],
    ],
    [
      'a directory written as an empty deflate stream (as some jar versions do)',
      [{ name: 'lib/', data: deflateRawSync(Buffer.alloc(0)), method: 8, declaredSize: 0, crc: 0 }],
    ],
  ];
  it.each(cases)('%s', async (_title, entries) => {
    const file = path.join(root, `hand-${sha256(buildZip(entries)).slice(0, 8)}.zip`);
    await writeFile(file, buildZip(entries));
    await expectSeenAlike(file, expectedOf(entries));
  });

  it('a zip64 end record and locator agreeing with the end record', async () => {
    const entries = cases[0]?.[1] ?? [];
    const file = path.join(root, 'hand-zip64.zip');
    await writeFile(file, withZip64End(buildZip(entries)));
    await expectSeenAlike(file, expectedOf(entries));
  });

  function expectedOf(entries: RawEntry[]): Record<string, Buffer | null> {
    const expected: Record<string, Buffer | null> = {};
    for (const entry of entries) {
      const name = String(entry.name);
      expected[name] = name.endsWith('/') ? null : name === 'main.py' ? data : Buffer.alloc(0);
    }
    return expected;
  }
});
