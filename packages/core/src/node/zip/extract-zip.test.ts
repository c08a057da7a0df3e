import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  buildYazlZip,
  buildZip,
  codeOf,
  extractZip,
  hashZip,
  makeTempDir,
  scanZip,
  sha256,
  writeTempZip,
} from '@magellon/hub-core/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { ZipError } from './index';

const files = {
  'manifest.yaml': Buffer.from('id: demo\nversion: 1.0.0\n'),
  'bin/run.sh': Buffer.from('#!/bin/sh\necho hello\n'),
  'lib/a/b/deep.txt': randomBytes(100_000),
  'data/blob.bin': randomBytes(50_000),
  'docs/naïve.md': Buffer.from('# ünïcödé\n'),
  'empty.txt': Buffer.alloc(0),
};

function pluginArchive(): Promise<Buffer> {
  return buildYazlZip([
    { name: 'manifest.yaml', data: files['manifest.yaml'] },
    { name: 'bin/run.sh', data: files['bin/run.sh'], mode: 0o100755 },
    { name: 'lib/a/b/deep.txt', data: files['lib/a/b/deep.txt'] },
    { name: 'data/blob.bin', data: files['data/blob.bin'], compress: false },
    { name: 'docs/naïve.md', data: files['docs/naïve.md'] },
    { name: 'empty.txt', data: files['empty.txt'] },
    { name: 'empty-dir/', directory: true },
  ]);
}

const expectedDigests = Object.entries(files)
  .map(([name, bytes]) => ({ name, size: bytes.length, sha256: sha256(bytes) }))
  .sort((a, b) => (a.name < b.name ? -1 : 1));

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function sandbox(bytes: Buffer) {
  const made = await writeTempZip(bytes);
  dirs.push(made.dir);
  return { ...made, dest: path.join(made.dir, 'out') };
}

describe('a well-formed plugin archive', () => {
  it('scans to the list of entries with directories and executables marked', async () => {
    const { file } = await sandbox(await pluginArchive());
    const entries = await scanZip(file);
    expect(entries.map((e) => e.name)).toEqual([...Object.keys(files), 'empty-dir/']);
    expect(entries.find((e) => e.name === 'bin/run.sh')).toMatchObject({
      executable: true,
      isDirectory: false,
    });
    expect(entries.find((e) => e.name === 'manifest.yaml')).toMatchObject({
      executable: false,
      size: files['manifest.yaml'].length,
    });
    expect(entries.find((e) => e.name === 'empty-dir/')).toMatchObject({
      isDirectory: true,
      executable: false,
    });
    const blob = entries.find((e) => e.name === 'data/blob.bin');
    expect(blob?.compressedSize).toBe(blob?.size);
  });

  it('extracts every byte with the right modes and returns sha256s sorted by name', async () => {
    const { dest, file } = await sandbox(await pluginArchive());
    const digests = await extractZip(file, dest);
    expect(digests).toEqual(expectedDigests);
    for (const [name, bytes] of Object.entries(files)) {
      expect(await readFile(path.join(dest, name))).toEqual(bytes);
    }
    expect((await stat(path.join(dest, 'bin/run.sh'))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(dest, 'manifest.yaml'))).mode & 0o777).toBe(0o644);
    expect((await stat(path.join(dest, 'empty-dir'))).isDirectory()).toBe(true);
    const written = (await readdir(dest, { recursive: true })).sort();
    expect(written).toEqual(
      ['bin', 'data', 'docs', 'empty-dir', 'lib', 'lib/a', 'lib/a/b', ...Object.keys(files)].sort(),
    );
  });

  it('hashes to the sha256 of the source bytes without extracting', async () => {
    const { dir, file } = await sandbox(await pluginArchive());
    expect(await hashZip(file)).toEqual(expectedDigests);
    expect(await readdir(dir)).toEqual(['plugin.mpn']);
  });

  it('extracts into an existing empty directory', async () => {
    const { dest, file } = await sandbox(await pluginArchive());
    await mkdir(dest);
    expect(await extractZip(file, dest)).toEqual(expectedDigests);
  });

  it('creates missing parents of the destination', async () => {
    const { dir, file } = await sandbox(await pluginArchive());
    const dest = path.join(dir, 'staging', 'demo', '1.0.0');
    await extractZip(file, dest);
    expect(await readFile(path.join(dest, 'manifest.yaml'))).toEqual(files['manifest.yaml']);
  });

  it('accepts a UTF-8 flagged name and an ASCII name without the flag', async () => {
    const { dest, file } = await sandbox(
      buildZip([
        { name: 'plain.txt', data: Buffer.from('a') },
        { name: 'ß.txt', data: Buffer.from('b'), flags: 0x800 },
      ]),
    );
    await extractZip(file, dest);
    expect(await readFile(path.join(dest, 'ß.txt'), 'utf8')).toBe('b');
  });
});

describe('the destination', () => {
  it('must be empty: an existing file in it is refused and left untouched', async () => {
    const { dest, file } = await sandbox(await pluginArchive());
    await mkdir(dest);
    await writeFile(path.join(dest, 'keep.txt'), 'mine');
    expect(await codeOf(extractZip(file, dest))).toBe('zip.destination-not-empty');
    expect(await readdir(dest)).toEqual(['keep.txt']);
    expect(await readFile(path.join(dest, 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('must not be a file', async () => {
    const { dest, file } = await sandbox(await pluginArchive());
    await writeFile(dest, 'not a dir');
    expect(await codeOf(extractZip(file, dest))).toBe('zip.destination-not-empty');
    expect(await readFile(dest, 'utf8')).toBe('not a dir');
  });

  it('is removed with every parent it created when extraction fails midway', async () => {
    const { dir, file } = await sandbox(
      buildZip([
        { name: 'a.txt', data: randomBytes(10_000) },
        { name: 'b/c.txt', data: Buffer.alloc(9_000, 1), method: 'deflate' },
        { name: 'lie.bin', data: Buffer.alloc(2_000, 2), method: 'deflate', declaredSize: 1_000 },
      ]),
    );
    const dest = path.join(dir, 'staging', 'demo', 'out');
    expect(await codeOf(extractZip(file, dest))).toBe('zip.size-mismatch');
    expect(await readdir(dir)).toEqual(['plugin.mpn']);
  });
});

describe('the archive path', () => {
  it('reports a missing file as zip.not-found', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const missing = path.join(dir, 'nope.mpn');
    const runs = [
      () => scanZip(missing),
      () => hashZip(missing),
      () => extractZip(missing, path.join(dir, 'out')),
    ];
    for (const run of runs) {
      expect(await codeOf(run())).toBe('zip.not-found');
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a directory as zip.not-found', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    expect(await codeOf(scanZip(dir))).toBe('zip.not-found');
  });
});

describe('error messages', () => {
  it('name the code, the entry and the archive', async () => {
    const { file } = await sandbox(buildZip([{ name: '../../etc/passwd' }]));
    await expect(scanZip(file)).rejects.toThrow(
      `zip.path-traversal: entry "../../etc/passwd" in ${file} escapes the archive root`,
    );
  });

  it('escape control characters in entry names', async () => {
    const { file } = await sandbox(buildZip([{ name: 'evil\x1b[31m' }]));
    const err = await scanZip(file).catch((e: ZipError) => e);
    expect(err).toBeInstanceOf(ZipError);
    expect((err as ZipError).entry).toBe('evil\x1b[31m');
    expect((err as ZipError).message).toContain('"evil\\u001b[31m"');
  });
});
