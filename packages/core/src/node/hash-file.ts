import { createHash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import { TooLargeError } from './io-error';

export interface FileDigest {
  sha256: string;
  size: number;
}

/**
 * sha256 and size of an open file, read in bounded chunks; also writes the bytes to `copyTo`
 * when given (one pass for "copy what you verified"). Stops with an error past `maxBytes`.
 * Reads and writes are synchronous into one reused buffer: for local files that is several times
 * faster here than round trips through libuv's thread pool, and makes no garbage.
 */
export async function hashFd(
  fd: number,
  opts: { maxBytes: number; copyTo?: import('node:fs/promises').FileHandle },
): Promise<FileDigest> {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(1 << 20);
  let size = 0;
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, size);
    if (n === 0) break;
    size += n;
    if (size > opts.maxBytes) throw new TooLargeError(size, opts.maxBytes, true);
    const bytes = chunk.subarray(0, n);
    hash.update(bytes);
    if (opts.copyTo) {
      for (let written = 0; written < n; ) written += writeSync(opts.copyTo.fd, bytes, written, n - written);
    }
  }
  return { sha256: hash.digest('hex'), size };
}
