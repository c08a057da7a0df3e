import { rm } from 'node:fs/promises';
import { buildYazlZip, buildZip, codeOf, writeTempZip } from '@magellon/hub-core/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { readZipEntry } from './index';

const manifest = Buffer.from('id: demo\nversion: 1.0.0\n');

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function archive(bytes: Buffer): Promise<string> {
  const { dir, file } = await writeTempZip(bytes);
  dirs.push(dir);
  return file;
}

describe('readZipEntry', () => {
  it('returns the bytes of one entry', async () => {
    const file = await archive(
      await buildYazlZip([
        { name: 'manifest.yaml', data: manifest },
        { name: 'src/', directory: true },
        { name: 'src/main.py', data: Buffer.from('print(1)\n') },
      ]),
    );
    expect(await readZipEntry(file, 'manifest.yaml', 1024)).toEqual(manifest);
    expect(await readZipEntry(file, 'src/main.py', 1024)).toEqual(Buffer.from('print(1)\n'));
  });

  it('refuses an entry larger than maxBytes', async () => {
    const file = await archive(await buildYazlZip([{ name: 'manifest.yaml', data: manifest }]));
    expect(await codeOf(readZipEntry(file, 'manifest.yaml', manifest.length - 1))).toBe(
      'zip.entry-too-large',
    );
    expect(await readZipEntry(file, 'manifest.yaml', manifest.length)).toEqual(manifest);
  });

  it('reports an absent entry or a directory as zip.entry-missing', async () => {
    const file = await archive(await buildYazlZip([{ name: 'src/', directory: true }]));
    expect(await codeOf(readZipEntry(file, 'manifest.yaml', 1024))).toBe('zip.entry-missing');
    expect(await codeOf(readZipEntry(file, 'src/', 1024))).toBe('zip.entry-missing');
  });

  it('applies every archive rule, even when another entry is asked for', async () => {
    const file = await archive(buildZip([{ name: 'manifest.yaml', data: manifest }, { name: '../evil' }]));
    expect(await codeOf(readZipEntry(file, 'manifest.yaml', 1024))).toBe('zip.path-traversal');
  });

  it('does not trust a declared size that hides a bigger entry', async () => {
    const file = await archive(
      buildZip([
        { name: 'manifest.yaml', data: Buffer.alloc(1_000_000, 0x61), method: 'deflate', declaredSize: 100 },
      ]),
    );
    expect(await codeOf(readZipEntry(file, 'manifest.yaml', 1024))).toBe('zip.size-mismatch');
  });
});
