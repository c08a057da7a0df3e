import { createHash, randomBytes } from 'node:crypto';
import {
  constants,
  createWriteStream,
  linkSync,
  lstatSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { deflateRawSync } from 'node:zlib';
import { parseDocument } from 'yaml';
import { ZipFile } from 'yazl';
import type { FindingCode } from '../finding-codes';
import type { Finding } from '../findings';
import { ARCHIVE_MANIFEST, ARCHIVE_SUFFIX, archiveFileName, MANIFEST_NAMES } from '../layout';
import { uvPyprojects } from '../manifest/lint-rules';
import { joinRelative, parentDir } from '../manifest/plugin-files';
import { pyprojectDependencies } from '../manifest/pyproject';
import { readManifest } from '../manifest/read-manifest';
import { UV_LOCK_FILE, uvLockProblems } from '../manifest/uv-lock';
import type { ArchiveManifest } from '../schema/archive-manifest';
import { verifyArchive } from './archive/verify-archive';
import { DirPluginFiles, listPluginDir, readSourceManifest } from './plugin-dir';
import { uuidV7 } from './uuid7';
import { useNativeCrc32ForYazl } from './zip/yazl-native-crc';

/** Zip's DOS timestamps start in 1980; earlier dates are clamped to this. */
export const ZIP_EPOCH = Date.UTC(1980, 0, 1);

/** The codes pack fails with. */
export type PackCode = Extract<FindingCode, `pack.${string}`>;

/** Pack refused or failed; nothing was written. `file` is what the problem is about. */
export class PackError extends Error {
  constructor(
    message: string,
    readonly code: PackCode,
    readonly findings: Finding[] = [],
    readonly file?: string,
  ) {
    super(message);
  }

  /** The error as a finding, on `file` or else on `fallback` (the plugin dir given to pack). */
  toFinding(fallback: string): Finding {
    return { file: this.file ?? fallback, severity: 'error', code: this.code, message: this.message };
  }
}

export interface PackOptions {
  /** Output file; default `<parent of dir>/<plugin_id>-<version>.mpn`. */
  out?: string;
  /** Overwrite an existing output file (atomically: the old one stays until the new one is complete). */
  force?: boolean;
  /** Build time to stamp; default SOURCE_DATE_EPOCH, else the manifest's `updated`/`created`, else 1980-01-01. */
  date?: Date;
  /** A new random archive_id at the current time (the build is then not reproducible). */
  freshArchiveId?: boolean;
  /** Pack the targets of symbolic links that leave the plugin dir (each is listed in `followed`). */
  followLinks?: boolean;
}

export interface PackResult {
  file: string;
  sha256: string;
  size_bytes: number;
  archive_id: string;
  manifest: ArchiveManifest;
  /** Files in the archive besides manifest.yaml and plugin.yaml. */
  files: number;
  /** Notes for the author (symlinked folders skipped, …). */
  notes: string[];
  /** Links leaving the dir that were followed (with `followLinks`), as "path → target". */
  followed: string[];
  /** How many files were stored rather than deflated (their content does not compress). */
  stored: number;
}

function buildTime(manifest: ArchiveManifest, opts: PackOptions): number {
  if (opts.date) return opts.date.getTime();
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch)) return Number(epoch) * 1000;
  for (const t of [manifest.updated, manifest.created])
    if (t && !Number.isNaN(Date.parse(t))) return Date.parse(t);
  return ZIP_EPOCH;
}

/**
 * yazl writes DOS timestamps from a Date's local-time fields, so the same tree would pack to other
 * bytes in another time zone. This Date answers the local getters with its UTC fields: the DOS
 * time is the UTC time everywhere (the extended-timestamp field already carries UTC seconds).
 */
class UtcFieldsDate extends Date {
  override getFullYear() {
    return this.getUTCFullYear();
  }
  override getMonth() {
    return this.getUTCMonth();
  }
  override getDate() {
    return this.getUTCDate();
  }
  override getHours() {
    return this.getUTCHours();
  }
  override getMinutes() {
    return this.getUTCMinutes();
  }
  override getSeconds() {
    return this.getUTCSeconds();
  }
}

