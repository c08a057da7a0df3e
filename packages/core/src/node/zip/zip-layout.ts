import { inflateRawSync } from 'node:zlib';
import type { ArchiveFile } from './archive-file';
import { ZipError, type ZipErrorCode } from './zip-error';
import {
  DEFLATED,
  DESCRIPTOR_SIG,
  ENCRYPTED,
  HAS_DESCRIPTOR,
  LOCAL_BYTES,
  LOCAL_SIG,
  STORED,
} from './zip-format';
import type { ZipLimits } from './zip-limits';

/**
 * An independent, strict reading of the archive's raw bytes. yauzl reads one view of a zip (the
 * central directory); Info-ZIP, Python's zipfile and streaming readers each read a slightly different
 * one. This module refuses every archive where those views could differ: the end record must end the
 * file, the central directory must be exactly where and as long as it says, every local header must
 * repeat its central record, and the entries must tile the file from offset 0 to the central directory
 * with no gap and no overlap.
 */

const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;

const EOCD_BYTES = 22;
const LOCATOR_BYTES = 20;
const ZIP64_EOCD_BYTES = 56;
const CENTRAL_BYTES = 46;
const MAX_COMMENT_BYTES = 0xffff;
/** The central directory is read into memory at once; 10,000 entries with long names fit easily. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;

const U16_MARK = 0xffff;
const U32_MARK = 0xffffffff;

const STRONG_ENCRYPTION = 0x40;
const MASKED_HEADER = 0x2000;
const ENCRYPTION_FLAGS = ENCRYPTED | STRONG_ENCRYPTION | MASKED_HEADER;

const ZIP64_EXTRA = 0x0001;
const STRONG_ENCRYPTION_EXTRA = 0x0017;
const AES_EXTRA = 0x9901;
const UNICODE_PATH_EXTRA = 0x7075;

/** Deflate of nothing is 2 bytes; some tools (jar) write directories that way. Anything longer is data. */
const MAX_EMPTY_DEFLATE_BYTES = 16;

/** One entry as the raw bytes describe it, after its local header was proven to match. */
export interface LayoutEntry {
  nameRaw: Buffer;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Where the entry's (compressed) data starts. */
  dataStart: number;
}

export interface ArchiveLayout {
  /** In central directory order. */
  entries: LayoutEntry[];
  directoryOffset: number;
}

interface EndRecord {
  count: number;
  directoryOffset: number;
  directorySize: number;
  /** Where the central directory must end: the zip64 end record, or the end record. */
  directoryEnd: number;
}

interface CentralRecord extends LayoutEntry {
  /** The central record's extra fields by id. */
  extraFields: Map<number, Buffer>;
}

/** Reads and proves the layout of the whole archive; throws a ZipError naming the first problem. */
export async function readLayout(
  reader: ArchiveFile,
  file: string,
  limits: ZipLimits,
): Promise<ArchiveLayout> {
  const end = await readEndRecord(reader, file, limits);
  if (end.directorySize > MAX_DIRECTORY_BYTES) {
    throw new ZipError(
      'zip.too-large',
      file,
      `has a ${end.directorySize}-byte central directory, over the limit of ${MAX_DIRECTORY_BYTES}`,
    );
  }
  const directory = await reader.bytes(end.directoryOffset, end.directorySize);
  const entries = parseDirectory(directory, end, file);
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  checkNoOverlap(sorted, end.directoryOffset, file);
  let expected = 0;
  for (const entry of sorted) {
    if (entry.localHeaderOffset !== expected) await gap(reader, expected, entry.localHeaderOffset, file);
    expected = await checkLocal(reader, entry, end.directoryOffset, file);
  }
  if (expected !== end.directoryOffset) await gap(reader, expected, end.directoryOffset, file);
  return {
    entries: entries.map((entry) => ({
      nameRaw: entry.nameRaw,
      flags: entry.flags,
      method: entry.method,
      crc32: entry.crc32,
      compressedSize: entry.compressedSize,
      size: entry.size,
      localHeaderOffset: entry.localHeaderOffset,
      dataStart: entry.dataStart,
    })),
    directoryOffset: end.directoryOffset,
  };
}

