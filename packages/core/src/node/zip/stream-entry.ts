import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, type InflateRaw } from 'node:zlib';
import { EntryDigest, type ZipFileDigest } from './entry-digest';
import type { ScannedArchive } from './open-archive';
import type { ArchiveEntry } from './scan-entries';
import { toZipError } from './zip-error';
import { DEFLATED } from './zip-format';

/** zlib's default output chunk is 16 KiB; larger chunks cut per-chunk overhead several-fold. */
const INFLATE_CHUNK_BYTES = 256 * 1024;
/** Compressed bytes are read into one reused buffer of this size, so reading makes no garbage. */
const READ_CHUNK_BYTES = 256 * 1024;

/** Stored entries are copied through this one buffer, read synchronously: no garbage, no thread pool. */
const STORED_CHUNK_BYTES = 1024 * 1024;
let storedScratch: Buffer | undefined;

/**
 * Verifies and hashes one file entry with bounded memory, writing it to `target` when given (the
 * handle is closed either way). With `keep`, the entry's verified bytes are also stored there
 * (only for entries known to be small).
 */
export async function streamEntry(
  archive: ScannedArchive,
  entry: ArchiveEntry,
  target: FileHandle | undefined,
  keep?: Map<string, Buffer>,
): Promise<ZipFileDigest> {
  const digest = new EntryDigest(entry, archive.file, archive, keep !== undefined);
  try {
    if (entry.compressionMethod === DEFLATED) {
      await inflateInto(archive, entry, digest, target ? target.createWriteStream() : discard());
    } else {
      copyStored(archive, entry, digest, target);
      digest.finish();
      await target?.close();
    }
  } catch (err) {
    await target?.close().catch(() => undefined);
    throw toZipError(err, archive.file, entry.name);
  }
  const contents = digest.contents;
  if (keep && contents) keep.set(entry.name, contents);
  return digest.digest;
}

/**
 * A stored entry's bytes, straight from the archive: synchronous reads into one reused buffer, checked
 * and hashed, then written synchronously. Nothing awaits in between, so the buffer is never shared.
 */
function copyStored(
  archive: ScannedArchive,
  entry: ArchiveEntry,
  digest: EntryDigest,
  target: FileHandle | undefined,
): void {
  storedScratch ??= Buffer.allocUnsafe(STORED_CHUNK_BYTES);
  const buffer = storedScratch;
  for (let done = 0; done < entry.compressedSize; ) {
    const length = Math.min(buffer.length, entry.compressedSize - done);
    archive.readRawSync(buffer, length, entry.dataStart + done);
    const chunk = buffer.subarray(0, length);
    digest.account(chunk, true);
    if (target) writeAll(target.fd, chunk);
    done += length;
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let written = 0; written < chunk.length; ) {
    written += writeSync(fd, chunk, written, chunk.length - written);
  }
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

/**
 * Feeds the compressed bytes to zlib from one reused buffer: zlib has consumed a chunk when its write
 * callback fires, so the buffer is free again (and the callback waits while the consumers are full).
 */
async function inflateInto(
  archive: ScannedArchive,
  entry: ArchiveEntry,
  digest: EntryDigest,
  sink: Writable,
): Promise<void> {
  const inflate = createInflateRaw({ chunkSize: INFLATE_CHUNK_BYTES });
  const piped = pipeline(inflate, digest, sink);
  const fed = feed(archive, entry, inflate);
  const [pipedResult, fedResult] = await Promise.allSettled([piped, fed]);
  // The pipeline's error (bad data, size, limits) explains a failed feed, not the other way round.
  if (pipedResult.status === 'rejected') throw pipedResult.reason;
  if (fedResult.status === 'rejected') throw fedResult.reason;
}

async function feed(archive: ScannedArchive, entry: ArchiveEntry, inflate: InflateRaw): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(READ_CHUNK_BYTES, entry.compressedSize)));
  try {
    for (let done = 0; done < entry.compressedSize; ) {
      const length = Math.min(buffer.length, entry.compressedSize - done);
      archive.readRawSync(buffer, length, entry.dataStart + done);
      await write(inflate, buffer.subarray(0, length));
      done += length;
    }
    inflate.end();
  } catch (err) {
    inflate.destroy(err as Error);
    throw err;
  }
}

function write(stream: InflateRaw, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error('the inflater closed before it took the data'));
    stream.once('close', onClose);
    stream.write(chunk, (err) => {
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}