/** A manifest field used in a file name: one plain name segment, nothing a path could abuse. */
const SAFE_NAME_PART = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

function checkNamePart(field: string, value: string, label: string): void {
  if (!SAFE_NAME_PART.test(value) || value.includes('..')) {
    throw new PackError(
      `${label}: ${field} ${JSON.stringify(value)} cannot be part of a file name (letters, digits, ".", "_", "+", "-"; no "/" or ".."); nothing was written`,
      'pack.unsafe-name',
      [],
      label,
    );
  }
}

/**
 * The archive would be refused on install (archive.unsafe-dependency): say so before writing it,
 * with each problem at its line in the plugin's own pyproject.toml.
 */
function refuseUnsafeDependencies(dir: string, manifest: ArchiveManifest, files: readonly string[]): void {
  const plugin = new DirPluginFiles(dir, files, basename(dir));
  const findings: Finding[] = [];
  for (const path of uvPyprojects(manifest, (p) => plugin.has(p))) {
    const read = pyprojectDependencies(plugin.readSync(path).toString('utf8'), parentDir(path));
    for (const r of read.refusals) {
      findings.push({
        file: `${basename(dir)}/${path}`,
        line: r.line,
        severity: 'error',
        code: r.kind === 'toml' ? 'lint.invalid-pyproject' : 'lint.unsafe-dependency',
        message: r.kind === 'toml' ? `${path} is ${r.message}` : r.message,
      });
    }
    if (read.refusals.length > 0) continue;
    // A uv.lock install would refuse (unsafe, or not this pyproject's): refused here too.
    const lockPath = joinRelative(parentDir(path), UV_LOCK_FILE);
    if (!lockPath || !plugin.has(lockPath)) continue;
    for (const p of uvLockProblems(read, plugin.readSync(lockPath).toString('utf8'))) {
      if (p.code === 'lint.no-lock') continue;
      findings.push({
        file: `${basename(dir)}/${p.file === 'lock' ? lockPath : path}`,
        line: p.line,
        severity: 'error',
        code: p.code,
        message: p.message,
      });
    }
  }
  if (findings.length > 0) {
    throw new PackError(
      'the plugin’s pyproject.toml or uv.lock would make the archive unsafe to install; fix the lines named above (nothing was written)',
      'pack.unsafe-archive',
      findings,
      findings[0]!.file,
    );
  }
}

/** File types that are compressed already: stored without trying. */
const COMPRESSED_EXTENSIONS = new Set([
  ...['.gz', '.tgz', '.bz2', '.xz', '.zst', '.lz4', '.zip', '.whl', ARCHIVE_SUFFIX, '.7z', '.jar', '.npz'],
  ...['.png', '.jpg', '.jpeg', '.gif', '.webp', '.avif', '.mp4', '.mkv', '.webm', '.mp3', '.ogg', '.pdf'],
]);
const SAMPLE_BYTES = 16 * 1024;
const SAMPLES = 4;
/** Deflate is kept only if the sample shrinks to this fraction or less. */
const DEFLATE_WORTH_IT = 0.9;

/**
 * Whether a file is stored rather than deflated, from its content only (so packing stays
 * reproducible): files of compressed types are stored; otherwise up to four 16 KiB samples spread
 * over the file are deflated at a fast level, and deflate is kept only if they shrink by 10%.
 */
export function storeUncompressed(name: string, size: number, sample: Buffer): boolean {
  if (size === 0) return true;
  const dot = name.lastIndexOf('.');
  if (dot > name.lastIndexOf('/') && COMPRESSED_EXTENSIONS.has(name.slice(dot).toLowerCase())) return true;
  return deflateRawSync(sample, { level: 1 }).length > sample.length * DEFLATE_WORTH_IT;
}

interface PlannedFile {
  size: number;
  mode: number;
  store: boolean;
}

/**
 * Opens a plugin file without ever blocking on a FIFO (O_NONBLOCK) and refuses anything but a
 * regular file, in case the tree changed since it was listed.
 */
