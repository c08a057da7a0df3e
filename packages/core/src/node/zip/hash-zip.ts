import type { ZipFileDigest } from './entry-digest';
import { readArchive } from './read-archive';
import type { ZipLimits } from './zip-limits';

/** Streams every file entry through sha256 without writing to disk; memory stays bounded. Sorted by name. */
export async function hashZip(file: string, limits?: Partial<ZipLimits>): Promise<ZipFileDigest[]> {
  return (await readArchive(file, { limits })).digests;
}
