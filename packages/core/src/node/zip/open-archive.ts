import yauzl, { type ZipFile } from 'yauzl';
import { ArchiveFile } from './archive-file';
import { type ArchiveEntry, scanEntries } from './scan-entries';
import { toZipError } from './zip-error';
import { readLayout } from './zip-layout';
import { resolveZipLimits, type ZipLimits } from './zip-limits';

/** An open archive whose layout and central directory passed every rule. */
export interface ScannedArchive {
  file: string;
  entries: ArchiveEntry[];
  limits: ZipLimits;
  /** Size of the archive file, which the whole-archive ratio is measured against. */
  archiveBytes: number;
  /** Bytes inflated so far from this archive, across all entries: the total bomb limit applies to it. */
  inflated: { bytes: number };
  /** Reads `length` raw archive bytes at `position` into `buffer`, bounds-checked (see ArchiveFile.readIntoSync). */
  readRawSync(buffer: Buffer, length: number, position: number): void;
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
    // The raw layout first: no entry is trusted until every reader would see the same ones.
    const layout = await readLayout(reader, file, resolved);
    zipfile = await openZipFile(reader);
    const entries = await scanEntries(zipfile, file, resolved, layout, reader.size);
    return await use({
      file,
      entries,
      limits: resolved,
      archiveBytes: reader.size,
      inflated: { bytes: 0 },
      readRawSync: (buffer, length, position) => reader.readIntoSync(buffer, length, position),
    });
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
      // Sizes are counted (and limited) by EntryDigest, so yauzl's own count would only race it.
      { lazyEntries: true, decodeStrings: false, validateEntrySizes: false, autoClose: false },
      (err, zipfile) => {
        if (err) return reject(err);
        // Errors after the scan (e.g. while closing) must not become uncaught 'error' events.
        zipfile.on('error', () => undefined);
        resolve(zipfile);
      },
    );
  });
}
