// The zip reader: how a plugin archive's entries become trusted. Three readers look at the bytes, and
// an entry is used only when they agree.
//   1. The strict layout parse (zip-layout.ts, reading through archive-file.ts, which bounds every
//      read): the end record must end the file, the zip64 records (if any) sit where they must, the
//      central directory is exactly where and as long as it says, every local header repeats its
//      central record, and the entries tile the file from offset 0 to the directory with no gap or
//      overlap. Numbers shared by the readers are in zip-format.ts.
//   2. The yauzl cross-check (scan-entries.ts, opened by open-archive.ts): yauzl reads the central
//      directory again and each record must equal what the layout parse found. Then each entry's rules
//      run before a byte is inflated: name decoding and portability (entry-name.ts), file type and mode
//      (entry-mode.ts), no encryption, stored or deflate only, per-entry size and ratio, the total
//      and whole-archive ratio against zip-limits.ts, and no two names landing on one path
//      (entry-paths.ts).
//   3. The streaming pass (read-archive.ts → stream-entry.ts → entry-digest.ts): each file entry's real
//      bytes are inflated, counted, CRC-checked and hashed (sha256), never trusting the declared
//      sizes; with `extractTo` they are written under destination.ts, which removes everything on
//      failure. read-zip-entry.ts is the same for one small entry kept in memory.
// The speculative extractor (stream-extract.ts, StreamingExtractor) inflates local entries while the
// archive downloads, into numbered scratch files; readArchive still runs steps 1–3 and takes a streamed
// file only where its byte range, size and CRC-32 match the scanned entry exactly.
// So an entry is trusted, in order: the layout is proven (1), yauzl agrees with it (2), its name,
// type, method and declared sizes pass the rules (2), and its real bytes match size and CRC-32 within
// the limits (3). Every refusal is a ZipError with a stable code (zip-error.ts). yazl-native-crc.ts is
// the packing side (zlib's crc32 for yazl), not the reader. Test builders of hostile archives and the
// scan/hash/extract views are in `@magellon/hub-core/test-support`.
export type { ZipFileDigest } from './entry-digest';
export { type ReadArchiveOptions, type ReadArchiveResult, readArchive } from './read-archive';
export { readZipEntry } from './read-zip-entry';
export type { ZipEntryInfo } from './scan-entries';
export { type Prefetched, type StreamedEntry, StreamingExtractor } from './stream-extract';
export { ZipError, type ZipErrorCode } from './zip-error';
export { DEFAULT_ZIP_LIMITS, type ZipLimits } from './zip-limits';
