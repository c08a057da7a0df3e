import { createHash, randomBytes } from 'node:crypto';
import {
  constants,
  createWriteStream,
  linkSync,
  lstatSync,
  readFileSync,
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
import { archiveFileName } from '../catalog/model';
import type { Finding } from '../findings';
import { readManifest } from '../manifest/read-manifest';
import type { ArchiveManifest } from '../schema/archive-manifest';
import { verifyArchive } from './archive/verify-archive';
import { findSourceManifest, listPluginDir } from './plugin-dir';
import { uuidV7 } from './uuid7';

/** Zip's DOS timestamps start in 1980; earlier dates are clamped to this. */
export const ZIP_EPOCH = Date.UTC(1980, 0, 1);

export class PackError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly findings: Finding[] = [],
  ) {
    super(message);
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
    );
  }
}

/** File types that are compressed already: stored without trying. */
const COMPRESSED_EXTENSIONS = new Set([
  ...['.gz', '.tgz', '.bz2', '.xz', '.zst', '.lz4', '.zip', '.whl', '.mpn', '.7z', '.jar', '.npz'],
  ...['.png', '.jpg', '.jpeg', '.gif', '.webp', '.avif', '.mp4', '.mkv', '.webm', '.mp3', '.ogg', '.pdf'],
]);
const SAMPLE_BYTES = 64 * 1024;
const SAMPLES = 4;
/** Deflate is kept only if the sample shrinks to this fraction or less. */
const DEFLATE_WORTH_IT = 0.9;

/**
 * Whether a file is stored rather than deflated, from its content only (so packing stays
 * reproducible): files of compressed types are stored; otherwise up to four 64 KiB samples spread
 * over the file are deflated at a fast level, and deflate is kept only if they shrink by 10%.
 */
export function storeUncompressed(name: string, size: number, sample: Buffer): boolean {
  if (size === 0) return true;
  const dot = name.lastIndexOf('.');
  if (dot > name.lastIndexOf('/') && COMPRESSED_EXTENSIONS.has(name.slice(dot).toLowerCase())) return true;
  return deflateRawSync(sample, { level: 1 }).length > sample.length * DEFLATE_WORTH_IT;
}

interface ScannedFile {
  sha256: string;
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
    throw new PackError(`${path} is no longer a regular file; it was not read`, 'pack.file-changed');
  }
  return { fh, size: st.size, mode: st.mode };
}

/** One read of a file: its sha256, and the samples that decide stored vs deflated. */
async function scanFile(dir: string, path: string): Promise<ScannedFile> {
  const { fh, size, mode } = await openRegular(dir, path);
  try {
    const hash = createHash('sha256');
    const whole = size <= SAMPLES * SAMPLE_BYTES;
    const sample = Buffer.alloc(whole ? size : SAMPLES * SAMPLE_BYTES);
    // Sample k covers [starts[k], starts[k] + SAMPLE_BYTES), spread evenly from start to end.
    const starts = whole
      ? [0]
      : Array.from({ length: SAMPLES }, (_, k) => Math.floor((k * (size - SAMPLE_BYTES)) / (SAMPLES - 1)));
    const span = whole ? size : SAMPLE_BYTES;
    const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 4 * 1024 * 1024));
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      starts.forEach((start, k) => {
        const from = Math.max(start, pos);
        const to = Math.min(start + span, pos + bytesRead);
        if (from < to) chunk.copy(sample, k * span + (from - start), from - pos, to - pos);
      });
      pos += bytesRead;
    }
    if (pos !== size) throw new PackError(`${path} changed while it was read`, 'pack.file-changed');
    return {
      sha256: hash.digest('hex'),
      size,
      mode: mode & 0o111 ? 0o100755 : 0o100644,
      store: storeUncompressed(path, size, sample),
    };
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
      `cannot write ${out}: the folder ${parent} does not exist (create it first); nothing was written`,
      'pack.out-parent-missing',
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
    );
  }
  if (realOut.startsWith(realDir + sep)) {
    throw new PackError(
      `--out ${out} lies inside the plugin dir being packed; write it outside. Nothing was written`,
      'pack.out-in-source',
    );
  }
  const exists = st !== undefined || lstatSync(out, { throwIfNoEntry: false }) !== undefined;
  if (exists && !force) {
    throw new PackError(`${out} already exists; pass --force to overwrite it`, 'pack.exists');
  }
  return { exists };
}

/**
 * Packs a plugin source dir into a .mpn: every file but the manifest, plus manifest.yaml
 * (stamped with archive_id, updated and file_checksums) and its legacy alias plugin.yaml.
 * Same inputs give the same bytes in any time zone: sorted entries, fixed UTC timestamps, a
 * derived archive_id, and stored-vs-deflated decided by content alone.
 * The output appears atomically (a temp file beside it, then a rename); on any failure nothing
 * is left behind and an archive being replaced with --force is untouched.
 */
