import type { Readable } from 'node:stream';
import yauzl, { type ZipFile } from 'yauzl';
import { ArchiveFile } from './archive-file';
import { type ArchiveEntry, scanEntries } from './scan-entries';
import { toZipError } from './zip-error';
import { resolveZipLimits, type ZipLimits } from './zip-limits';

/** An open archive whose central directory passed every rule. */
export interface ScannedArchive {
  file: string;
  entries: ArchiveEntry[];
  /** Streams one entry's uncompressed bytes; yauzl errors if the count differs from the declared size. */
  openEntry(entry: ArchiveEntry): Promise<Readable>;
}

/** Opens and scans `file`, runs `use`, and always closes the archive; every failure becomes a ZipError. */
export async function withScannedArchive<T>(
  file: string,
  limits: Partial<ZipLimits> | undefined,
  use: (archive: ScannedArchive) => Promise<T>,
): Promise<T> {
  const resolved = resolveZipLimits(limits);
  const reader = await ArchiveFile.open(file, resolved.maxArchiveBytes);
  let zipfile: ZipFile | undefined;
  try {
    zipfile = await openZipFile(reader);
    const entries = await scanEntries(zipfile, file, resolved);
    const opened = zipfile;
    return await use({ file, entries, openEntry: (entry) => openEntryStream(opened, entry) });
  } catch (err) {
    throw toZipError(err, file);
  } finally {
    zipfile?.close();
    await reader.dispose();
  }
}

function openZipFile(reader: ArchiveFile): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromRandomAccessReader(
      reader,
      reader.size,
      // Names stay raw bytes so our rules, not yauzl's unnamed errors, judge them; we close explicitly.
      { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false },
      (err, zipfile) => {
        if (err) return reject(err);
        // Errors after the scan (e.g. while closing) must not become uncaught 'error' events.
        zipfile.on('error', () => undefined);
        resolve(zipfile);
      },
    );
  });
}

/**
 * Uses yauzl's documented low-level path so only our small ArchiveEntry is kept per entry;
 * the scan already refused encryption and unknown compression methods.
 */
function openEntryStream(zipfile: ZipFile, entry: ArchiveEntry): Promise<Readable> {
  const located = Object.assign(new yauzl.Entry(), {
    relativeOffsetOfLocalHeader: entry.localHeaderOffset,
    compressedSize: entry.compressedSize,
  });
  return new Promise((resolve, reject) => {
    zipfile.readLocalFileHeader(located, { minimal: true }, (err, header) => {
      if (err) return reject(err);
      zipfile.openReadStreamLowLevel(
        header.fileDataStart,
        entry.compressedSize,
        0,
        entry.compressedSize,
        entry.compressionMethod === 8,
        entry.size,
        (streamErr, stream) => (streamErr ? reject(streamErr) : resolve(stream)),
      );
    });
  });
}
