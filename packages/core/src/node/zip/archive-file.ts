import { constants, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import yauzl from 'yauzl';
import { ZipError } from './zip-error';

/**
 * yauzl's own file reader hands zip64 offsets straight to fs.read, which throws outside any callback
 * (an uncaught exception) when an offset exceeds 2^53. This reader bounds-checks every read and
 * reports problems through callbacks, so hostile offsets become errors instead of crashes.
 */
export class ArchiveFile extends yauzl.RandomAccessReader {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {
    super();
  }

  /** Opens `file` read-only; O_NONBLOCK keeps a FIFO planted at that path from hanging the open. */
  static async open(file: string, maxArchiveBytes: number): Promise<ArchiveFile> {
    let handle: FileHandle;
    try {
      handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw new ZipError('zip.not-found', file, `cannot be opened: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new ZipError('zip.not-found', file, 'is not a regular file');
      if (stats.size > maxArchiveBytes) {
        throw new ZipError(
          'zip.too-large',
          file,
          `is ${stats.size} bytes, over the limit of ${maxArchiveBytes}`,
        );
      }
      return new ArchiveFile(handle, stats.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null, bytesRead?: number) => void,
  ): void {
    this.readAt(buffer, offset, length, position).then(
      (bytesRead) => callback(null, bytesRead),
      (err: Error) => callback(err),
    );
  }

  override close(callback: (err: Error | null) => void): void {
    // Never report close failures: yauzl would re-emit them as an 'error' nobody listens to any more.
    this.dispose().then(() => callback(null));
  }

  /**
   * Reads exactly `length` bytes at `position` synchronously: for the bulk of an entry's data, where a
   * page-cache read takes microseconds but a trip through libuv's thread pool costs far more.
   */
  readIntoSync(buffer: Buffer, length: number, position: number): void {
    this.checkRange(position, length);
    let done = 0;
    while (done < length) {
      const bytesRead = readSync(this.handle.fd, buffer, done, length - done, position + done);
      if (bytesRead === 0) {
        throw new Error('unexpected end of file (was the archive modified while reading?)');
      }
      done += bytesRead;
    }
  }

  /** Reads exactly `length` bytes at `position`; rejects (never crashes) when they are outside the file. */
  async bytes(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    await this.readAt(buffer, 0, length, position);
    return buffer;
  }

  /** Closes the file once; FileHandle.close waits for reads still in flight. */
  dispose(): Promise<void> {
    this.closing ??= this.handle.close().catch(() => undefined);
    return this.closing;
  }

  private checkRange(position: number, length: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || position + length > this.size) {
      throw new Error(`read of ${length} bytes at offset ${position} is outside the ${this.size}-byte file`);
    }
    if (this.closing) throw new Error('archive already closed');
  }

  private async readAt(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    this.checkRange(position, length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, offset + done, length - done, position + done);
      if (bytesRead === 0) {
        throw new Error('unexpected end of file (was the archive modified while reading?)');
      }
      done += bytesRead;
    }
    return done;
  }
}