async function openRegular(
  dir: string,
  path: string,
): Promise<{ fh: FileHandle; size: number; mode: number }> {
  const fh = await open(join(dir, path), constants.O_RDONLY | constants.O_NONBLOCK);
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new PackError(
      `${path} is no longer a regular file; it was not read`,
      'pack.file-changed',
      [],
      path,
    );
  }
  return { fh, size: st.size, mode: st.mode };
}

/**
 * Size, mode and stored-vs-deflated of a file, reading only its samples: the whole file up to
 * 64 KiB, else four 16 KiB slices spread from its start to its end.
 */
async function planFile(dir: string, path: string): Promise<PlannedFile> {
  const { fh, size, mode } = await openRegular(dir, path);
  try {
    const whole = size <= SAMPLES * SAMPLE_BYTES;
    const sample = Buffer.alloc(whole ? size : SAMPLES * SAMPLE_BYTES);
    const starts = whole
      ? [0]
      : Array.from({ length: SAMPLES }, (_, k) => Math.floor((k * (size - SAMPLE_BYTES)) / (SAMPLES - 1)));
    const span = whole ? size : SAMPLE_BYTES;
    for (const [k, start] of starts.entries()) {
      let got = 0;
      while (got < span) {
        const { bytesRead } = await fh.read(sample, k * span + got, span - got, start + got);
        if (bytesRead === 0)
          throw new PackError(`${path} shrank while it was read`, 'pack.file-changed', [], path);
        got += bytesRead;
      }
    }
    return { size, mode: mode & 0o111 ? 0o100755 : 0o100644, store: storeUncompressed(path, size, sample) };
  } finally {
    await fh.close();
  }
}

/** Where the archive goes, checked before anything is written: never a folder, never inside the plugin. */
function checkOut(out: string, dir: string, force: boolean): { exists: boolean } {
  const parent = dirname(out);
  const parentStat = statSync(parent, { throwIfNoEntry: false });
  if (!parentStat?.isDirectory()) {
    throw new PackError(
      parentStat
        ? `cannot write ${out}: ${parent} is a file, not a folder; nothing was written`
        : `cannot write ${out}: the folder ${parent} does not exist (create it first); nothing was written`,
      'pack.out-parent-missing',
      [],
      out,
    );
  }
  const realOut = join(realpathSync(parent), basename(out));
  const realDir = realpathSync(dir);
  const st = statSync(out, { throwIfNoEntry: false });
  if (st?.isDirectory()) {
    throw new PackError(
      realOut === realDir
        ? `--out ${out} is the plugin dir itself; name an .mpn file outside it. Nothing was written`
        : `--out ${out} is a directory; name the .mpn file to write. Nothing was written`,
      'pack.out-is-dir',
      [],
      out,
    );
  }
  if (realOut.startsWith(realDir + sep)) {
    throw new PackError(
      `--out ${out} lies inside the plugin dir being packed; write it outside. Nothing was written`,
      'pack.out-in-source',
      [],
      out,
    );
  }
  const linkStat = lstatSync(out, { throwIfNoEntry: false });
  if (linkStat && !linkStat.isFile() && !linkStat.isSymbolicLink()) {
    throw new PackError(
      `--out ${out} is not a regular file (a device, FIFO or socket); refusing to replace it. Nothing was written`,
      'pack.out-not-file',
      [],
      out,
    );
  }
  const exists = st !== undefined || linkStat !== undefined;
  if (exists && !force) {
    throw new PackError(`${out} already exists; pass --force to overwrite it`, 'pack.exists', [], out);
  }
  return { exists };
}

/** The plugin's source manifest, read and checked before anything else is done. */
interface PackSource {
  dir: string;
  /** The manifest's path as findings name it (`<dir name>/manifest.yaml`). */
  label: string;
  /** The manifest as the author wrote it: pack stamps a copy of this text. */
  text: string;
  manifest: ArchiveManifest;
}

