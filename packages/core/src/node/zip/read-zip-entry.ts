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
    // The digest stage refuses anything beyond the declared size, which is within maxBytes.
    const kept = new Map<string, Buffer>();
    await streamEntry(archive, entry, undefined, kept);
    return kept.get(name) ?? Buffer.alloc(0);
  });
}
