import { crc32, deflateRawSync } from 'node:zlib';
import { buildZip, ENCRYPTED_FLAG, type HostileCase, type RawEntry, UTF8_FLAG } from './zips';

/** Archives that escape, overwrite, exhaust or hide what they are; each refused with its own code. */
const text = (s: string) => Buffer.from(s);
// Written before the bad entry, so a failing extraction has something to clean up.
const fine: RawEntry = { name: 'ok/fine.txt', data: text('fine\n') };
const zip =
  (...entries: RawEntry[]) =>
  () =>
    buildZip(entries);

/** An end record preceded by a zip64 locator pointing past 2^53; this once crashed the process. */
function zip64LocatorBeyondSafeIntegers(): Buffer {
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeUInt32LE(0xffffffff, 8);
  locator.writeUInt32LE(0xffffffff, 12);
  locator.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  return Buffer.concat([locator, end]);
}

/**
 * `count` entries of `size` zero bytes each, every one under the per-entry ratio check's size: a
 * little archive that would write count × size bytes. Deflated once and reused.
 */
function manySmallBombs(count: number, size: number): () => Buffer {
  const zeros = Buffer.alloc(size);
  const deflated = deflateRawSync(zeros, { level: 9 });
  const crc = crc32(zeros);
  return () =>
    buildZip(
      Array.from({ length: count }, (_, i) => ({
        name: `data/part-${i}.bin`,
        data: deflated,
        method: 8,
        declaredSize: size,
        crc,
      })),
    );
}

