import { Writable } from 'node:stream';
import { withScannedArchive } from './open-archive';
import { streamEntry } from './stream-entry';
import { ZipError } from './zip-error';
import type { ZipLimits } from './zip-limits';

/** Reads one file entry fully into memory (e.g. manifest.yaml); rejects if it is larger than `maxBytes`. */
export function readZipEntry(
  file: string,
  name: string,
  maxBytes: number,
  limits?: Partial<ZipLimits>,
): Promise<Buffer> {
  return withScannedArchive(file, limits, async (archive) => {
    const entry = archive.entries.find((candidate) => candidate.name === name);
    if (!entry || entry.isDirectory) {
      throw new ZipError('zip.entry-missing', file, 'is not a file in the archive', name);
    }
    if (entry.size > maxBytes) {
      throw new ZipError(
        'zip.entry-too-large',
        file,
        `is ${entry.size} bytes, over the limit of ${maxBytes}`,
        name,
      );
    }
    // The digest stage has already refused anything beyond the declared size, which is within maxBytes.
    const chunks: Buffer[] = [];
    const collect = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        chunks.push(chunk);
        callback();
      },
    });
    await streamEntry(archive, entry, collect);
    return Buffer.concat(chunks);
  });
}