function fail(code: ZipErrorCode, file: string, detail: string, name?: Buffer): ZipError {
  return new ZipError(code, file, detail, name?.toString('utf8'));
}

/** The classic end of central directory record: where it starts and its 16/32-bit fields, some maybe zip64 marks. */
interface ClassicEnd {
  position: number;
  count16: number;
  size32: number;
  offset32: number;
}

/**
 * Finds the end records in three steps: the classic end record must end the file; without a zip64
 * locator right before it, its own fields are the answer; with one, the zip64 end record it points to
 * must sit exactly before the locator and agree with every classic field that is not a zip64 mark.
 */
async function readEndRecord(reader: ArchiveFile, file: string, limits: ZipLimits): Promise<EndRecord> {
  const classic = await readClassicEnd(reader, file);
  const locatorAt = classic.position - LOCATOR_BYTES;
  const locator = locatorAt >= 0 ? await reader.bytes(locatorAt, LOCATOR_BYTES) : undefined;
  if (locator?.readUInt32LE(0) !== ZIP64_LOCATOR_SIG) return classicOnly(classic, file, limits);
  return readZip64End(reader, locator, locatorAt, classic, file, limits);
}

/** Step 1: the last end-record signature in the tail, which must end the file and describe one disk. */
async function readClassicEnd(reader: ArchiveFile, file: string): Promise<ClassicEnd> {
  const tailLength = Math.min(reader.size, EOCD_BYTES + MAX_COMMENT_BYTES);
  const tailStart = reader.size - tailLength;
  const tail = await reader.bytes(tailStart, tailLength);
  const signature = Buffer.alloc(4);
  signature.writeUInt32LE(EOCD_SIG);
  // Every reader we know searches backwards and takes the last signature; so do we, then demand it is the only sensible one.
  const at = tail.lastIndexOf(signature);
  if (at < 0) {
    throw fail(
      'zip.corrupt',
      file,
      'is not a readable zip archive: it has no end of central directory record',
    );
  }
  if (at + EOCD_BYTES > tail.length) {
    throw fail('zip.bad-directory', file, 'has an end-record signature inside its last 22 bytes');
  }
  const eocd = tail.subarray(at);
  const position = tailStart + at;
  const commentLength = eocd.readUInt16LE(20);
  if (position + EOCD_BYTES + commentLength !== reader.size) {
    throw fail(
      'zip.bad-directory',
      file,
      'has an end record that does not end the file (trailing bytes, or a second end-record signature in the comment)',
    );
  }
  if (
    eocd.readUInt16LE(4) !== 0 ||
    eocd.readUInt16LE(6) !== 0 ||
    eocd.readUInt16LE(8) !== eocd.readUInt16LE(10)
  ) {
    throw fail('zip.bad-directory', file, 'is a multi-disk (split) archive, which is not supported');
  }
  return {
    position,
    count16: eocd.readUInt16LE(10),
    size32: eocd.readUInt32LE(12),
    offset32: eocd.readUInt32LE(16),
  };
}

/** Step 2a, no zip64 locator: the classic fields are final, so none may be a zip64 mark. */
function classicOnly(
  { position, count16, size32, offset32 }: ClassicEnd,
  file: string,
  limits: ZipLimits,
): EndRecord {
  if (count16 > limits.maxEntries) {
    throw fail(
      'zip.too-many-entries',
      file,
      `declares ${count16} entries, over the limit of ${limits.maxEntries}`,
    );
  }
  if (count16 === U16_MARK || size32 === U32_MARK || offset32 === U32_MARK) {
    throw fail('zip.bad-directory', file, 'has zip64 markers in its end record but no zip64 end record');
  }
  return { count: count16, directoryOffset: offset32, directorySize: size32, directoryEnd: position };
}