/** Step 1: the dir and its manifest, valid, with a plugin_id and version that can name a file. */
function readPackSource(dirArg: string, opts: PackOptions): PackSource {
  const dir = resolve(dirArg);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new PackError(`${dirArg} is not a directory`, 'pack.not-a-dir');
  const manifestSource = readSourceManifest(dir, { followLinks: opts.followLinks });
  if (!manifestSource.ok && manifestSource.finding.code === 'lint.no-manifest') {
    throw new PackError(
      `${dirArg} has no manifest.yaml (or legacy plugin.yaml); run \`hub scaffold\` to start one`,
      'pack.no-manifest',
      [],
      dirArg,
    );
  }
  if (!manifestSource.ok) {
    const f = manifestSource.finding;
    throw new PackError(
      f.message,
      f.code === 'pack.link-outside' ? 'pack.link-outside' : 'pack.invalid-manifest',
      [f],
      f.file,
    );
  }
  const label = join(basename(dir), manifestSource.name);
  const read = readManifest(manifestSource.text, label);
  if (!read.ok)
    throw new PackError(`${label} is not a valid manifest`, 'pack.invalid-manifest', read.findings, label);
  // These name the output file: check them before any path is built from them.
  checkNamePart('plugin_id', read.manifest.plugin_id, label);
  checkNamePart('version', read.manifest.version, label);
  return { dir, label, text: manifestSource.text, manifest: read.manifest };
}

/** Step 3: the files to pack (hub pack's skip rules), refused as a whole when any cannot be. */
function listFiles(dir: string, opts: PackOptions): ReturnType<typeof listPluginDir> {
  const listing = listPluginDir(dir, { followLinks: opts.followLinks });
  if (listing.problems.length === 0) return listing;
  const first = listing.problems[0]!;
  throw new PackError(
    listing.problems.length === 1
      ? first.message
      : `${first.message} (and ${listing.problems.length - 1} more)`,
    first.code,
    listing.problems.map((p) => ({
      file: `${basename(dir)}/${p.path}`,
      severity: 'error' as const,
      code: p.code,
      message: p.message,
    })),
  );
}

/**
 * A file's bytes on their way into the zip, hashed for file_checksums: `sha256` settles when the
 * stream ends with exactly the planned size, and fails (so does the stream) when the file changed.
 */
function hashedStream(
  fh: FileHandle,
  name: string,
  label: string,
  size: number,
): { stream: Transform; sha256: Promise<string> } {
  const hash = createHash('sha256');
  let count = 0;
  let done!: (sha256: string) => void;
  let failed!: (err: unknown) => void;
  const sha256 = new Promise<string>((res, rej) => {
    done = res;
    failed = rej;
  });
  // A file that grows or shrinks after it was planned is named here, before yazl's own size check.
  const changed = () =>
    new PackError(
      `${name} changed while packing (planned ${size} bytes, read ${count}); pack again`,
      'pack.file-changed',
      [],
      label,
    );
  const tee = new Transform({
    transform(chunk: Buffer, _enc, next) {
      count += chunk.length;
      if (count > size) return next(changed());
      hash.update(chunk);
      next(null, chunk);
    },
    flush(next) {
      if (count !== size) return next(changed());
      done(hash.digest('hex'));
      next();
    },
  });
  tee.on('error', failed);
  const stream = fh.createReadStream({ highWaterMark: 1 << 20 });
  stream.on('error', (err) => tee.destroy(err));
  return { stream: stream.pipe(tee), sha256 };
}

/**
 * Step 5: every planned file added to the zip, each opened only when yazl reaches it and read
 * once. Resolves with the files' sha256 by name when all were read; a failure also ends the zip's
 * output through `fail`, so the write fails cleanly.
 */
