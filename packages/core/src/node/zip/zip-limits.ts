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
  /**
   * Uncompressed bytes of all entries together ÷ the archive file's size: many small entries, each
   * under the per-entry ratio check, must not inflate a few megabytes into gigabytes. Checked only
   * above {@link ZipLimits.totalRatioFloorBytes}; see {@link maxInflatedBytes}.
   */
  maxTotalRatio: number;
  /** Everything an archive inflates to may reach this many bytes whatever its own size. */
  totalRatioFloorBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = Object.freeze({
  maxArchiveBytes: GiB,
  maxEntries: 10_000,
  maxEntryBytes: GiB,
  maxTotalBytes: 2 * GiB,
  maxCompressionRatio: 200,
  maxTotalRatio: 100,
  totalRatioFloorBytes: 64 * MiB,
});

/** Small files compress absurdly well (a page of spaces); only big ones can be bombs. */
export const RATIO_CHECK_MIN_BYTES = MiB;

/**
 * How many bytes an archive of `archiveBytes` may inflate to in all, by the whole-archive ratio:
 * max(floor, ratio × archive size). (`maxTotalBytes` caps it too, with its own finding.)
 */
export function maxInflatedBytes(limits: ZipLimits, archiveBytes: number): number {
  return Math.max(limits.totalRatioFloorBytes, limits.maxTotalRatio * archiveBytes);
}

/** Fills unset (or undefined) limits with the defaults. */
export function resolveZipLimits(limits: Partial<ZipLimits> = {}): ZipLimits {
  const resolved = { ...DEFAULT_ZIP_LIMITS };
  for (const key of Object.keys(resolved) as (keyof ZipLimits)[]) {
    const value = limits[key];
    if (value !== undefined) resolved[key] = value;
  }
  return resolved;
}
