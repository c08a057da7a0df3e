import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import yazl from 'yazl';
import { ZipError, type ZipErrorCode } from '../src/node/zip/zip-error';
import type { ZipLimits } from '../src/node/zip/zip-limits';

/**
 * One entry for {@link buildZip}. Everything a hostile archive could lie about can be set:
 * raw name bytes, flags, attributes, method and the declared sizes and CRC.
 */
export interface RawEntry {
  /** A string is written as UTF-8 bytes; pass a Buffer for exact bytes. */
  name: string | Buffer;
  data?: Buffer;
  /** 'deflate' really compresses `data`; a number writes `data` as-is under that method id. */
  method?: 'store' | 'deflate' | number;
  flags?: number;
  /** Unix mode, stored in the upper 16 bits of the external attributes. */
  mode?: number;
  declaredSize?: number;
  declaredCompressedSize?: number;
  crc?: number;
  /** Extra field bytes written in both headers. */
  extra?: Buffer;
  /** What only the local header says, where it lies about the central record. */
  local?: {
    name?: string | Buffer;
    flags?: number;
    method?: number;
    crc?: number;
    compressedSize?: number;
    size?: number;
    extra?: Buffer;
  };
  /** Bytes written right after the data (a data descriptor, or junk that nobody owns). */
  after?: Buffer;
  /** Only a central record, pointing at this offset; nothing is written for it among the local headers. */
  centralOnlyAt?: number;
}

export interface BuildOptions {
  /** Entry count written to the end-of-central-directory record (defaults to the real count). */
  declaredEntryCount?: number;
  /** Bytes before the first local header; offsets count them unless `prefixShiftsOffsets` is false. */
  prefix?: Buffer;
  /** false: offsets ignore the prefix, as after `cat script.sh plugin.zip`. */
  prefixShiftsOffsets?: boolean;
  /** Bytes between the last entry and the central directory. */
  beforeDirectory?: Buffer;
  /** Overrides of the end record's central-directory size and offset. */
  directorySize?: number;
  directoryOffset?: number;
  comment?: Buffer;
}

export const UTF8_FLAG = 0x800;
export const ENCRYPTED_FLAG = 0x1;
const UNIX_HOST = 3 << 8;
const VERSION = 20;

interface Encoded {
  name: Buffer;
  body: Buffer;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  externalAttributes: number;
}

function encode(entry: RawEntry): Encoded {
  const name = typeof entry.name === 'string' ? Buffer.from(entry.name, 'utf8') : entry.name;
  const data = entry.data ?? Buffer.alloc(0);
  const method =
    entry.method === 'deflate'
      ? 8
      : entry.method === 'store' || entry.method === undefined
        ? 0
        : entry.method;
  const body = entry.method === 'deflate' ? deflateRawSync(data) : data;
  return {
    name,
    body,
    method,
    flags: entry.flags ?? 0,
    crc: entry.crc ?? crc32(data),
    compressedSize: entry.declaredCompressedSize ?? body.length,
    size: entry.declaredSize ?? data.length,
    externalAttributes: ((entry.mode ?? 0o100644) << 16) >>> 0,
  };
}

function localHeader(e: Encoded, extra: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(VERSION, 4);
  header.writeUInt16LE(e.flags, 6);
  header.writeUInt16LE(e.method, 8);
  header.writeUInt32LE(e.crc, 14);
  header.writeUInt32LE(e.compressedSize, 18);
  header.writeUInt32LE(e.size, 22);
  header.writeUInt16LE(e.name.length, 26);
  header.writeUInt16LE(extra.length, 28);
  return Buffer.concat([header, e.name, extra]);
}

function centralHeader(e: Encoded, offset: number, extra: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(UNIX_HOST | VERSION, 4);
  header.writeUInt16LE(VERSION, 6);
  header.writeUInt16LE(e.flags, 8);
  header.writeUInt16LE(e.method, 10);
  header.writeUInt32LE(e.crc, 16);
  header.writeUInt32LE(e.compressedSize, 20);
  header.writeUInt32LE(e.size, 24);
  header.writeUInt16LE(e.name.length, 28);
  header.writeUInt16LE(extra.length, 30);
  header.writeUInt32LE(e.externalAttributes, 38);
  header.writeUInt32LE(offset, 42);
  return Buffer.concat([header, e.name, extra]);
}