function addPluginFiles(
  zip: ZipFile,
  dir: string,
  planned: ReadonlyMap<string, PlannedFile>,
  mtime: Date,
  fail: (err: unknown) => void,
): Promise<Map<string, string>> {
  const checksums = new Map<string, string>();
  const hashed: Array<Promise<void>> = [];
  for (const [name, file] of planned) {
    const options = { mtime, mode: file.mode, compressionLevel: file.store ? 0 : 9, size: file.size };
    const label = `${basename(dir)}/${name}`;
    // Settles with the file's sha256 (or its failure) once yazl has opened and read it.
    let settle!: (sha256: string | Promise<string>) => void;
    hashed.push(
      new Promise<string>((res) => {
        settle = res;
      }).then((sha256) => {
        checksums.set(name, sha256);
      }),
    );
    zip.addReadStreamLazy(name, options, (cb) => {
      openRegular(dir, name).then(
        ({ fh, size }) => {
          if (size !== file.size) {
            // Best effort: the handle is read-only and the pack fails anyway.
            void fh.close();
            const err = new PackError(`${name} changed while packing`, 'pack.file-changed', [], label);
            settle(Promise.reject(err));
            return cb(err, undefined as never);
          }
          const { stream, sha256 } = hashedStream(fh, name, label, file.size);
          sha256.catch(fail);
          settle(sha256);
          cb(null, stream);
        },
        (err: unknown) => {
          settle(Promise.reject(err));
          cb(err, undefined as never);
        },
      );
    });
  }
  return Promise.all(hashed).then(() => checksums);
}

/** The archive's manifest: the author's text stamped with archive_id, updated and file_checksums. */
interface StampedManifest {
  text: string;
  archiveId: string;
  manifest: ArchiveManifest;
}

/**
 * Step 6: the manifest stamped. The archive_id is derived from the contents (reproducible), or
 * new and random with `freshArchiveId`.
 */
function stampManifest(
  src: PackSource,
  files: readonly string[],
  checksums: ReadonlyMap<string, string>,
  stamp: Date,
  time: number,
  opts: PackOptions,
  archiveLabel: string,
): StampedManifest {
  const sorted = Object.fromEntries(files.map((f) => [f, checksums.get(f)!]));
  const seed = JSON.stringify([
    src.manifest.plugin_id,
    src.manifest.version,
    src.text,
    sorted,
    stamp.toISOString(),
  ]);
  const archiveId = opts.freshArchiveId ? uuidV7(time) : uuidV7(stamp.getTime(), seed);
  const doc = parseDocument(src.text);
  doc.set('archive_id', archiveId);
  doc.set('updated', stamp.toISOString());
  if (!doc.has('checksum_algorithm')) doc.set('checksum_algorithm', 'sha256');
  doc.set('file_checksums', doc.createNode(sorted));
  const text = doc.toString({ lineWidth: 0 });
  const stamped = readManifest(text, `${archiveLabel}!${ARCHIVE_MANIFEST}`);
  if (!stamped.ok)
    // Pack wrote this manifest itself: failing here is a bug in pack, not a problem with the plugin.
    throw new Error(
      `the stamped manifest did not validate (a bug in hub pack): ${stamped.findings.map((f) => f.message).join('; ')}`,
    );
  return { text, archiveId, manifest: stamped.manifest };
}

