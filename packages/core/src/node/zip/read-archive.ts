import { linkSync, readFileSync } from 'node:fs';
import { chmod, type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { Destination } from './destination';
import { sortDigests, type ZipFileDigest } from './entry-digest';
import { entryPath } from './entry-name';
import { withScannedArchive } from './open-archive';
import type { ArchiveEntry, ZipEntryInfo } from './scan-entries';
import { streamEntry } from './stream-entry';
import type { Prefetched, StreamedEntry } from './stream-extract';
import { toZipError, ZipError } from './zip-error';
import type { ZipLimits } from './zip-limits';

export interface ReadArchiveOptions {
  limits?: Partial<ZipLimits>;
  /** Extract into this dir, which must not exist or be empty. */
  extractTo?: string;
  /** Keep this entry's bytes in memory too; asked once per file entry, in archive order, before it streams. */
  keep?: (entry: ZipEntryInfo) => boolean;
  /**
   * Entries a StreamingExtractor already inflated and hashed while the file was downloading. Each is
   * used only where it covers exactly the byte range the strict scan found, with the size and CRC-32
   * the central directory records; every other entry is read from the file as usual.
   */
  prefetched?: Prefetched;
}

export interface ReadArchiveResult {
  /** Every file entry's sha256, sorted by name. */
  digests: ZipFileDigest[];
  /** The bytes of the entries `keep` asked for. */
  kept: Map<string, Buffer>;
  /**
   * Removes everything the extraction created (`extractTo` itself if it was created, its contents if
   * it was an empty dir), for callers that refuse the archive after reading it. No-op without extractTo.
   */
  discard(): Promise<void>;
}

/**
 * One open, one scan, one streaming pass: every file entry is verified (size, CRC-32, limits) and
 * hashed, optionally written under `extractTo` and optionally kept in memory. On any failure nothing
 * extracted is left behind and the error is a ZipError.
 */
export function readArchive(file: string, opts: ReadArchiveOptions = {}): Promise<ReadArchiveResult> {
  return withScannedArchive(file, opts.limits, async (archive) => {
    const destination = opts.extractTo ? await Destination.prepare(opts.extractTo, file) : undefined;
    const kept = new Map<string, Buffer>();
    let current: string | undefined;
    try {
      const digests: ZipFileDigest[] = [];
      for (const entry of archive.entries) {
        current = entry.name;
        const streamed = entry.isDirectory ? undefined : sameRange(entry, opts.prefetched);
        if (streamed) {
          archive.inflated.bytes += streamed.size;
          const keep = opts.keep?.(info(entry));
          if (destination) {
            const target = destination.resolve(entryPath(entry.name));
            await destination.makeDirs(path.dirname(target), entry.name);
            await placeStreamed(streamed, target, entry, file);
            if (keep) kept.set(entry.name, readFileSync(target));
          } else if (keep) {
            kept.set(entry.name, streamed.size === 0 ? Buffer.alloc(0) : readFileSync(streamed.file));
          }
          digests.push({ name: entry.name, size: streamed.size, sha256: streamed.sha256 });
          continue;
        }
        if (!destination) {
          if (entry.isDirectory) continue;
          const keep = opts.keep?.(info(entry)) ? kept : undefined;
          digests.push(await streamEntry(archive, entry, undefined, keep));
          continue;
        }
        const target = destination.resolve(entryPath(entry.name));
        if (entry.isDirectory) {
          await destination.makeDirs(target, entry.name);
          continue;
        }
        await destination.makeDirs(path.dirname(target), entry.name);
        const handle = await createFile(target, entry, file);
        const keep = opts.keep?.(info(entry)) ? kept : undefined;
        digests.push(await streamEntry(archive, entry, handle, keep));
      }
      return {
        digests: sortDigests(digests),
        kept,
        discard: async () => destination?.discard(),
      };
    } catch (err) {
      await destination?.discard().catch(() => undefined);
      throw toZipError(err, file, current);
    }
  });
}

/** The streamed entry that covers exactly this entry's bytes and produced what its record says, if any. */
function sameRange(entry: ArchiveEntry, prefetched: Prefetched | undefined): StreamedEntry | undefined {
  const s = prefetched?.entries.get(entry.localHeaderOffset);
  return s &&
    s.dataStart === entry.dataStart &&
    s.compressedSize === entry.compressedSize &&
    s.method === entry.compressionMethod &&
    s.size === entry.size &&
    s.crc32 === entry.crc32
    ? s
    : undefined;
}

/** Puts a streamed file at its entry's path: a hard link never overwrites and never follows a planted link. */
async function placeStreamed(
  s: StreamedEntry,
  target: string,
  entry: ArchiveEntry,
  file: string,
): Promise<void> {
  const mode = entry.executable ? 0o755 : 0o644;
  if (s.size === 0) {
    await (await createFile(target, entry, file)).close();
    return;
  }
  try {
    linkSync(s.file, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new ZipError('zip.path-conflict', file, 'would overwrite a file already extracted', entry.name);
  }
  await chmod(target, mode);
}

function info({ name, size, compressedSize, isDirectory, executable }: ArchiveEntry): ZipEntryInfo {
  return { name, size, compressedSize, isDirectory, executable };
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
