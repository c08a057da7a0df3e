// Downloading an archive: streamed to a staging file while hashing, in one pass, with a size cap
// from the catalog's size_bytes and timeouts. Shared by CoreService (installs) and `hub mirror`. A 5xx answer or a connection reset is retried a few
// times with backoff; when the server takes ranges, the retry resumes where the bytes stopped
// (guarded by If-Range), otherwise it starts over. Anything else removes the file and throws.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, ftruncateSync, openSync, rmSync, writeSync } from 'node:fs';
import { request } from 'undici';

/** Why a download failed: the archive is not what the document said, the server failed, or it is not there. */
export type DownloadErrorCode = 'checksum-mismatch' | 'download-failed' | 'not-found';

export class DownloadError extends Error {
  constructor(
    readonly code: DownloadErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export interface DownloadOptions {
  sha256: string;
  sizeBytes: number;
  /** No byte for this long is a failure (a 1 byte/s server is one). */
  idleTimeoutMs?: number;
  /** The whole download, retries included, may take at most this long. */
  totalTimeoutMs?: number;
  /**
   * A hub that trickles bytes is given up on: fewer than `minBytesPerSecond` on average over any
   * `minRateWindowMs` (curl's --speed-limit/--speed-time) aborts the download. Defaults: 1 KiB/s
   * over 30 s; 0 turns it off.
   */
  minBytesPerSecond?: number;
  minRateWindowMs?: number;
  /** Retries after a 5xx or a reset (default 3); each waits 250 ms, 500 ms, 1 s … */
  retries?: number;
  onProgress?: (bytes: number, total: number) => void;
  /**
   * Receives every byte in order as it is written (extraction overlapped with the download).
   * `onRestart` says the bytes so far are void: the server sent the file again from the start.
   */
  onBytes?: (chunk: Buffer) => Promise<void> | void;
  onRestart?: () => void;
  /** Sent as the Authorization header (a private registry's archive on its own origin). */
  authorization?: string;
  /** Told before each retry, with why and where it resumes. */
  onRetry?: (info: { attempt: number; reason: string; resumeAt: number }) => void;
}

const RETRYABLE = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'ECONNREFUSED',
  'UND_ERR_CLOSED',
  'ETIMEDOUT',
]);

class Retry extends Error {}

/**
 * Streams `url` into `dest` (created new: O_EXCL) while hashing. Memory stays bounded whatever the
 * size. The body must be exactly `sizeBytes` long with sha256 `sha256`; on any failure `dest` is
 * removed and a DownloadError says what went wrong.
 */
