export type { ZipFileDigest } from './entry-digest';
export { extractZip } from './extract-zip';
export { hashZip } from './hash-zip';
export { type ReadArchiveOptions, type ReadArchiveResult, readArchive } from './read-archive';
export { readZipEntry } from './read-zip-entry';
export type { ZipEntryInfo } from './scan-entries';
export { scanZip } from './scan-zip';
export { ZipError, type ZipErrorCode } from './zip-error';
export { DEFAULT_ZIP_LIMITS, type ZipLimits } from './zip-limits';
