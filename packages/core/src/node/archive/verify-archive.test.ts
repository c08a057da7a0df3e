import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPlugin } from '../pack';
import { hashZip, readZipEntry } from '../zip';
import { buildYazlZip, makeTempDir } from '../zip/test-zips';
import { verifyArchive } from './verify-archive';

let root: string;
/** The files of a real packed plugin, to rebuild variants of it. */
let files: { name: string; data: Buffer }[];

beforeAll(async () => {
  root = await makeTempDir();
  const plugin = path.join(root, 'fft');
  await cp(path.resolve(__dirname, '../../../../../examples/plugins/fft'), plugin, {
    recursive: true,
    dereference: true,
  });
  const packed = await packPlugin(plugin, { out: path.join(root, 'fft.mpn') });
  files = [];
  for (const digest of await hashZip(packed.file)) {
    files.push({ name: digest.name, data: await readZipEntry(packed.file, digest.name, 1 << 20) });
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
async function archiveOf(change: (name: string, data: Buffer) => Buffer): Promise<string> {
  counter += 1;
  const file = path.join(root, `variant-${counter}.mpn`);
  await writeFile(
    file,
    await buildYazlZip(files.map(({ name, data }) => ({ name, data: change(name, data) }))),
  );
  return file;
}

const variants: [string, string, (name: string, data: Buffer) => Buffer][] = [
  [
    'a file differs from its checksum',
    'archive.checksum-mismatch',
    (name, data) => (name === 'main.py' ? Buffer.from('import os; os.system("evil")\n') : data),
  ],
  [
    'manifest.yaml is not valid YAML',
    'yaml.syntax',
    (name, data) =>
      name === 'manifest.yaml' || name === 'plugin.yaml' ? Buffer.from('plugin_id: [unclosed\n') : data,
  ],
  [
    'plugin.yaml differs from manifest.yaml',
    'archive.plugin-yaml-differs',
    (name, data) => (name === 'plugin.yaml' ? Buffer.concat([data, Buffer.from('# changed\n')]) : data),
  ],
];

describe('verifyArchive({ extractTo }) leaves nothing behind when it refuses an archive', () => {
  it('extracts an archive that passes every check', async () => {
    const file = await archiveOf((_name, data) => data);
    const dest = path.join(root, 'ok', 'out');
    const verified = await verifyArchive(file, { extractTo: dest });
    expect(verified.findings).toEqual([]);
    expect(verified.ok).toBe(true);
    expect((await readdir(dest)).sort()).toContain('main.py');
  });

  it.each(variants)('%s: a created destination is removed with its new parents', async (_t, code, change) => {
    const file = await archiveOf(change);
    const parent = path.join(root, `fresh-${counter}`);
    const verified = await verifyArchive(file, { extractTo: path.join(parent, 'deep', 'out') });
    expect(verified.ok).toBe(false);
    expect(verified.findings.map((f) => f.code)).toContain(code);
    await expect(readdir(parent)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.each(variants)(
    '%s: an empty destination given by the caller is left empty',
    async (_t, code, change) => {
      const file = await archiveOf(change);
      const dest = path.join(root, `empty-${counter}`);
      await mkdir(dest);
      const verified = await verifyArchive(file, { extractTo: dest });
      expect(verified.findings.map((f) => f.code)).toContain(code);
      expect(await readdir(dest)).toEqual([]);
    },
  );

  it('a zip-level refusal leaves the destination as it was too', async () => {
    const file = path.join(root, 'prepended.mpn');
    const good = await archiveOf((_name, data) => data);
    await writeFile(file, Buffer.concat([Buffer.from('#!/bin/sh\n'), await readFile(good)]));
    const dest = path.join(root, 'zip-level');
    await mkdir(dest);
    const verified = await verifyArchive(file, { extractTo: dest });
    expect(verified.findings.map((f) => f.code)).toEqual(['zip.bad-directory']);
    expect(await readdir(dest)).toEqual([]);
  });
});

describe('verifyArchive keeps small files from its one pass', () => {
  it('returns manifest.yaml and, when asked, small files with their exact bytes', async () => {
    const file = await archiveOf((_name, data) => data);
    const verified = await verifyArchive(file, { keep: { maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20 } });
    expect(verified.ok).toBe(true);
    for (const { name, data } of files) expect(verified.files.get(name)).toEqual(data);
  });

  it('keeps nothing beyond its budget', async () => {
    const file = await archiveOf((_name, data) => data);
    const verified = await verifyArchive(file, { keep: { maxFileBytes: 1 << 20, maxTotalBytes: 0 } });
    const nonEmpty = [...verified.files].filter(([, bytes]) => bytes.length > 0).map(([name]) => name);
    expect(nonEmpty).toEqual(['manifest.yaml']);
  });
});
