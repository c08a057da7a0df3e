import type { Entry, ZipFile } from 'yauzl';
import { checkEntryType, isExecutable } from './entry-mode';
import { checkEntryName, decodeEntryName, isDirectoryName } from './entry-name';
import { checkEntryPaths } from './entry-paths';
import { ZipError } from './zip-error';
import { DEFLATED, ENCRYPTED, STORED } from './zip-format';
import type { ArchiveLayout, LayoutEntry } from './zip-layout';
import { maxInflatedBytes, RATIO_CHECK_MIN_BYTES, type ZipLimits } from './zip-limits';

/** What the central directory says about one entry, after it passed every rule. */
export interface ZipEntryInfo {
  name: string;
  /** Declared uncompressed size; streaming checks the real byte count against it. */
  size: number;
  compressedSize: number;
  isDirectory: boolean;
  executable: boolean;
}

/** An entry plus what is needed to stream it later without keeping yauzl's Entry (and its buffers). */
export interface ArchiveEntry extends ZipEntryInfo {
  compressionMethod: number;
  crc32: number;
  localHeaderOffset: number;
  /** Where the compressed data starts, proven by the layout check. */
  dataStart: number;
}

/**
 * Reads the whole central directory through yauzl and applies every rule before a byte of file data
 * is read; each entry must be exactly what the independent raw parse (`layout`) found.
 * Stops at the first violation; the entry count is checked before any header is read, and the
 * declared sizes together against the total limit and the whole-archive ratio (`archiveBytes` is
 * the file's size) before any data is inflated.
 */
export async function scanEntries(
  zipfile: ZipFile,
  file: string,
  limits: ZipLimits,
  layout: ArchiveLayout,
  archiveBytes: number,
): Promise<ArchiveEntry[]> {
  if (zipfile.entryCount > limits.maxEntries) {
    throw new ZipError(
      'zip.too-many-entries',
      file,
      `declares ${zipfile.entryCount} entries, over the limit of ${limits.maxEntries}`,
    );
  }
  const entries: ArchiveEntry[] = [];
  const ratioCap = maxInflatedBytes(limits, archiveBytes);
  let totalBytes = 0;
  for (let raw = await nextEntry(zipfile); raw; raw = await nextEntry(zipfile)) {
    if (entries.length >= limits.maxEntries) {
      throw new ZipError('zip.too-many-entries', file, `has more than ${limits.maxEntries} entries`);
    }
    const entry = checkEntry(raw, file, limits, sameAs(raw, layout.entries[entries.length], file));
    totalBytes += entry.size;
    if (totalBytes > limits.maxTotalBytes) {
      throw new ZipError('zip.too-large', file, `would unpack to more than ${limits.maxTotalBytes} bytes`);
    }
    if (totalBytes > ratioCap) throw totalRatioError(file, limits, archiveBytes, 'declares more than');
    entries.push(entry);
  }
  if (entries.length !== layout.entries.length) {
    throw new ZipError(
      'zip.bad-directory',
      file,
      `lists ${entries.length} entries to yauzl but ${layout.entries.length} to the raw parse`,
    );
  }
  checkEntryPaths(entries, file);
  return entries;
}

/** The archive as a whole inflates past max(floor, ratio × its size): `what` says how it does. */
export function totalRatioError(
  file: string,
  limits: ZipLimits,
  archiveBytes: number,
  what: string,
): ZipError {
  const cap = maxInflatedBytes(limits, archiveBytes);
  return new ZipError(
    'zip.total-ratio',
    file,
    `${what} ${cap} bytes in all from its ${archiveBytes}; an archive may inflate to ${limits.maxTotalRatio} times its size, or ${limits.totalRatioFloorBytes} bytes if that is more (zip bomb?)`,
  );
}

/** The raw parse of the same record, which must agree with yauzl's view field by field. */
function sameAs(raw: Entry, parsed: LayoutEntry | undefined, file: string): LayoutEntry {
  if (
    !parsed?.nameRaw.equals(raw.fileNameRaw) ||
    parsed.localHeaderOffset !== raw.relativeOffsetOfLocalHeader ||
    parsed.compressedSize !== raw.compressedSize ||
    parsed.size !== raw.uncompressedSize ||
    parsed.crc32 !== raw.crc32 ||
    parsed.method !== raw.compressionMethod ||
    parsed.flags !== raw.generalPurposeBitFlag
  ) {
    throw new ZipError(
      'zip.bad-directory',
      file,
      'is read differently by yauzl and by the raw parse',
      raw.fileNameRaw.toString('utf8'),
    );
  }
  return parsed;
}

function checkEntry(raw: Entry, file: string, limits: ZipLimits, parsed: LayoutEntry): ArchiveEntry {
  const name = decodeEntryName(raw.fileNameRaw, raw.generalPurposeBitFlag, file);
  checkEntryName(name, file);
  checkEntryType(raw.externalFileAttributes, name, file);
  if (raw.generalPurposeBitFlag & ENCRYPTED) {
    throw new ZipError('zip.encrypted', file, 'is encrypted; plugin archives must not be', name);
  }
  if (raw.compressionMethod !== STORED && raw.compressionMethod !== DEFLATED) {
    throw new ZipError(
      'zip.unsupported-compression',
      file,
      `uses compression method ${raw.compressionMethod}; only 0 (stored) and 8 (deflate) are supported`,
      name,
    );
  }
  const size = raw.uncompressedSize;
  if (size > limits.maxEntryBytes) {
    throw new ZipError(
      'zip.entry-too-large',
      file,
      `declares ${size} bytes, over the per-entry limit of ${limits.maxEntryBytes}`,
      name,
    );
  }
  const compressedSize = raw.compressedSize;
  if (size > RATIO_CHECK_MIN_BYTES && size > compressedSize * limits.maxCompressionRatio) {
    throw new ZipError(
      'zip.compression-ratio',
      file,
      `expands ${compressedSize} bytes to ${size}, over the ratio limit of ${limits.maxCompressionRatio} (zip bomb?)`,
      name,
    );
  }
  const isDirectory = isDirectoryName(name);
  return {
    name,
    size,
    compressedSize,
    isDirectory,
    executable: !isDirectory && isExecutable(raw.externalFileAttributes),
    compressionMethod: raw.compressionMethod,
    crc32: raw.crc32,
    localHeaderOffset: raw.relativeOffsetOfLocalHeader,
    dataStart: parsed.dataStart,
  };
}

/** Reads the next central directory record; undefined at the end. */
function nextEntry(zipfile: ZipFile): Promise<Entry | undefined> {
  return new Promise((resolve, reject) => {
    const onEntry = (entry: Entry) => settle(() => resolve(entry));
    const onEnd = () => settle(() => resolve(undefined));
    const onError = (err: Error) => settle(() => reject(err));
    const settle = (done: () => void) => {
      zipfile.off('entry', onEntry).off('end', onEnd).off('error', onError);
      done();
    };
    zipfile.on('entry', onEntry).on('end', onEnd).on('error', onError);
    zipfile.readEntry();
  });
}
