import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { expect } from 'vitest';
import yazl from 'yazl';
import { ZipError } from './zip-error';

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
}

export interface BuildOptions {
  /** Entry count written to the end-of-central-directory record (defaults to the real count). */
  declaredEntryCount?: number;
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

function localHeader(e: Encoded): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(VERSION, 4);
  header.writeUInt16LE(e.flags, 6);
  header.writeUInt16LE(e.method, 8);
  header.writeUInt32LE(e.crc, 14);
  header.writeUInt32LE(e.compressedSize, 18);
  header.writeUInt32LE(e.size, 22);
  header.writeUInt16LE(e.name.length, 26);
  return Buffer.concat([header, e.name]);
}

function centralHeader(e: Encoded, offset: number): Buffer {
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
  header.writeUInt32LE(e.externalAttributes, 38);
  header.writeUInt32LE(offset, 42);
  return Buffer.concat([header, e.name]);
}

function endOfCentralDirectory(count: number, size: number, offset: number): Buffer {
  const record = Buffer.alloc(22);
  record.writeUInt32LE(0x06054b50, 0);
  record.writeUInt16LE(count, 8);
  record.writeUInt16LE(count, 10);
  record.writeUInt32LE(size, 12);
  record.writeUInt32LE(offset, 16);
  return record;
}

/** Builds zip bytes by hand: local headers, central directory, end record. No validation at all. */
export function buildZip(entries: readonly RawEntry[], options: BuildOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const encoded = encode(entry);
    const local = Buffer.concat([localHeader(encoded), encoded.body]);
    central.push(centralHeader(encoded, offset));
    parts.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(central);
  const count = options.declaredEntryCount ?? entries.length;
  return Buffer.concat([...parts, directory, endOfCentralDirectory(count, directory.length, offset)]);
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

/** The ZipError code a promise rejects with; fails the test if it resolves or throws anything else. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ZipError);
  return (err as ZipError).code;
}
