import type { ZipFileDigest } from '../src/node/zip/entry-digest';
import { withScannedArchive } from '../src/node/zip/open-archive';
import { readArchive } from '../src/node/zip/read-archive';
import type { ZipEntryInfo } from '../src/node/zip/scan-entries';
import type { ZipLimits } from '../src/node/zip/zip-limits';

/**
 * The zip reader's three single-purpose views, for tests only: product code calls readArchive (one
 * pass that verifies, hashes and optionally extracts) or readZipEntry. Each runs the same strict scan.
 */

/** Reads the central directory and rejects anything unsafe before a byte is inflated. */
export function scanZip(file: string, limits?: Partial<ZipLimits>): Promise<ZipEntryInfo[]> {
  return withScannedArchive(file, limits, async ({ entries }) =>
    entries.map(({ name, size, compressedSize, isDirectory, executable }) => ({
      name,
      size,
      compressedSize,
      isDirectory,
      executable,
    })),
  );
}

/** Streams every file entry through sha256 without writing to disk; memory stays bounded. Sorted by name. */
export async function hashZip(file: string, limits?: Partial<ZipLimits>): Promise<ZipFileDigest[]> {
  return (await readArchive(file, { limits })).digests;
}

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