export async function downloadArchive(url: string, dest: string, opts: DownloadOptions): Promise<void> {
  const idle = opts.idleTimeoutMs ?? 30_000;
  const total = opts.totalTimeoutMs ?? 30 * 60_000;
  const retries = opts.retries ?? 3;
  const fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  let hash: Hash = createHash('sha256');
  let received = 0;
  let validator: string | undefined;
  let resumable = false;
  const abort = new AbortController();
  let abortReason = `took longer than ${Math.round(total / 1000)} s`;
  const deadline = setTimeout(() => abort.abort(), total);
  // The minimum rate: one sample a second; when the bytes of the last window, averaged, fall short,
  // the download is aborted like a timeout (the lock it holds is released, nothing stays).
  const minRate = opts.minBytesPerSecond ?? 1024;
  const window = opts.minRateWindowMs ?? 30_000;
  const samples: { t: number; bytes: number }[] = [];
  let everReceived = 0;
  const rateCheck =
    minRate > 0
      ? setInterval(
          () => {
            const now = Date.now();
            samples.push({ t: now, bytes: everReceived });
            while (samples.length > 1 && now - samples[1]!.t >= window) samples.shift();
            const first = samples[0]!;
            if (now - first.t < window) return;
            const rate = ((everReceived - first.bytes) * 1000) / (now - first.t);
            if (rate >= minRate) return;
            abortReason = `the hub sent ${everReceived - first.bytes} bytes in the last ${Math.round((now - first.t) / 1000)} s, below the minimum of ${minRate} bytes/s`;
            abort.abort();
          },
          Math.min(1000, Math.max(50, window / 10)),
        )
      : undefined;
  rateCheck?.unref();
  const restart = () => {
    opts.onRestart?.();
    ftruncateSync(fd, 0);
    hash = createHash('sha256');
    received = 0;
  };
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await once();
        break;
      } catch (err) {
        if (!(err instanceof Retry) || attempt >= retries || abort.signal.aborted) {
          if (err instanceof Retry) {
            throw new DownloadError(
              'download-failed',
              `the download of ${url} failed after ${received} bytes and ${attempt + 1} attempts: ${err.message}`,
            );
          }
          throw err;
        }
        if (!resumable && received > 0) restart();
        opts.onRetry?.({ attempt: attempt + 1, reason: err.message, resumeAt: received });
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
    if (received !== opts.sizeBytes) {
      throw new DownloadError(
        'checksum-mismatch',
        `${url} ended after ${received} of ${opts.sizeBytes} bytes`,
      );
    }
    const got = hash.digest('hex');
    if (got !== opts.sha256) {
      throw new DownloadError(
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
    clearInterval(rateCheck);
  }
  closeSync(fd);

  async function once(): Promise<void> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    // Redirects are never followed (a 3xx fails the download), so the token reaches no other host.
    if (opts.authorization) headers.authorization = opts.authorization;
    const resuming = received > 0 && resumable;
    if (resuming) {
      headers.range = `bytes=${received}-`;
      if (validator) headers['if-range'] = validator;
    }
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers,
        headersTimeout: idle,
        bodyTimeout: idle,
        signal: abort.signal,
        // Bigger reads: fewer, larger chunks to hash and write.
        highWaterMark: 1024 * 1024,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (RETRYABLE.has(code)) throw new Retry(code);
      throw new DownloadError(
        'download-failed',
        `could not download ${url}: ${abort.signal.aborted ? abortReason : code}`,
      );
    }
    if (res.statusCode >= 500) {
      await res.body.dump();
      throw new Retry(`${url} answered ${res.statusCode}`);
    }
    if (res.statusCode === 206 && resuming) {
      // Only the exact continuation of what we have is accepted.
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== received || Number(m[3]) !== opts.sizeBytes) {
        res.body.destroy();
        restart();
        resumable = false;
        throw new Retry(`${url} answered a range other than the one asked for`);
      }
    } else if (res.statusCode === 200) {
      if (received > 0) restart(); // the server sent the whole file again
      const announced = Number(res.headers['content-length']);
      if (Number.isFinite(announced) && announced !== opts.sizeBytes) {
        res.body.destroy();
        throw new DownloadError(
          'checksum-mismatch',
          `${url} is ${announced} bytes, but the hub says ${opts.sizeBytes}`,
        );
      }
    } else {
      await res.body.dump();
      throw new DownloadError(
        res.statusCode === 404 ? 'not-found' : 'download-failed',
        `${url} answered ${res.statusCode}`,
      );
    }
    resumable = res.headers['accept-ranges'] === 'bytes';
    const etag = res.headers.etag;
    validator = typeof etag === 'string' && !etag.startsWith('W/') ? etag : undefined;
    try {
      for await (const chunk of res.body) {
        const bytes = chunk as Buffer;
        if (received + bytes.length > opts.sizeBytes) {
          res.body.destroy();
          throw new DownloadError(
            'checksum-mismatch',
            `${url} sent more than the ${opts.sizeBytes} bytes the hub says it has`,
          );
        }
        hash.update(bytes);
        for (let off = 0; off < bytes.length; )
          off += writeSync(fd, bytes, off, bytes.length - off, received + off);
        received += bytes.length;
        everReceived += bytes.length;
        if (opts.onBytes) await opts.onBytes(bytes);
        opts.onProgress?.(received, opts.sizeBytes);
      }
    } catch (err) {
      if (err instanceof DownloadError) throw err;
      const e = err as NodeJS.ErrnoException;
      if (abort.signal.aborted) {
        throw new DownloadError(
          'download-failed',
          `the download of ${url} failed after ${received} bytes: ${abortReason}`,
        );
      }
      if (e.code && RETRYABLE.has(e.code)) throw new Retry(e.code);
      throw new DownloadError(
        'download-failed',
        `the download of ${url} failed after ${received} bytes: ${e.code ?? e.message}`,
      );
    }
  }
}