/** An end-of-central-directory record; `comment` is appended and its length recorded. */
export function endOfCentralDirectory(
  count: number,
  size: number,
  offset: number,
  comment: Buffer = Buffer.alloc(0),
): Buffer {
  const record = Buffer.alloc(22);
  record.writeUInt32LE(0x06054b50, 0);
  record.writeUInt16LE(count, 8);
  record.writeUInt16LE(count, 10);
  record.writeUInt32LE(size, 12);
  record.writeUInt32LE(offset, 16);
  record.writeUInt16LE(comment.length, 20);
  return Buffer.concat([record, comment]);
}

/** A data descriptor (bit 3) for `data` as stored, optionally without its signature or with 64-bit sizes. */
export function dataDescriptor(
  values: { crc: number; compressedSize: number; size: number },
  opts: { signature?: boolean; wide?: boolean } = {},
): Buffer {
  const wide = opts.wide ?? false;
  const body = Buffer.alloc(wide ? 20 : 12);
  body.writeUInt32LE(values.crc, 0);
  if (wide) {
    body.writeBigUInt64LE(BigInt(values.compressedSize), 4);
    body.writeBigUInt64LE(BigInt(values.size), 12);
  } else {
    body.writeUInt32LE(values.compressedSize, 4);
    body.writeUInt32LE(values.size, 8);
  }
  if (opts.signature === false) return body;
  const signature = Buffer.alloc(4);
  signature.writeUInt32LE(0x08074b50);
  return Buffer.concat([signature, body]);
}

/**
 * Turns a zip without an end-record comment into a zip64 one: a zip64 end record and locator go
 * before the end record, whose count, size and offset become the zip64 markers (unless overridden).
 */
export function withZip64End(bytes: Buffer, patch: { count16?: number; zip64Count?: number } = {}): Buffer {
  const endAt = bytes.length - 22;
  const count = bytes.readUInt16LE(endAt + 10);
  const size = bytes.readUInt32LE(endAt + 12);
  const offset = bytes.readUInt32LE(endAt + 16);
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  const zip64Count = BigInt(patch.zip64Count ?? count);
  record.writeBigUInt64LE(zip64Count, 24);
  record.writeBigUInt64LE(zip64Count, 32);
  record.writeBigUInt64LE(BigInt(size), 40);
  record.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(endAt), 8);
  locator.writeUInt32LE(1, 16);
  const end = Buffer.from(bytes.subarray(endAt));
  end.writeUInt16LE(patch.count16 ?? 0xffff, 8);
  end.writeUInt16LE(patch.count16 ?? 0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([bytes.subarray(0, endAt), record, locator, end]);
}

/** An extra field: 2-byte id, 2-byte length, data. */
export function extraField(id: number, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(id, 0);
  head.writeUInt16LE(data.length, 2);
  return Buffer.concat([head, data]);
}

/** The local header (name and extra included) that {@link buildZip} would write for `entry`. */
export function localHeaderOf(entry: RawEntry): Buffer {
  return localHeader(encode(entry), entry.extra);
}

/** The central record that {@link buildZip} would write for `entry` at `offset`. */
export function centralRecordOf(entry: RawEntry, offset: number): Buffer {
  return centralHeader(encode(entry), offset, entry.extra);
}

function encodeLocal(entry: RawEntry, central: Encoded): Encoded {
  const local = entry.local ?? {};
  const name = local.name === undefined ? central.name : Buffer.from(local.name);
  return {
    ...central,
    name,
    flags: local.flags ?? central.flags,
    method: local.method ?? central.method,
    crc: local.crc ?? central.crc,
    compressedSize: local.compressedSize ?? central.compressedSize,
    size: local.size ?? central.size,
  };
}

