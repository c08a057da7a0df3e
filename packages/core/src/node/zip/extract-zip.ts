import type { ZipFileDigest } from './entry-digest';
import { readArchive } from './read-archive';
import type { ZipLimits } from './zip-limits';

/**
 * Extracts into `destDir` (which must not exist or be empty), hashing as bytes stream. On any failure
 * removes everything it created, `destDir` included if it created it, and rethrows. Sorted by name.
 */
export async function extractZip(
  file: string,
  destDir: string,
  limits?: Partial<ZipLimits>,
): Promise<ZipFileDigest[]> {
  return (await readArchive(file, { extractTo: destDir, limits })).digests;
}
