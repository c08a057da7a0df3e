import { Writable } from 'node:stream';
import { sortDigests, type ZipFileDigest } from './entry-digest';
import { withScannedArchive } from './open-archive';
import { streamEntry } from './stream-entry';
import type { ZipLimits } from './zip-limits';

/** Streams every file entry through sha256 without writing to disk; memory stays bounded. Sorted by name. */
export function hashZip(file: string, limits?: Partial<ZipLimits>): Promise<ZipFileDigest[]> {
  return withScannedArchive(file, limits, async (archive) => {
    const digests: ZipFileDigest[] = [];
    for (const entry of archive.entries) {
      if (entry.isDirectory) continue;
      digests.push(await streamEntry(archive, entry, discard()));
    }
    return sortDigests(digests);
  });
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}
