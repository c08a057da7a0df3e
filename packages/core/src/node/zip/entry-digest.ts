import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { ArchiveEntry } from './scan-entries';
import { ZipError } from './zip-error';

/** The sha256 of one file entry's real bytes. */
export interface ZipFileDigest {
  name: string;
  size: number;
  /** Lowercase hex. */
  sha256: string;
}

/**
 * Passes an entry's bytes through while counting them, checking the CRC-32 and hashing with sha256.
 * Never trusts the declared size: too many or too few real bytes fail the stream.
 */
export class EntryDigest extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private crc = 0;
  private result: ZipFileDigest | undefined;

  constructor(
    private readonly entry: ArchiveEntry,
    private readonly file: string,
  ) {
    super();
  }

  /** The digest, available once the stream has finished without error. */
  get digest(): ZipFileDigest {
    if (!this.result) throw new Error(`digest of ${this.entry.name} read before the stream finished`);
    return this.result;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.entry.size) {
      callback(this.sizeMismatch('more'));
      return;
    }
    this.hash.update(chunk);
    this.crc = crc32(chunk, this.crc);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.entry.size) {
      callback(this.sizeMismatch('fewer'));
    } else if (this.crc !== this.entry.crc32) {
      const expected = `expected ${hex(this.entry.crc32)}, got ${hex(this.crc)}`;
      callback(
        new ZipError('zip.corrupt', this.file, `fails its CRC-32 check (${expected})`, this.entry.name),
      );
    } else {
      this.result = { name: this.entry.name, size: this.bytes, sha256: this.hash.digest('hex') };
      callback();
    }
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