export async function packPlugin(dirArg: string, opts: PackOptions = {}): Promise<PackResult> {
  const dir = resolve(dirArg);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new PackError(`${dirArg} is not a directory`, 'pack.not-a-dir');
  const manifestName = findSourceManifest(dir);
  if (!manifestName) {
    throw new PackError(
      `${dirArg} has no manifest.yaml (or legacy plugin.yaml); run \`hub scaffold\` to start one`,
      'pack.no-manifest',
    );
  }
  const label = join(basename(dir), manifestName);
  const sourceText = readFileSync(join(dir, manifestName), 'utf8');
  const read = readManifest(sourceText, label);
  if (!read.ok)
    throw new PackError(`${label} is not a valid manifest`, 'pack.invalid-manifest', read.findings);
  const source = read.manifest;
  // These name the output file: check them before any path is built from them.
  checkNamePart('plugin_id', source.plugin_id, label);
  checkNamePart('version', source.version, label);

  const out = resolve(opts.out ?? join(dirname(dir), archiveFileName(source.plugin_id, source.version)));
  checkOut(out, dir, Boolean(opts.force));

  const listing = listPluginDir(dir, { followLinks: opts.followLinks });
  if (listing.problems.length > 0) {
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
  const checksums: Record<string, string> = {};
  const scanned = new Map<string, ScannedFile>();
  for (const path of listing.files) {
    const file = await scanFile(dir, path);
    scanned.set(path, file);
    checksums[path] = file.sha256;
  }

  const time = opts.freshArchiveId ? Date.now() : buildTime(source, opts);
  const stamp = new Date(Math.max(time, ZIP_EPOCH));
  const seed = JSON.stringify([source.plugin_id, source.version, sourceText, checksums, stamp.toISOString()]);
  const archiveId = opts.freshArchiveId ? uuidV7(time) : uuidV7(stamp.getTime(), seed);

  const doc = parseDocument(sourceText);
  doc.set('archive_id', archiveId);
  doc.set('updated', stamp.toISOString());
  if (!doc.has('checksum_algorithm')) doc.set('checksum_algorithm', 'sha256');
  doc.set('file_checksums', doc.createNode(checksums));
  const manifestText = doc.toString({ lineWidth: 0 });
  const stamped = readManifest(manifestText, `${basename(out)}!manifest.yaml`);
  if (!stamped.ok)
    throw new PackError(
      'the stamped manifest did not validate (a bug in pack)',
      'pack.internal',
      stamped.findings,
    );

  const zip = new ZipFile();
  // yazl reports a failed read on the ZipFile itself; end the output with it so the write fails cleanly.
  zip.on('error', (err: Error) => zip.outputStream.emit('error', err));
  const mtime = new UtcFieldsDate(stamp.getTime());
  const manifestBytes = Buffer.from(manifestText, 'utf8');
  const manifestStored = storeUncompressed('manifest.yaml', manifestBytes.length, manifestBytes);
  const entries = [...listing.files, 'manifest.yaml', 'plugin.yaml'].sort();
  for (const name of entries) {
    const file = scanned.get(name);
    const store = file ? file.store : manifestStored;
    const options = { mtime, mode: file?.mode ?? 0o100644, compressionLevel: store ? 0 : 9 };
    if (!file) zip.addBuffer(manifestBytes, name, options);
    else
      zip.addReadStreamLazy(name, { ...options, size: file.size }, (cb) => {
        openRegular(dir, name).then(
          ({ fh, size }) => {
            if (size !== file.size) {
              void fh.close();
              cb(new PackError(`${name} changed while packing`, 'pack.file-changed'), undefined as never);
            } else cb(null, fh.createReadStream({ highWaterMark: 1 << 20 }));
          },
          (err: Error) => cb(err, undefined as never),
        );
      });
  }
  zip.end();

  // A hidden temp file beside the target, so the final rename stays on one file system.
  const tmp = join(
    dirname(out),
    `.${basename(out)}.${process.pid}-${randomBytes(4).toString('hex')}.partial`,
  );
  const cleanup = () => rmSync(tmp, { force: true });
  process.once('exit', cleanup);
  try {
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
      await pipeline(zip.outputStream, tap, createWriteStream(tmp, { flags: 'wx' }));
    } catch (err) {
      if (err instanceof PackError) throw err;
      throw new PackError(`could not write ${out}: ${(err as Error).message}`, 'pack.write-failed');
    }
    // Never hand out an archive the hub would refuse (e.g. names that collide on case-insensitive disks).
    const verified = await verifyArchive(tmp, { label: basename(out) });
    if (!verified.ok) {
      throw new PackError(
        'the packed archive fails the hub checks; fix the files named above',
        'pack.unsafe-archive',
        verified.findings,
      );
    }
    try {
      if (opts.force) renameSync(tmp, out);
      else {
        // link() refuses to replace a file that appeared meanwhile; rename() would not.
        linkSync(tmp, out);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw code === 'EEXIST'
        ? new PackError(`${out} already exists; pass --force to overwrite it`, 'pack.exists')
        : new PackError(`could not write ${out}: ${(err as Error).message}`, 'pack.write-failed');
    }
    return {
      file: out,
      sha256: hash.digest('hex'),
      size_bytes: size,
      archive_id: archiveId,
      manifest: stamped.manifest,
      files: listing.files.length,
      notes: listing.skipped.map((s) => `skipped ${s}`),
      followed: listing.followed,
      stored: [...scanned.values()].filter((f) => f.store).length,
    };
  } finally {
    cleanup();
    process.removeListener('exit', cleanup);
  }
}
