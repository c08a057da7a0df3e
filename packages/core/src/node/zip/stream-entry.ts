import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EntryDigest, type ZipFileDigest } from './entry-digest';
import type { ScannedArchive } from './open-archive';
import type { ArchiveEntry } from './scan-entries';
import { toZipError } from './zip-error';

/** Pipes one file entry into `sink` with bounded memory, verifying and hashing on the way. */
export async function streamEntry(
  archive: ScannedArchive,
  entry: ArchiveEntry,
  sink: Writable,
): Promise<ZipFileDigest> {
  let source: Readable;
  try {
    source = await archive.openEntry(entry);
  } catch (err) {
    sink.destroy();
    throw toZipError(err, archive.file, entry.name);
  }
  const digest = new EntryDigest(entry, archive.file);
  try {
    await pipeline(source, digest, sink);
  } catch (err) {
    throw toZipError(err, archive.file, entry.name);
  }
  return digest.digest;
}
