import type { FindingCode } from '../../finding-codes';

/** Stable codes for every way an archive can be refused; tools and docs rely on them. */
export type ZipErrorCode = Extract<FindingCode, `zip.${string}`>;

const MAX_SHOWN_NAME_CHARS = 200;

/**
 * An archive was refused. The message reads
 * `code: entry "name" in file <what failed>`, e.g.
 * `zip.path-traversal: entry "../../etc/passwd" in plugin.mpn escapes the archive root`.
 */
export class ZipError extends Error {
  override readonly name = 'ZipError';
  readonly code: ZipErrorCode;
  readonly entry?: string;
  readonly file: string;

  constructor(code: ZipErrorCode, file: string, detail: string, entry?: string, options?: ErrorOptions) {
    const where = entry === undefined ? file : `entry ${showName(entry)} in ${file}`;
    super(`${code}: ${where} ${detail}`, options);
    this.code = code;
    this.file = file;
    if (entry !== undefined) this.entry = entry;
  }
}

/** Quotes a name for a message: control characters escaped, very long names shortened. */
function showName(name: string): string {
  const short = name.length > MAX_SHOWN_NAME_CHARS ? `${name.slice(0, MAX_SHOWN_NAME_CHARS)}…` : name;
  return JSON.stringify(short);
}

// yauzl reports these as plain Errors; the messages are its only stable handle.
const SIZE_MISMATCH =
  /too many bytes in the stream|not enough bytes in the stream|size mismatch for stored file/;
const STRONG_ENCRYPTION = /strong encryption is not supported/;

/** Wraps anything thrown by yauzl, zlib, streams or fs into a ZipError, keeping ZipErrors as they are. */
export function toZipError(err: unknown, file: string, entry?: string): ZipError {
  if (err instanceof ZipError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const cause = { cause: err };
  if (SIZE_MISMATCH.test(message)) {
    return new ZipError(
      'zip.size-mismatch',
      file,
      `does not match its declared size: ${message}`,
      entry,
      cause,
    );
  }
  if (STRONG_ENCRYPTION.test(message)) {
    return new ZipError('zip.encrypted', file, `is encrypted: ${message}`, entry, cause);
  }
  // fs failures (ENOSPC, EACCES, EIO) carry a syscall; say so rather than blaming the archive's bytes.
  const io = typeof (err as NodeJS.ErrnoException | undefined)?.syscall === 'string';
  const what = entry === undefined ? 'is not a readable zip archive' : 'is corrupt';
  const detail = io ? `could not be read or written: ${message}` : `${what}: ${message}`;
  return new ZipError('zip.corrupt', file, detail, entry, cause);
}
