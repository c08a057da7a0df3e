import { withScannedArchive } from './open-archive';
import type { ZipEntryInfo } from './scan-entries';
import type { ZipLimits } from './zip-limits';

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
