import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EntryDigest, type ZipFileDigest } from './entry-digest';
import type { ScannedArchive } from './open-archive';
import type { ArchiveEntry } from './scan-entries';
import { toZipError } from './zip-error';

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
  let source: Readable;
  try {
    source = await archive.openEntry(entry);
  } catch (err) {
    sink.destroy();
    throw toZipError(err, archive.file, entry.name);
  }
  const digest = new EntryDigest(entry, archive.file, archive, keep !== undefined);
  try {
    await pipeline(source, digest, sink);
  } catch (err) {
    throw toZipError(err, archive.file, entry.name);
  }
  const contents = digest.contents;
  if (keep && contents) keep.set(entry.name, contents);
  return digest.digest;
}
