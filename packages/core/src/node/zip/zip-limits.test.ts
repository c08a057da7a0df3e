// The whole-archive ratio: thousands of small entries, each too small for the per-entry ratio check,
// must not turn a megabyte or two into a gigabyte on disk.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { buildZip, codeOf, extractZip, makeTempDir, scanZip } from '@magellon/hub-core/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { readArchive, StreamingExtractor } from './index';
import { DEFAULT_ZIP_LIMITS, maxInflatedBytes, RATIO_CHECK_MIN_BYTES } from './zip-limits';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** `count` entries of `size` zeros, deflated once: a small file declaring count × size bytes. */
function smallBombs(count: number, size: number): Buffer {
  const zeros = Buffer.alloc(size);
  const data = deflateRawSync(zeros, { level: 9 });
  const crc = crc32(zeros);
  return buildZip(
    Array.from({ length: count }, (_, i) => ({
      name: `d/${i}.bin`,
      data,
      method: 8,
      declaredSize: size,
      crc,
    })),
  );
}

async function tempFile(bytes: Buffer): Promise<{ dir: string; file: string }> {
  const dir = await makeTempDir();
  dirs.push(dir);
  const file = path.join(dir, 'plugin.mpn');
  await writeFile(file, bytes);
  return { dir, file };
}

function bytesUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((n) => statSync(path.join(dir, n)))
    .filter((s) => s.isFile())
    .reduce((sum, s) => sum + s.size, 0);
}

describe('the whole-archive expansion cap', () => {
  it('is max(floor, ratio × archive size)', () => {
    expect(maxInflatedBytes(DEFAULT_ZIP_LIMITS, 1000)).toBe(64 * 1024 * 1024);
    expect(maxInflatedBytes(DEFAULT_ZIP_LIMITS, 10 * 1024 * 1024)).toBe(1000 * 1024 * 1024);
  });

  it('with the default limits, 2,000 entries of 512 KiB (1 GiB from ~1 MB) are refused before any is written', async () => {
    const bytes = smallBombs(2000, 512 * 1024);
    expect(bytes.length).toBeLessThan(2 * 1024 * 1024);
    expect(512 * 1024).toBeLessThanOrEqual(RATIO_CHECK_MIN_BYTES); // no entry is a bomb on its own
    const { dir, file } = await tempFile(bytes);
    expect(await codeOf(scanZip(file))).toBe('zip.total-ratio');
    const dest = path.join(dir, 'out');
    expect(await codeOf(extractZip(file, dest))).toBe('zip.total-ratio');
    expect(existsSync(dest)).toBe(false);
  });

  it('the same entries stay accepted while they fit under the floor', async () => {
    const { file } = await tempFile(smallBombs(16, 512 * 1024));
    const read = await readArchive(file);
    expect(read.digests).toHaveLength(16);
  });

  it('the streaming extractor stops inflating at the cap measured on the bytes received so far', async () => {
    const limits = { totalRatioFloorBytes: 1024 * 1024 };
    const bytes = smallBombs(400, 64 * 1024);
    const { dir, file } = await tempFile(bytes);
    const scratch = path.join(dir, 'scratch');
    const x = new StreamingExtractor(scratch, limits);
    for (let i = 0; i < bytes.length; i += 4096) await x.push(bytes.subarray(i, i + 4096));
    const prefetched = x.finish();
    expect(x.abandoned).toBe(true);
    expect(prefetched.entries.size).toBe(0);
    // It gave up once the entries declared more than the cap: at most one more entry was written.
    expect(bytesUnder(scratch)).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
    expect(await codeOf(readArchive(file, { limits, prefetched }))).toBe('zip.total-ratio');
  });
});
