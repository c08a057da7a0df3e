const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Ceilings that keep a hostile archive from exhausting disk, memory or time. */
export interface ZipLimits {
  /** Size of the archive file itself. */
  maxArchiveBytes: number;
  maxEntries: number;
  /** Uncompressed bytes of one entry. */
  maxEntryBytes: number;
  /** Uncompressed bytes of all entries together. */
  maxTotalBytes: number;
  /** Uncompressed/compressed, checked only for entries larger than {@link RATIO_CHECK_MIN_BYTES}. */
  maxCompressionRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = Object.freeze({
  maxArchiveBytes: GiB,
  maxEntries: 10_000,
  maxEntryBytes: GiB,
  maxTotalBytes: 2 * GiB,
  maxCompressionRatio: 200,
});

/** Small files compress absurdly well (a page of spaces); only big ones can be bombs. */
export const RATIO_CHECK_MIN_BYTES = MiB;

/** Fills unset (or undefined) limits with the defaults. */
export function resolveZipLimits(limits: Partial<ZipLimits> = {}): ZipLimits {
  const resolved = { ...DEFAULT_ZIP_LIMITS };
  for (const key of Object.keys(resolved) as (keyof ZipLimits)[]) {
    const value = limits[key];
    if (value !== undefined) resolved[key] = value;
  }
  return resolved;
}
