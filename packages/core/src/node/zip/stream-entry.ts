import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, type InflateRaw } from 'node:zlib';
import { EntryDigest, type ZipFileDigest } from './entry-digest';
import type { ScannedArchive } from './open-archive';
import type { ArchiveEntry } from './scan-entries';
import { toZipError } from './zip-error';

const DEFLATED = 8;
/** zlib's default output chunk is 16 KiB; larger chunks cut per-chunk overhead several-fold. */
const INFLATE_CHUNK_BYTES = 256 * 1024;
/** Compressed bytes are read into one reused buffer of this size, so reading makes no garbage. */
const READ_CHUNK_BYTES = 256 * 1024;

/**
 * Pipes one file entry into `sink` with bounded memory, verifying and hashing on the way.
 * With `keep`, the entry's verified bytes are also stored there (only for entries known to be small).
 */
export async function streamEntry(
  archive: ScannedArchive,
  entry: ArchiveEntry,
  sink: Writable,
  keep?: Map<string, Buffer>,
): Promise<ZipFileDigest> {
  const digest = new EntryDigest(entry, archive.file, archive, keep !== undefined);
  try {
    if (entry.compressionMethod === DEFLATED) {
      await inflateInto(archive, entry, digest, sink);
    } else {
      let source: Readable;
      try {
        source = await archive.openEntry(entry);
      } catch (err) {
        sink.destroy();
        throw err;
      }
      await pipeline(source, digest, sink);
    }
  } catch (err) {
    throw toZipError(err, archive.file, entry.name);
  }
  const contents = digest.contents;
  if (keep && contents) keep.set(entry.name, contents);
  return digest.digest;
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
      await archive.readRaw(buffer, length, entry.dataStart + done);
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
