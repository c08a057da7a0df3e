// Extraction overlapped with the download must change nothing but the time: every hostile archive
// is refused with the same code, every good one extracts to the same bytes and digests, whether the
// entries were streamed beforehand (in chunks of any size) or read from the file.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  baseCases,
  buildYazlZip,
  buildZip,
  type HostileCase,
  layoutCases,
  makeTempDir,
  nameCases,
} from '@magellon/hub-core/test-support';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { type Prefetched, readArchive, StreamingExtractor, ZipError } from './index';

const cases: HostileCase[] = [...baseCases, ...layoutCases, ...nameCases];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function streamed(bytes: Buffer, dir: string, chunk: number) {
  const x = new StreamingExtractor(path.join(dir, 'scratch'));
  for (let i = 0; i < bytes.length; i += chunk) await x.push(bytes.subarray(i, i + chunk));
  return { x, prefetched: x.finish() };
}

/** The tree under dir: every file's bytes and mode. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const st = statSync(path.join(dir, name));
    out[name] = st.isDirectory()
      ? 'dir'
      : `${(st.mode & 0o777).toString(8)}:${readFileSync(path.join(dir, name)).toString('base64')}`;
  }
  return out;
}

async function outcome(file: string, dest: string, prefetched?: Prefetched, limits?: HostileCase['limits']) {
  try {
    const r = await readArchive(file, { extractTo: dest, prefetched, limits, keep: () => true });
    return { ok: true, digests: r.digests, kept: [...r.kept.keys()].sort(), tree: tree(dest) };
  } catch (err) {
    if (!(err instanceof ZipError)) throw err;
    return { ok: false, code: err.code, tree: tree(dest) };
  }
}

describe('streamed extraction is the same as reading the file', () => {
  it.each(cases)('hostile: $title', async ({ bytes, limits }) => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const data = bytes();
    const file = path.join(dir, 'a.mpn');
    await writeFile(file, data);
    const plain = await outcome(file, path.join(dir, 'plain'), undefined, limits);
    const { prefetched } = await streamed(data, dir, 7919);
    const fast = await outcome(file, path.join(dir, 'fast'), prefetched, limits);
    expect(plain.ok).toBe(false);
    expect(fast).toEqual(plain);
    expect(existsSync(path.join(dir, 'fast'))).toBe(false);
  });

  it('a real archive: same files, modes and digests, and the streamed entries are used', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const data = await buildYazlZip([
      { name: 'manifest.yaml', data: Buffer.from('plugin_id: x\n') },
      { name: 'bin/run.sh', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o100755, compress: false },
      { name: 'data/zeros.bin', data: Buffer.alloc(300_000), compress: true },
      {
        name: 'data/random.bin',
        data: Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)),
        compress: false,
      },
      { name: 'empty.txt', data: Buffer.alloc(0) },
      { name: 'docs/', directory: true },
    ]);
    const file = path.join(dir, 'a.mpn');
    await writeFile(file, data);
    const plain = await outcome(file, path.join(dir, 'plain'));
    const { prefetched } = await streamed(data, dir, 65536);
    expect(prefetched.entries.size).toBe(6);
    const fast = await outcome(file, path.join(dir, 'fast'), prefetched);
    expect(plain.ok).toBe(true);
    expect(fast).toEqual(plain);
    // The extracted files are the streamed ones (hard links), not a second read of the archive.
    const linked = [...prefetched.entries.values()]
      .filter((e) => e.size > 0)
      .map((e) => statSync(e.file).nlink);
    expect(linked).toEqual([2, 2, 2, 2]);
  });

  it('every archive `hub pack` made for the catalog (data descriptors): used, and the same', async () => {
    const assets = path.join(
      import.meta.dirname,
      '..',
      '..',
      '..',
      '..',
      '..',
      'catalog',
      'assets',
      'plugins',
    );
    for (const name of readdirSync(assets).filter((n) => n.endsWith('.mpn'))) {
      const dir = await makeTempDir();
      dirs.push(dir);
      const file = path.join(assets, name);
      const data = readFileSync(file);
      const { prefetched } = await streamed(data, dir, 4093);
      const plain = await outcome(file, path.join(dir, 'plain'));
      const fast = await outcome(file, path.join(dir, 'fast'), prefetched);
      expect(plain.ok, name).toBe(true);
      expect(fast, name).toEqual(plain);
      expect(prefetched.entries.size, name).toBe((plain as { digests: unknown[] }).digests.length);
    }
  });

  it('any chunking gives the same result (property)', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const data = buildZip([
      { name: 'manifest.yaml', data: Buffer.from('a: 1\n') },
      { name: 'x/y.txt', data: Buffer.from('hello '.repeat(5000)), method: 'deflate' },
      { name: 'z.bin', data: Buffer.from('stored bytes') },
    ]);
    const file = path.join(dir, 'a.mpn');
    await writeFile(file, data);
    const plain = await outcome(file, path.join(dir, 'plain'));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), async (chunk) => {
        const sub = path.join(dir, `run-${n++}`);
        await mkdir(sub);
        const { prefetched } = await streamed(data, sub, chunk);
        expect(prefetched.entries.size).toBe(3);
        expect(await outcome(file, path.join(sub, 'out'), prefetched)).toEqual(plain);
      }),
      { numRuns: 40 },
    );
  });

  it('entries with data descriptors whose bytes hold the descriptor signature: any chunking, all used (property)', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    // The signature, and whole fake descriptors, all through the data: every chunk boundary may
    // split one, and none of them may end an entry early or make it unusable.
    const sig = Buffer.from([0x50, 0x4b, 0x07, 0x08]);
    const parts: Buffer[] = [];
    for (let i = 0; i < 300; i++)
      parts.push(randomBytes(i % 23), sig, randomBytes(i % 5), sig, Buffer.alloc(12, i));
    const data = Buffer.concat(parts);
    const zip = new yazl.ZipFile();
    for (const [name, compress] of [
      ['stored.bin', false],
      ['deflated.bin', true],
    ] as const)
      zip.addReadStream(Readable.from([data]), name, { compress, mode: 0o100644 });
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    expect(bytes.readUInt16LE(6) & 0x8).toBe(0x8);
    const file = path.join(dir, 'a.mpn');
    await writeFile(file, bytes);
    const plain = await outcome(file, path.join(dir, 'plain'));
    expect(plain.ok).toBe(true);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), async (chunk) => {
        const sub = path.join(dir, `run-${n++}`);
        await mkdir(sub);
        const { prefetched } = await streamed(bytes, sub, chunk);
        expect(prefetched.entries.size).toBe(2);
        expect(await outcome(file, path.join(sub, 'out'), prefetched)).toEqual(plain);
      }),
      { numRuns: 60 },
    );
  });

  it('a stream that lies (bytes that are not the file) is never used', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const good = buildZip([
      { name: 'manifest.yaml', data: Buffer.from('a: 1\n') },
      { name: 'b.txt', data: Buffer.from('the real contents') },
    ]);
    const evil = buildZip([
      { name: 'manifest.yaml', data: Buffer.from('a: 1\n') },
      { name: 'b.txt', data: Buffer.from('other contents!!!') },
    ]);
    const file = path.join(dir, 'a.mpn');
    await writeFile(file, good);
    const { prefetched } = await streamed(evil, dir, 100);
    const fast = await outcome(file, path.join(dir, 'fast'), prefetched);
    expect(fast).toEqual(await outcome(file, path.join(dir, 'plain')));
  });
});
