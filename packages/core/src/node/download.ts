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
  const fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  const download = new Download(url, fd, opts);
  try {
    await download.withRetries();
    download.checkComplete();
  } catch (err) {
    closeSync(fd);
    // Best effort: the staging file is ours (created with O_EXCL); force ignores one already gone.
    rmSync(dest, { force: true });
    throw err;
  } finally {
    download.stop();
  }
  closeSync(fd);
}

/** One download's state across its attempts: the bytes so far, their hash, and how to resume. */
class Download {
  private hash: Hash = createHash('sha256');
  private received = 0;
  /** Every byte received, restarts included (the minimum rate counts these). */
  private everReceived = 0;
  private validator: string | undefined;
  private resumable = false;
  private readonly abort = new AbortController();
  private abortReason: string;
  private readonly deadline: NodeJS.Timeout;
  private readonly rateCheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly fd: number,
    private readonly opts: DownloadOptions,
  ) {
    const total = opts.totalTimeoutMs ?? 30 * 60_000;
    this.abortReason = `took longer than ${Math.round(total / 1000)} s`;
    this.deadline = setTimeout(() => this.abort.abort(), total);
    this.rateCheck = this.startRateCheck();
  }

  /**
   * The minimum rate: one sample a second; when the bytes of the last window, averaged, fall short,
   * the download is aborted like a timeout (the lock it holds is released, nothing stays).
   */
  private startRateCheck(): NodeJS.Timeout | undefined {
    const minRate = this.opts.minBytesPerSecond ?? 1024;
    const window = this.opts.minRateWindowMs ?? 30_000;
    if (minRate <= 0) return undefined;
    const samples: { t: number; bytes: number }[] = [];
    const timer = setInterval(
      () => {
        const now = Date.now();
        samples.push({ t: now, bytes: this.everReceived });
        while (samples.length > 1 && now - samples[1]!.t >= window) samples.shift();
        const first = samples[0]!;
        if (now - first.t < window) return;
        const rate = ((this.everReceived - first.bytes) * 1000) / (now - first.t);
        if (rate >= minRate) return;
        this.abortReason = `the hub sent ${this.everReceived - first.bytes} bytes in the last ${Math.round((now - first.t) / 1000)} s, below the minimum of ${minRate} bytes/s`;
        this.abort.abort();
      },
      Math.min(1000, Math.max(50, window / 10)),
    );
    timer.unref();
    return timer;
  }

  stop(): void {
    clearTimeout(this.deadline);
    clearInterval(this.rateCheck);
  }

  /** The bytes so far are void (the server sends the file again from the start). */
  private restart(): void {
    this.opts.onRestart?.();
    ftruncateSync(this.fd, 0);
    this.hash = createHash('sha256');
    this.received = 0;
  }

  /** Attempts until one completes; a 5xx or a reset is retried with backoff, resuming where it can. */
  async withRetries(): Promise<void> {
    const retries = this.opts.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt();
      } catch (err) {
        if (!(err instanceof Retry)) throw err;
        if (attempt >= retries || this.abort.signal.aborted) {
          throw new DownloadError(
            'download-failed',
            `the download of ${this.url} failed after ${this.received} bytes and ${attempt + 1} attempts: ${err.message}`,
          );
        }
        if (!this.resumable && this.received > 0) this.restart();
        this.opts.onRetry?.({ attempt: attempt + 1, reason: err.message, resumeAt: this.received });
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  }

  /** All the bytes came: exactly `sizeBytes`, with the sha256 the hub gave. */
  checkComplete(): void {
    const { url, opts } = this;
    if (this.received !== opts.sizeBytes) {
      throw new DownloadError(
        'checksum-mismatch',
        `${url} ended after ${this.received} of ${opts.sizeBytes} bytes`,
      );
    }
    const got = this.hash.digest('hex');
    if (got !== opts.sha256) {
      throw new DownloadError(
        'checksum-mismatch',
        `the archive from ${url} has sha256 ${got}, but the hub says ${opts.sha256}`,
      );
    }
  }

  /** One request: from the start, or (when the server takes ranges) from where the bytes stopped. */
  private async attempt(): Promise<void> {
    const resuming = this.received > 0 && this.resumable;
    const res = await this.send(resuming);
    await this.checkAnswer(res, resuming);
    await this.acceptAnswer(res, resuming);
    this.resumable = res.headers['accept-ranges'] === 'bytes';
    const etag = res.headers.etag;
    this.validator = typeof etag === 'string' && !etag.startsWith('W/') ? etag : undefined;
    await this.readBody(res);
  }

  private async send(resuming: boolean): Promise<Answer> {
    const { url, opts } = this;
    const idle = opts.idleTimeoutMs ?? 30_000;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    // Redirects are never followed (a 3xx fails the download), so the token reaches no other host.
    if (opts.authorization) headers.authorization = opts.authorization;
    if (resuming) {
      headers.range = `bytes=${this.received}-`;
      if (this.validator) headers['if-range'] = this.validator;
    }
    try {
      return await request(url, {
        method: 'GET',
        headers,
        headersTimeout: idle,
        bodyTimeout: idle,
        signal: this.abort.signal,
        // Bigger reads: fewer, larger chunks to hash and write.
        highWaterMark: 1024 * 1024,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (RETRYABLE.has(code)) throw new Retry(code);
      throw new DownloadError(
        'download-failed',
        `could not download ${url}: ${this.abort.signal.aborted ? this.abortReason : code}`,
      );
    }
  }

  /** Refuses what is not a body to read: a 5xx is retried, other statuses fail. */
  private async checkAnswer(res: Answer, resuming: boolean): Promise<void> {
    if (res.statusCode === 200 || (res.statusCode === 206 && resuming)) return;
    await res.body.dump();
    if (res.statusCode >= 500) throw new Retry(`${this.url} answered ${res.statusCode}`);
    throw new DownloadError(
      res.statusCode === 404 ? 'not-found' : 'download-failed',
      `${this.url} answered ${res.statusCode}`,
    );
  }

  /** A 206 must continue exactly what we have; a 200 is the whole file again, of the size the hub said. */
  private async acceptAnswer(res: Answer, resuming: boolean): Promise<void> {
    const { url, opts } = this;
    if (res.statusCode === 206 && resuming) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== this.received || Number(m[3]) !== opts.sizeBytes) {
        res.body.destroy();
        this.restart();
        this.resumable = false;
        throw new Retry(`${url} answered a range other than the one asked for`);
      }
      return;
    }
    if (this.received > 0) this.restart(); // the server sent the whole file again
    const announced = Number(res.headers['content-length']);
    if (Number.isFinite(announced) && announced !== opts.sizeBytes) {
      res.body.destroy();
      throw new DownloadError(
        'checksum-mismatch',
        `${url} is ${announced} bytes, but the hub says ${opts.sizeBytes}`,
      );
    }
  }

  /** The body, hashed and written at its offset, never past `sizeBytes`. */
  private async readBody(res: Answer): Promise<void> {
    const { url, opts } = this;
    try {
      for await (const chunk of res.body) {
        const bytes = chunk as Buffer;
        if (this.received + bytes.length > opts.sizeBytes) {
          res.body.destroy();
          throw new DownloadError(
            'checksum-mismatch',
            `${url} sent more than the ${opts.sizeBytes} bytes the hub says it has`,
          );
        }
        this.hash.update(bytes);
        for (let off = 0; off < bytes.length; )
          off += writeSync(this.fd, bytes, off, bytes.length - off, this.received + off);
        this.received += bytes.length;
        this.everReceived += bytes.length;
        if (opts.onBytes) await opts.onBytes(bytes);
        opts.onProgress?.(this.received, opts.sizeBytes);
      }
    } catch (err) {
      if (err instanceof DownloadError) throw err;
      const e = err as NodeJS.ErrnoException;
      if (this.abort.signal.aborted) {
        throw new DownloadError(
          'download-failed',
          `the download of ${url} failed after ${this.received} bytes: ${this.abortReason}`,
        );
      }
      if (e.code && RETRYABLE.has(e.code)) throw new Retry(e.code);
      throw new DownloadError(
        'download-failed',
        `the download of ${url} failed after ${this.received} bytes: ${e.code ?? e.message}`,
      );
    }
  }
}

type Answer = Awaited<ReturnType<typeof request>>;
