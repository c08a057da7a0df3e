import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { Destination } from './destination';
import { sortDigests, type ZipFileDigest } from './entry-digest';
import { entryPath } from './entry-name';
import { withScannedArchive } from './open-archive';
import type { ArchiveEntry } from './scan-entries';
import { streamEntry } from './stream-entry';
import { toZipError, ZipError } from './zip-error';
import type { ZipLimits } from './zip-limits';

/**
 * Extracts into `destDir` (which must not exist or be empty), hashing as bytes stream. On any failure
 * removes everything it created, `destDir` included if it created it, and rethrows. Sorted by name.
 */
export function extractZip(
  file: string,
  destDir: string,
  limits?: Partial<ZipLimits>,
): Promise<ZipFileDigest[]> {
  return withScannedArchive(file, limits, async (archive) => {
    const destination = await Destination.prepare(destDir, file);
    let current: string | undefined;
    try {
      const digests: ZipFileDigest[] = [];
      for (const entry of archive.entries) {
        current = entry.name;
        const target = destination.resolve(entryPath(entry.name));
        if (entry.isDirectory) {
          await destination.makeDirs(target, entry.name);
          continue;
        }
        await destination.makeDirs(path.dirname(target), entry.name);
        const handle = await createFile(target, entry, file);
        digests.push(await streamEntry(archive, entry, handle.createWriteStream()));
      }
      return sortDigests(digests);
    } catch (err) {
      await destination.discard().catch(() => undefined);
      throw toZipError(err, file, current);
    }
  });
}

/** Creates a new file: 'wx' never overwrites and never follows a link planted at the target. */
async function createFile(target: string, entry: ArchiveEntry, file: string): Promise<FileHandle> {
  const mode = entry.executable ? 0o755 : 0o644;
  let handle: FileHandle;
  try {
    handle = await open(target, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new ZipError('zip.path-conflict', file, 'would overwrite a file already extracted', entry.name);
  }
  try {
    // open()'s mode is filtered by the umask; the archive's intent is exactly 644 or 755.
    await handle.chmod(mode);
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}
