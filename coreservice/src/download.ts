// Downloading an archive for an install: the domain library's streaming download (size cap, sha256
// in one pass, timeouts, resumable retries), with its failures as CoreService's InstallErrors.
import { DownloadError, type DownloadOptions, downloadArchive as download } from '@magellon/hub-core/node';
import { InstallError } from './errors';

export type { DownloadOptions } from '@magellon/hub-core/node';

/**
 * Streams `url` into `dest` (created new) while hashing; on any failure `dest` is removed and an
 * InstallError (`checksum-mismatch`, `download-failed`, `not-found`) says what went wrong.
 */
export async function downloadArchive(url: string, dest: string, opts: DownloadOptions): Promise<void> {
  try {
    await download(url, dest, opts);
  } catch (err) {
    if (err instanceof DownloadError) throw new InstallError(err.code, err.message);
    throw err;
  }
}