/** Step 2b, a zip64 locator: its end record must be where it points, one disk, and agree with the classic one. */
async function readZip64End(
  reader: ArchiveFile,
  locator: Buffer,
  locatorAt: number,
  { count16, size32, offset32 }: ClassicEnd,
  file: string,
  limits: ZipLimits,
): Promise<EndRecord> {
  const zip64Offset = readU64(locator, 8);
  if (
    locator.readUInt32LE(4) !== 0 ||
    locator.readUInt32LE(16) !== 1 ||
    zip64Offset === undefined ||
    zip64Offset + ZIP64_EOCD_BYTES > locatorAt
  ) {
    throw fail(
      'zip.corrupt',
      file,
      'is not a readable zip archive: its zip64 locator points outside the file',
    );
  }
  const zip64 = await reader.bytes(zip64Offset, ZIP64_EOCD_BYTES);
  const recordSize = readU64(zip64, 4);
  if (
    zip64.readUInt32LE(0) !== ZIP64_EOCD_SIG ||
    recordSize === undefined ||
    zip64Offset + 12 + recordSize !== locatorAt
  ) {
    throw fail('zip.bad-directory', file, 'has no zip64 end record where its zip64 locator points');
  }
  const count = readU64(zip64, 32);
  const directorySize = readU64(zip64, 40);
  const directoryOffset = readU64(zip64, 48);
  if (zip64.readUInt32LE(16) !== 0 || zip64.readUInt32LE(20) !== 0 || readU64(zip64, 24) !== count) {
    throw fail('zip.bad-directory', file, 'is a multi-disk (split) archive, which is not supported');
  }
  if (count === undefined || directorySize === undefined || directoryOffset === undefined) {
    throw fail('zip.bad-directory', file, 'has a zip64 end record with impossible values');
  }
  if (count > limits.maxEntries) {
    throw fail(
      'zip.too-many-entries',
      file,
      `declares ${count} entries, over the limit of ${limits.maxEntries}`,
    );
  }
  if (
    (count16 !== U16_MARK && count16 !== count) ||
    (size32 !== U32_MARK && size32 !== directorySize) ||
    (offset32 !== U32_MARK && offset32 !== directoryOffset)
  ) {
    throw fail('zip.bad-directory', file, 'has an end record and a zip64 end record that disagree');
  }
  return { count, directoryOffset, directorySize, directoryEnd: zip64Offset };
}