/** Step 7: the zip's bytes written to `tmp` (created new), with their sha256 and size. */
async function writeZip(
  zip: ZipFile,
  tmp: string,
  out: string,
  manifestDone: Promise<unknown>,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await Promise.all([
      pipeline(zip.outputStream, tap, createWriteStream(tmp, { flags: 'wx' })),
      manifestDone,
    ]);
  } catch (err) {
    if (err instanceof PackError) throw err;
    throw new PackError(`could not write ${out}: ${(err as Error).message}`, 'pack.write-failed', [], out);
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Step 8: the written archive checked as the hub checks it (never hand out an archive the hub would
 * refuse, e.g. names that collide on case-insensitive disks), then moved into place.
 */
async function verifyAndPlace(tmp: string, out: string, force: boolean): Promise<void> {
  const verified = await verifyArchive(tmp, { label: basename(out) });
  if (!verified.ok) {
    throw new PackError(
      'the packed archive fails the hub checks; fix the files named above',
      'pack.unsafe-archive',
      verified.findings,
      basename(out),
    );
  }
  try {
    if (force) renameSync(tmp, out);
    // link() refuses to replace a file that appeared meanwhile; rename() would not.
    else linkSync(tmp, out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code === 'EEXIST'
      ? new PackError(`${out} already exists; pass --force to overwrite it`, 'pack.exists', [], out)
      : new PackError(`could not write ${out}: ${(err as Error).message}`, 'pack.write-failed', [], out);
  }
}

/** The zip being built: its file entries, then the stamped manifest (as manifest.yaml and plugin.yaml). */
function buildZip(
  src: PackSource,
  files: readonly string[],
  planned: ReadonlyMap<string, PlannedFile>,
  opts: PackOptions,
  archiveLabel: string,
): { zip: ZipFile; manifestDone: Promise<StampedManifest> } {
  const zip = new ZipFile();
  // yazl reports a failed read on the ZipFile itself; end the output with it so the write fails cleanly.
  const fail = (err: unknown) => (zip.outputStream as unknown as Transform).destroy(err as Error);
  zip.on('error', fail);
  const time = opts.freshArchiveId ? Date.now() : buildTime(src.manifest, opts);
  const stamp = new Date(Math.max(time, ZIP_EPOCH));
  const mtime = new UtcFieldsDate(stamp.getTime());
  const manifestDone = addPluginFiles(zip, src.dir, planned, mtime, fail).then((checksums) => {
    const stamped = stampManifest(src, files, checksums, stamp, time, opts, archiveLabel);
    const bytes = Buffer.from(stamped.text, 'utf8');
    const store = storeUncompressed(ARCHIVE_MANIFEST, bytes.length, bytes);
    for (const name of MANIFEST_NAMES)
      zip.addBuffer(bytes, name, { mtime, mode: 0o100644, compressionLevel: store ? 0 : 9 });
    zip.end();
    return stamped;
  });
  manifestDone.catch(fail);
  return { zip, manifestDone };
}

/**
 * Packs a plugin source dir into a .mpn: every file but the manifest, plus manifest.yaml
 * (stamped with archive_id, updated and file_checksums) and its legacy alias plugin.yaml.
 * Same inputs give the same bytes in any time zone: sorted entries, fixed UTC timestamps, a
 * derived archive_id, and stored-vs-deflated decided by content alone.
 * The output appears atomically (a temp file beside it, then a rename); on any failure nothing
 * is left behind and an archive being replaced with --force is untouched.
 *
 * The pipeline: read the manifest (1), check where the archive goes (2), list the files (3) and
 * refuse unsafe dependencies, plan each file (4: stored or deflated), stream the files into the
 * zip while hashing them (5), then the stamped manifest (6), write to a temp file (7), verify it
 * as the hub would and move it into place (8).
 */
export async function packPlugin(dirArg: string, opts: PackOptions = {}): Promise<PackResult> {
  useNativeCrc32ForYazl();
  const src = readPackSource(dirArg, opts);
  const { dir, manifest } = src;
  const out = resolve(opts.out ?? join(dirname(dir), archiveFileName(manifest.plugin_id, manifest.version)));
  checkOut(out, dir, Boolean(opts.force));
  const listing = listFiles(dir, opts);
  refuseUnsafeDependencies(dir, manifest, listing.files);
  const planned = new Map<string, PlannedFile>();
  for (const path of listing.files) planned.set(path, await planFile(dir, path));

  const { zip, manifestDone } = buildZip(src, listing.files, planned, opts, basename(out));
  // A hidden temp file beside the target, so the final rename stays on one file system.
  const tmp = join(
    dirname(out),
    `.${basename(out)}.${process.pid}-${randomBytes(4).toString('hex')}.partial`,
  );
  try {
    const written = await writeZip(zip, tmp, out, manifestDone);
    const stamped = await manifestDone;
    await verifyAndPlace(tmp, out, Boolean(opts.force));
    return {
      file: out,
      sha256: written.sha256,
      size_bytes: written.size,
      archive_id: stamped.archiveId,
      manifest: stamped.manifest,
      files: listing.files.length,
      notes: listing.skipped.map((s) => `skipped ${s}`),
      followed: listing.followed,
      stored: [...planned.values()].filter((f) => f.store).length,
    };
  } finally {
    // The caller owns the process: the temp file goes here, on success (renamed or linked: the
    // name is gone or a second link) and on failure alike. Best effort: force ignores a missing file.
    rmSync(tmp, { force: true });
  }
}
