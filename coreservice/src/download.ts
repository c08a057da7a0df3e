// Downloading an archive: streamed to a staging file while hashing, in one pass, with a size cap
// from the catalog's size_bytes and timeouts; anything unexpected removes the file and throws.
import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import { request } from 'undici';
import { InstallError } from './errors';

export interface DownloadOptions {
  sha256: string;
  sizeBytes: number;
  /** No byte for this long is a failure (a 1 byte/s server is one). */
  idleTimeoutMs?: number;
  /** The whole download may take at most this long. */
  totalTimeoutMs?: number;
  onProgress?: (bytes: number, total: number) => void;
}

/**
 * Streams `url` into `dest` (created new: O_EXCL) while hashing. Memory stays bounded whatever the
 * size. The body must be exactly `sizeBytes` long with sha256 `sha256`; on any failure `dest` is
 * removed and an InstallError says what went wrong.
 */
export async function downloadArchive(url: string, dest: string, opts: DownloadOptions): Promise<void> {
  const idle = opts.idleTimeoutMs ?? 30_000;
  const total = opts.totalTimeoutMs ?? 30 * 60_000;
  const fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  const hash = createHash('sha256');
  let received = 0;
  const abort = new AbortController();
  const deadline = setTimeout(() => abort.abort(), total);
  try {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { 'accept-encoding': 'identity' },
        headersTimeout: idle,
        bodyTimeout: idle,
        signal: abort.signal,
      });
    } catch (err) {
      throw new InstallError(
        'download-failed',
        `could not download ${url}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new InstallError(
        res.statusCode === 404 ? 'not-found' : 'download-failed',
        `${url} answered ${res.statusCode}`,
      );
    }
    const announced = Number(res.headers['content-length']);
    if (Number.isFinite(announced) && announced !== opts.sizeBytes) {
      res.body.destroy();
      throw new InstallError(
        'checksum-mismatch',
        `${url} is ${announced} bytes, but the hub says ${opts.sizeBytes}`,
      );
    }
    try {
      for await (const chunk of res.body) {
        const bytes = chunk as Buffer;
        received += bytes.length;
        if (received > opts.sizeBytes) {
          res.body.destroy();
          throw new InstallError(
            'checksum-mismatch',
            `${url} sent more than the ${opts.sizeBytes} bytes the hub says it has`,
          );
        }
        hash.update(bytes);
        for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
        opts.onProgress?.(received, opts.sizeBytes);
      }
    } catch (err) {
      if (err instanceof InstallError) throw err;
      const e = err as NodeJS.ErrnoException;
      const why = abort.signal.aborted
        ? `took longer than ${Math.round(total / 1000)} s`
        : (e.code ?? e.message);
      throw new InstallError(
        'download-failed',
        `the download of ${url} failed after ${received} bytes: ${why}`,
      );
    }
    if (received !== opts.sizeBytes) {
      throw new InstallError(
        'checksum-mismatch',
        `${url} ended after ${received} of ${opts.sizeBytes} bytes`,
      );
    }
    const got = hash.digest('hex');
    if (got !== opts.sha256) {
      throw new InstallError(
        'checksum-mismatch',
        `the archive from ${url} has sha256 ${got}, but the hub says ${opts.sha256}`,
      );
    }
  } catch (err) {
    closeSync(fd);
    rmSync(dest, { force: true });
    throw err;
  } finally {
    clearTimeout(deadline);
  }
  closeSync(fd);
}
