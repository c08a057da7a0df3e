import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { type ArchiveEntry, totalRatioError } from './scan-entries';
import { ZipError } from './zip-error';
import { maxInflatedBytes, type ZipLimits } from './zip-limits';

/** What bounds the bytes really inflated, whatever the entries declare. */
export interface InflateBudget {
  limits: ZipLimits;
  /** The archive file's size, for the whole-archive ratio. */
  archiveBytes: number;
  /** Shared by every entry of one archive. */
  inflated: { bytes: number };
}

/** The sha256 of one file entry's real bytes. */
export interface ZipFileDigest {
  name: string;
  size: number;
  /** Lowercase hex. */
  sha256: string;
}

/**
 * Passes an entry's bytes through while counting them, checking the CRC-32 and hashing with sha256.
 * Never trusts the declared size: too many or too few real bytes fail the stream, and so do more
 * real bytes than the per-entry or whole-archive limit. With `keep`, also collects the bytes.
 */
export class EntryDigest extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private crc = 0;
  private result: ZipFileDigest | undefined;

  private readonly kept: Buffer[] | undefined;

  constructor(
    private readonly entry: ArchiveEntry,
    private readonly file: string,
    private readonly budget: InflateBudget,
    keep = false,
  ) {
    super();
    if (keep) this.kept = [];
  }

  /** The entry's bytes, when constructed with `keep` and finished. */
  get contents(): Buffer | undefined {
    return this.kept && this.result ? Buffer.concat(this.kept) : undefined;
  }

  /** The digest, available once the stream has finished without error. */
  get digest(): ZipFileDigest {
    if (!this.result) throw new Error(`digest of ${this.entry.name} read before the stream finished`);
    return this.result;
  }

  /**
   * Counts, checks and hashes one chunk; throws a ZipError past any limit or the declared size.
   * `reused`: the caller will overwrite the chunk's memory, so bytes kept are copied.
   */
  account(chunk: Buffer, reused = false): void {
    this.bytes += chunk.length;
    this.budget.inflated.bytes += chunk.length;
    const { maxTotalBytes, maxEntryBytes } = this.budget.limits;
    if (this.budget.inflated.bytes > maxTotalBytes) {
      const detail = `inflates the archive past ${maxTotalBytes} bytes in total`;
      throw new ZipError('zip.too-large', this.file, detail, this.entry.name);
    }
    const { limits, archiveBytes } = this.budget;
    if (this.budget.inflated.bytes > maxInflatedBytes(limits, archiveBytes)) {
      throw totalRatioError(this.file, limits, archiveBytes, 'inflates to more than');
    }
    if (this.bytes > maxEntryBytes) {
      const detail = `inflates to more than the per-entry limit of ${maxEntryBytes} bytes`;
      throw new ZipError('zip.entry-too-large', this.file, detail, this.entry.name);
    }
    if (this.bytes > this.entry.size) throw this.sizeMismatch('more');
    this.kept?.push(reused ? Buffer.from(chunk) : chunk);
    this.hash.update(chunk);
    this.crc = crc32(chunk, this.crc);
  }

  /** Checks the real size and CRC-32 against the central record; throws a ZipError when they differ. */
  finish(): ZipFileDigest {
    if (this.bytes !== this.entry.size) throw this.sizeMismatch('fewer');
    if (this.crc !== this.entry.crc32) {
      const expected = `expected ${hex(this.entry.crc32)}, got ${hex(this.crc)}`;
      throw new ZipError('zip.corrupt', this.file, `fails its CRC-32 check (${expected})`, this.entry.name);
    }
    this.result = { name: this.entry.name, size: this.bytes, sha256: this.hash.digest('hex') };
    return this.result;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.account(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.finish();
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }

  private sizeMismatch(direction: 'more' | 'fewer'): ZipError {
    return new ZipError(
      'zip.size-mismatch',
      this.file,
      `holds ${direction} bytes than the ${this.entry.size} it declares`,
      this.entry.name,
    );
  }
}

function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** Orders digests by name so output is stable whatever the archive order. */
export function sortDigests(digests: ZipFileDigest[]): ZipFileDigest[] {
  return digests.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