/** A little-endian 64-bit value, or undefined when it is not a safe integer. */
function readU64(buffer: Buffer, at: number): number | undefined {
  const value = buffer.readBigUInt64LE(at);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

function parseDirectory(directory: Buffer, end: EndRecord, file: string): CentralRecord[] {
  if (end.directoryOffset + end.directorySize !== end.directoryEnd) {
    throw fail(
      'zip.bad-directory',
      file,
      `says its central directory spans ${end.directorySize} bytes from offset ${end.directoryOffset}, but the end record is at ${end.directoryEnd} (lying offset or size, or hidden records)`,
    );
  }
  const records: CentralRecord[] = [];
  let at = 0;
  for (let index = 0; index < end.count; index++) {
    if (at + CENTRAL_BYTES > directory.length || directory.readUInt32LE(at) !== CENTRAL_SIG) {
      throw fail('zip.bad-directory', file, `has fewer central records than the ${end.count} it declares`);
    }
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const length = CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (at + length > directory.length) {
      throw fail('zip.bad-directory', file, `has a central record that runs past the central directory`);
    }
    const nameRaw = Buffer.from(directory.subarray(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameLength));
    const extra = directory.subarray(
      at + CENTRAL_BYTES + nameLength,
      at + CENTRAL_BYTES + nameLength + extraLength,
    );
    records.push(centralRecord(directory.subarray(at, at + CENTRAL_BYTES), nameRaw, extra, file));
    at += length;
  }
  if (at !== directory.length) {
    throw fail(
      'zip.bad-directory',
      file,
      `has ${directory.length - at} bytes in its central directory after the ${end.count} records it declares (a hidden record?)`,
    );
  }
  return records;
}

function centralRecord(header: Buffer, nameRaw: Buffer, extra: Buffer, file: string): CentralRecord {
  const flags = header.readUInt16LE(8);
  const method = header.readUInt16LE(10);
  const extraFields = parseExtraFields(extra, nameRaw, 'central', file);
  checkFlagsAndExtras(flags, extraFields, nameRaw, file);
  if (method !== STORED && method !== DEFLATED) {
    throw fail(
      'zip.unsupported-compression',
      file,
      `uses compression method ${method}; only 0 (stored) and 8 (deflate) are supported`,
      nameRaw,
    );
  }
  const zip64 = new Zip64Reader(extraFields.get(ZIP64_EXTRA), nameRaw, file);
  const size = zip64.resolve(header.readUInt32LE(24), U32_MARK, 8);
  const compressedSize = zip64.resolve(header.readUInt32LE(20), U32_MARK, 8);
  const localHeaderOffset = zip64.resolve(header.readUInt32LE(42), U32_MARK, 8);
  const disk = zip64.resolve(header.readUInt16LE(34), U16_MARK, 4);
  if (disk !== 0) throw fail('zip.bad-directory', file, 'lives on another disk of a split archive', nameRaw);
  if (method === STORED && size !== compressedSize) {
    throw fail(
      'zip.size-mismatch',
      file,
      `is stored but declares ${compressedSize} stored and ${size} unpacked bytes`,
      nameRaw,
    );
  }
  return {
    nameRaw,
    flags,
    method,
    crc32: header.readUInt32LE(16),
    compressedSize,
    size,
    localHeaderOffset,
    dataStart: 0,
    extraFields,
  };
}

/** Reads the zip64 extra field's values in order, each only where the 16/32-bit field holds its marker. */
class Zip64Reader {
  private at = 0;

  constructor(
    private readonly field: Buffer | undefined,
    private readonly name: Buffer,
    private readonly file: string,
    private readonly code: ZipErrorCode = 'zip.bad-directory',
  ) {}

  get present(): boolean {
    return this.field !== undefined;
  }

  resolve(value: number, mark: number, width: 4 | 8): number {
    if (value !== mark) return value;
    if (!this.field || this.at + width > this.field.length) {
      throw fail(this.code, this.file, 'has a zip64 marker without the zip64 value it stands for', this.name);
    }
    const resolved = width === 8 ? readU64(this.field, this.at) : this.field.readUInt32LE(this.at);
    this.at += width;
    if (resolved === undefined) throw fail(this.code, this.file, 'has an impossible zip64 value', this.name);
    return resolved;
  }
}

function parseExtraFields(extra: Buffer, name: Buffer, where: string, file: string): Map<number, Buffer> {
  const fields = new Map<number, Buffer>();
  let at = 0;
  while (at < extra.length) {
    if (at + 4 > extra.length || at + 4 + extra.readUInt16LE(at + 2) > extra.length) {
      throw fail('zip.corrupt', file, `has a malformed extra field in its ${where} header`, name);
    }
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (fields.has(id)) {
      throw fail(
        'zip.corrupt',
        file,
        `repeats extra field 0x${id.toString(16).padStart(4, '0')} in its ${where} header`,
        name,
      );
    }
    fields.set(id, extra.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return fields;
}

function checkFlagsAndExtras(flags: number, extras: Map<number, Buffer>, name: Buffer, file: string): void {
  if (flags & ENCRYPTION_FLAGS) {
    throw fail('zip.encrypted', file, 'is encrypted; plugin archives must not be', name);
  }
  if (extras.has(STRONG_ENCRYPTION_EXTRA) || extras.has(AES_EXTRA)) {
    throw fail(
      'zip.encrypted',
      file,
      'carries an encryption extra field; plugin archives must not be encrypted',
      name,
    );
  }
  if (extras.has(UNICODE_PATH_EXTRA)) {
    throw fail(
      'zip.ambiguous-name',
      file,
      'carries an Info-ZIP Unicode Path extra field, which gives it another name in some tools',
      name,
    );
  }
}

/**
 * Refuses entries that could share bytes, from the central directory alone: a local header plus the
 * compressed data is the least an entry occupies. Catches the overlapping-file bomb before any read.
 */
function checkNoOverlap(sorted: readonly CentralRecord[], directoryOffset: number, file: string): void {
  for (let i = 0; i < sorted.length; i++) {
    const entry = sorted[i] as CentralRecord;
    const next = sorted[i + 1];
    const leastEnd = entry.localHeaderOffset + LOCAL_BYTES + entry.compressedSize;
    const limit = next ? next.localHeaderOffset : directoryOffset;
    if (leastEnd > limit) {
      const other = next ? `entry "${next.nameRaw.toString('utf8')}"` : 'the central directory';
      throw fail(
        'zip.overlapping-entries',
        file,
        `reaches into the bytes of ${other} (overlapping entries, a zip bomb technique)`,
        entry.nameRaw,
      );
    }
  }
}

/** Refuses bytes between `from` and `to` that no entry owns. */
async function gap(reader: ArchiveFile, from: number, to: number, file: string): Promise<never> {
  if (to < from) {
    throw fail('zip.overlapping-entries', file, `has records overlapping at offset ${to}`);
  }
  if (from === 0) {
    throw fail(
      'zip.unowned-bytes',
      file,
      `has ${to} bytes before its first entry that no entry owns (prepended data)`,
    );
  }
  // A second central directory sitting in the gap is a decoy another reader may pick instead.
  if (to - from >= 4 && (await reader.bytes(from, 4)).readUInt32LE(0) === CENTRAL_SIG) {
    throw fail('zip.bad-directory', file, `has a second (decoy) central directory at offset ${from}`);
  }
  throw fail('zip.unowned-bytes', file, `has ${to - from} bytes at offset ${from} that no entry owns`);
}

/**
 * Reads the entry's local header and data descriptor, proves they repeat the central record and
 * returns where the entry's bytes end.
 */
async function checkLocal(
  reader: ArchiveFile,
  entry: CentralRecord,
  directoryOffset: number,
  file: string,
): Promise<number> {
  const name = entry.nameRaw;
  const mismatch = (what: string) =>
    fail(
      'zip.header-mismatch',
      file,
      `has a local header whose ${what} differs from its central record`,
      name,
    );
  const at = entry.localHeaderOffset;
  const header = await reader.bytes(at, LOCAL_BYTES);
  if (header.readUInt32LE(0) !== LOCAL_SIG) {
    throw fail('zip.header-mismatch', file, `has no local header at offset ${at}`, name);
  }
  const nameLength = header.readUInt16LE(26);
  const extraLength = header.readUInt16LE(28);
  const dataStart = at + LOCAL_BYTES + nameLength + extraLength;
  if (dataStart + entry.compressedSize > directoryOffset) {
    throw fail(
      'zip.overlapping-entries',
      file,
      'has a local header that reaches into the central directory',
      name,
    );
  }
  const variable = await reader.bytes(at + LOCAL_BYTES, nameLength + extraLength);
  const flags = header.readUInt16LE(6);
  if (flags !== entry.flags) {
    if ((flags ^ entry.flags) & ENCRYPTION_FLAGS) throw mismatch('encryption flag');
    throw mismatch(`flags (0x${flags.toString(16)} vs 0x${entry.flags.toString(16)})`);
  }
  if (header.readUInt16LE(8) !== entry.method) throw mismatch('compression method');
  if (!variable.subarray(0, nameLength).equals(name)) throw mismatch('name');
  const extras = parseExtraFields(variable.subarray(nameLength), name, 'local', file);
  checkFlagsAndExtras(flags, extras, name, file);

  const zip64 = new Zip64Reader(extras.get(ZIP64_EXTRA), name, file, 'zip.header-mismatch');
  const crc = header.readUInt32LE(14);
  const size = zip64.resolve(header.readUInt32LE(22), U32_MARK, 8);
  const compressedSize = zip64.resolve(header.readUInt32LE(18), U32_MARK, 8);
  const hasDescriptor = (flags & HAS_DESCRIPTOR) !== 0;
  // With bit 3 the local values may be zero (written before the data was known); else they must repeat the central ones.
  const agrees = (local: number, central: number) => local === central || (hasDescriptor && local === 0);
  if (!agrees(crc, entry.crc32)) throw mismatch('CRC-32');
  if (!agrees(size, entry.size)) throw mismatch('uncompressed size');
  if (!agrees(compressedSize, entry.compressedSize)) throw mismatch('compressed size');

  entry.dataStart = dataStart;
  const dataEnd = dataStart + entry.compressedSize;
  await checkDirectoryEntry(reader, entry, file);
  if (!hasDescriptor) return dataEnd;
  const wide = zip64.present || entry.extraFields.has(ZIP64_EXTRA);
  return dataEnd + (await checkDescriptor(reader, entry, wide, dataEnd, directoryOffset, file));
}

/**
 * Reads the data descriptor after an entry's data (with or without its optional signature, 32- or
 * 64-bit) and returns its length; its values must equal the central record's.
 */
async function checkDescriptor(
  reader: ArchiveFile,
  entry: CentralRecord,
  wide: boolean,
  dataEnd: number,
  directoryOffset: number,
  file: string,
): Promise<number> {
  const name = entry.nameRaw;
  const room = Math.min(24, directoryOffset - dataEnd);
  if (room < 12) {
    throw fail('zip.descriptor-mismatch', file, 'sets bit 3 but has no room for its data descriptor', name);
  }
  const bytes = await reader.bytes(dataEnd, room);
  const signed = bytes.readUInt32LE(0) === DESCRIPTOR_SIG;
  const body = signed ? bytes.subarray(4) : bytes;
  const length = (signed ? 4 : 0) + (wide ? 20 : 12);
  if (length > room) {
    throw fail('zip.descriptor-mismatch', file, 'has a data descriptor cut short by what follows', name);
  }
  const crc = body.readUInt32LE(0);
  const compressedSize = wide ? readU64(body, 4) : body.readUInt32LE(4);
  const size = wide ? readU64(body, 12) : body.readUInt32LE(8);
  if (crc !== entry.crc32 || compressedSize !== entry.compressedSize || size !== entry.size) {
    throw fail(
      'zip.descriptor-mismatch',
      file,
      'has a data descriptor whose CRC-32 or sizes differ from its central record',
      name,
    );
  }
  return length;
}

/** A directory entry must hold nothing: size 0, CRC 0, and no data beyond an empty deflate stream. */
async function checkDirectoryEntry(reader: ArchiveFile, entry: CentralRecord, file: string): Promise<void> {
  const name = entry.nameRaw;
  if (name.length === 0 || name[name.length - 1] !== 0x2f) return;
  const refuse = () => fail('zip.directory-has-data', file, 'is a directory but carries data', name);
  if (entry.size !== 0 || entry.crc32 !== 0) throw refuse();
  if (entry.compressedSize === 0) return;
  if (entry.method !== DEFLATED || entry.compressedSize > MAX_EMPTY_DEFLATE_BYTES) throw refuse();
  const data = await reader.bytes(entry.dataStart, entry.compressedSize);
  let inflated: Buffer;
  try {
    inflated = inflateRawSync(data, { maxOutputLength: 1 });
  } catch {
    throw refuse();
  }
  if (inflated.length !== 0) throw refuse();
}