export const baseCases: HostileCase[] = [
  {
    title: 'zip-slip ../evil',
    bytes: zip(fine, { name: '../evil', data: text('x') }),
    code: 'zip.path-traversal',
    caughtBy: 'scan',
  },
  {
    title: 'nested traversal',
    bytes: zip({ name: 'a/../../evil' }),
    code: 'zip.path-traversal',
    caughtBy: 'scan',
  },
  { title: 'absolute path', bytes: zip({ name: '/etc/x' }), code: 'zip.absolute-path', caughtBy: 'scan' },
  { title: 'drive letter', bytes: zip({ name: 'C:/x' }), code: 'zip.absolute-path', caughtBy: 'scan' },
  { title: 'backslash', bytes: zip({ name: 'a\\b' }), code: 'zip.backslash', caughtBy: 'scan' },
  { title: 'backslash traversal', bytes: zip({ name: '..\\evil' }), code: 'zip.backslash', caughtBy: 'scan' },
  {
    title: 'symlink',
    bytes: zip({ name: 'link', data: text('/etc/passwd'), mode: 0o120777 }),
    code: 'zip.symlink',
    caughtBy: 'scan',
  },
  {
    title: 'char device',
    bytes: zip({ name: 'tty', mode: 0o020666 }),
    code: 'zip.special-file',
    caughtBy: 'scan',
  },
  {
    title: 'block device',
    bytes: zip({ name: 'sda', mode: 0o060660 }),
    code: 'zip.special-file',
    caughtBy: 'scan',
  },
  { title: 'fifo', bytes: zip({ name: 'pipe', mode: 0o010644 }), code: 'zip.special-file', caughtBy: 'scan' },
  {
    title: 'socket',
    bytes: zip({ name: 'sock', mode: 0o140755 }),
    code: 'zip.special-file',
    caughtBy: 'scan',
  },
  {
    title: 'duplicate names',
    bytes: zip({ name: 'a.txt' }, { name: 'a.txt' }),
    code: 'zip.duplicate-entry',
    caughtBy: 'scan',
  },
  {
    title: 'case collision',
    bytes: zip({ name: 'A.txt' }, { name: 'a.txt' }),
    code: 'zip.case-collision',
    caughtBy: 'scan',
  },
  {
    title: 'Unicode normalization collision',
    bytes: zip({ name: 'caf\u00e9', flags: UTF8_FLAG }, { name: 'cafe\u0301', flags: UTF8_FLAG }),
    code: 'zip.case-collision',
    caughtBy: 'scan',
  },
  {
    title: 'directories differing in case',
    bytes: zip({ name: 'Docs/' }, { name: 'docs/' }),
    code: 'zip.case-collision',
    caughtBy: 'scan',
  },
  {
    title: 'file then child',
    bytes: zip({ name: 'a' }, { name: 'a/b' }),
    code: 'zip.path-conflict',
    caughtBy: 'scan',
  },
  {
    title: 'child then file',
    bytes: zip({ name: 'a/b/c' }, { name: 'a/b' }),
    code: 'zip.path-conflict',
    caughtBy: 'scan',
  },
  {
    title: 'file and directory entry',
    bytes: zip({ name: 'a' }, { name: 'a/' }),
    code: 'zip.path-conflict',
    caughtBy: 'scan',
  },
  {
    title: 'file blocking a differently cased child',
    bytes: zip({ name: 'Lib' }, { name: 'lib/x.py' }),
    code: 'zip.path-conflict',
    caughtBy: 'scan',
  },
  {
    title: 'too many entries',
    bytes: zip({ name: '1' }, { name: '2' }, { name: '3' }, { name: '4' }),
    code: 'zip.too-many-entries',
    caughtBy: 'scan',
    limits: { maxEntries: 3 },
  },
  {
    title: 'declared entry count over the limit (refused before reading headers)',
    bytes: () => buildZip([{ name: 'a' }], { declaredEntryCount: 65_535 }),
    code: 'zip.too-many-entries',
    caughtBy: 'scan',
  },
  {
    title: 'entry too large',
    bytes: zip({ name: 'big', data: Buffer.alloc(200, 1) }),
    code: 'zip.entry-too-large',
    caughtBy: 'scan',
    limits: { maxEntryBytes: 100 },
  },
  {
    title: 'total too large',
    bytes: zip({ name: 'a', data: Buffer.alloc(200, 1) }, { name: 'b', data: Buffer.alloc(200, 2) }),
    code: 'zip.too-large',
    caughtBy: 'scan',
    limits: { maxTotalBytes: 300 },
  },
  {
    title: 'archive file too large',
    bytes: zip({ name: 'a', data: Buffer.alloc(200, 1) }),
    code: 'zip.too-large',
    caughtBy: 'scan',
    limits: { maxArchiveBytes: 100 },
  },
  {
    title: 'whole-archive ratio: 200 small entries of 64 KiB zeros (12.5 MiB from ~50 KB)',
    bytes: manySmallBombs(200, 64 * 1024),
    code: 'zip.total-ratio',
    caughtBy: 'scan',
    // The default floor (64 MiB) lowered so the tables stay fast; zip-limits.test.ts uses the defaults.
    limits: { totalRatioFloorBytes: 1024 * 1024 },
  },
  {
    title: 'whole-archive ratio on bytes really inflated: an entry inflating past its declared size',
    bytes: zip(fine, { name: 'lie', data: Buffer.alloc(5000, 7), method: 'deflate', declaredSize: 1000 }),
    code: 'zip.total-ratio',
    caughtBy: 'stream',
    limits: { totalRatioFloorBytes: 2000, maxTotalRatio: 1 },
  },
  {
    title: 'compression-ratio bomb (20 MiB of zeros)',
    bytes: zip({ name: 'zeros', data: Buffer.alloc(20 * 1024 * 1024), method: 'deflate' }),
    code: 'zip.compression-ratio',
    caughtBy: 'scan',
  },
  {
    title: 'deflated entry declaring fewer bytes than it holds',
    bytes: zip(fine, { name: 'lie', data: Buffer.alloc(5000, 7), method: 'deflate', declaredSize: 1000 }),
    code: 'zip.size-mismatch',
    caughtBy: 'stream',
  },
  {
    title: 'deflated entry declaring more bytes than it holds',
    bytes: zip(fine, { name: 'lie', data: Buffer.alloc(1000, 7), method: 'deflate', declaredSize: 5000 }),
    code: 'zip.size-mismatch',
    caughtBy: 'stream',
  },
  {
    title: 'stored entry whose sizes disagree',
    bytes: zip({ name: 'lie', data: Buffer.alloc(100, 7), declaredSize: 50 }),
    code: 'zip.size-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'encrypted entry',
    bytes: zip({ name: 'secret', data: Buffer.alloc(12 + 4), declaredSize: 4, flags: ENCRYPTED_FLAG }),
    code: 'zip.encrypted',
    caughtBy: 'scan',
  },
  {
    title: 'strong encryption',
    bytes: zip({ name: 'secret', flags: ENCRYPTED_FLAG | 0x40 }),
    code: 'zip.encrypted',
    caughtBy: 'scan',
  },
  {
    title: 'unsupported compression method (LZMA)',
    bytes: zip({ name: 'lzma', data: text('xx'), method: 14 }),
    code: 'zip.unsupported-compression',
    caughtBy: 'scan',
  },
  {
    title: 'truncated file',
    bytes: () => buildZip([fine, { name: 'b.txt', data: text('hello') }]).subarray(0, 60),
    code: 'zip.corrupt',
    caughtBy: 'scan',
  },
  {
    title: 'random bytes',
    bytes: () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)),
    code: 'zip.corrupt',
    caughtBy: 'scan',
  },
  { title: 'empty file', bytes: () => Buffer.alloc(0), code: 'zip.corrupt', caughtBy: 'scan' },
  {
    title: 'zip64 offset beyond 2^53',
    bytes: zip64LocatorBeyondSafeIntegers,
    code: 'zip.corrupt',
    caughtBy: 'scan',
  },
  {
    title: 'non-ASCII name without the UTF-8 flag',
    bytes: zip({ name: Buffer.from([0x63, 0x61, 0x66, 0xe9]) }),
    code: 'zip.invalid-name',
    caughtBy: 'scan',
  },
  {
    title: 'invalid UTF-8 with the UTF-8 flag',
    bytes: zip({ name: Buffer.from([0x61, 0xc3, 0x28]), flags: UTF8_FLAG }),
    code: 'zip.invalid-name',
    caughtBy: 'scan',
  },
  { title: 'NUL in name', bytes: zip({ name: 'a\0b' }), code: 'zip.invalid-name', caughtBy: 'scan' },
  {
    title: 'control character in name',
    bytes: zip({ name: 'a\x1b[2Jb' }),
    code: 'zip.invalid-name',
    caughtBy: 'scan',
  },
  { title: 'empty name', bytes: zip({ name: '' }), code: 'zip.invalid-name', caughtBy: 'scan' },
  { title: 'dot segment', bytes: zip({ name: './a' }), code: 'zip.invalid-name', caughtBy: 'scan' },
  { title: 'empty segment', bytes: zip({ name: 'a//b' }), code: 'zip.invalid-name', caughtBy: 'scan' },
  {
    title: 'name over 1024 bytes',
    bytes: zip({ name: 'a'.repeat(1025) }),
    code: 'zip.invalid-name',
    caughtBy: 'scan',
  },
  {
    title: 'CRC-32 mismatch',
    bytes: zip(fine, { name: 'tampered', data: text('hello'), crc: 0x12345678 }),
    code: 'zip.corrupt',
    caughtBy: 'stream',
  },
  {
    title: 'invalid deflate data',
    bytes: zip(fine, { name: 'garbage', data: text('not deflate at all'), method: 8, declaredSize: 100 }),
    code: 'zip.corrupt',
    caughtBy: 'stream',
  },
  {
    title: 'deflate stream cut short',
    bytes: () => {
      const full = deflateRawSync(Buffer.alloc(4000, 3));
      return buildZip([
        fine,
        { name: 'cut', data: full.subarray(0, 5), method: 8, declaredSize: 4000, crc: 0 },
      ]);
    },
    code: 'zip.corrupt',
    caughtBy: 'stream',
  },
];