/** Builds zip bytes by hand: local headers, central directory, end record. No validation at all. */
export function buildZip(entries: readonly RawEntry[], options: BuildOptions = {}): Buffer {
  const prefix = options.prefix ?? Buffer.alloc(0);
  const parts: Buffer[] = [prefix];
  const central: Buffer[] = [];
  const shift = options.prefixShiftsOffsets === false ? 0 : prefix.length;
  let offset = shift;
  for (const entry of entries) {
    const encoded = encode(entry);
    const extra = entry.extra ?? Buffer.alloc(0);
    if (entry.centralOnlyAt !== undefined) {
      central.push(centralHeader(encoded, entry.centralOnlyAt, extra));
      continue;
    }
    const localExtra = entry.local?.extra ?? extra;
    const local = Buffer.concat([
      localHeader(encodeLocal(entry, encoded), localExtra),
      encoded.body,
      entry.after ?? Buffer.alloc(0),
    ]);
    central.push(centralHeader(encoded, offset, extra));
    parts.push(local);
    offset += local.length;
  }
  const between = options.beforeDirectory ?? Buffer.alloc(0);
  parts.push(between);
  offset += between.length;
  const directory = Buffer.concat(central);
  const count = options.declaredEntryCount ?? central.length;
  const end = endOfCentralDirectory(
    count,
    options.directorySize ?? directory.length,
    options.directoryOffset ?? offset,
    options.comment,
  );
  return Buffer.concat([...parts, directory, end]);
}

/** Builds a zip with yazl, the way a well-behaved packer would. */
export function buildYazlZip(
  files: readonly { name: string; data?: Buffer; mode?: number; compress?: boolean; directory?: boolean }[],
  options: { forceZip64Format?: boolean } = {},
): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const forceZip64Format = options.forceZip64Format ?? false;
  for (const file of files) {
    if (file.directory) zip.addEmptyDirectory(file.name);
    else
      zip.addBuffer(file.data ?? Buffer.alloc(0), file.name, {
        mode: file.mode ?? 0o100644,
        compress: file.compress ?? true,
        forceZip64Format,
      });
  }
  zip.end({ forceZip64Format, comment: '' });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.outputStream.on('error', reject);
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * Writes a zip holding one stored entry of `size` random bytes without ever holding them in memory.
 * Returns the entry's sha256.
 */
export async function writeLargeStoredZip(file: string, name: string, size: number): Promise<string> {
  const handle = await open(file, 'w');
  try {
    const nameBytes = Buffer.from(name);
    const dataStart = 30 + nameBytes.length;
    const hash = createHash('sha256');
    let crc = 0;
    for (let written = 0; written < size; ) {
      const chunk = randomBytes(Math.min(1024 * 1024, size - written));
      hash.update(chunk);
      crc = crc32(chunk, crc);
      await handle.write(chunk, 0, chunk.length, dataStart + written);
      written += chunk.length;
    }
    const encoded: Encoded = {
      name: nameBytes,
      body: Buffer.alloc(0),
      method: 0,
      flags: 0,
      crc,
      compressedSize: size,
      size,
      externalAttributes: (0o100644 << 16) >>> 0,
    };
    await handle.write(localHeader(encoded), 0, dataStart, 0);
    const directory = centralHeader(encoded, 0);
    const tail = Buffer.concat([directory, endOfCentralDirectory(1, directory.length, dataStart + size)]);
    await handle.write(tail, 0, tail.length, dataStart + size);
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** A fresh directory under the OS temp dir. */
export function makeTempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'hub-zip-'));
}

/** Writes `bytes` as `plugin.mpn` in a fresh temp dir and returns both paths. */
export async function writeTempZip(bytes: Buffer): Promise<{ dir: string; file: string }> {
  const dir = await makeTempDir();
  const file = path.join(dir, 'plugin.mpn');
  await writeFile(file, bytes);
  return { dir, file };
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** One hostile archive for the shared scan/hash/extract harness in hostile-archives.test.ts. */
export interface HostileCase {
  title: string;
  bytes: () => Buffer;
  code: ZipErrorCode;
  /** 'scan' when the central directory alone gives it away; 'stream' when only reading the data does. */
  caughtBy: 'scan' | 'stream';
  limits?: Partial<ZipLimits>;
}

/** The ZipError code a promise rejects with; fails the test if it resolves or throws anything else. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ZipError)) throw new Error(`expected a ZipError, got ${String(err)}`);
  return (err as ZipError).code;
}
