import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseDocument } from 'yaml';
import { ZipFile } from 'yazl';
import type { Finding } from '../findings';
import { readManifest } from '../manifest/read-manifest';
import type { ArchiveManifest } from '../schema/archive-manifest';
import { verifyArchive } from './archive/verify-archive';
import { hashFile } from './hash-file';
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
  /** Overwrite an existing output file. */
  force?: boolean;
  /** Build time to stamp; default SOURCE_DATE_EPOCH, else the manifest's `updated`/`created`, else 1980-01-01. */
  date?: Date;
  /** A new random archive_id at the current time (the build is then not reproducible). */
  freshArchiveId?: boolean;
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
 * Packs a plugin source dir into a .mpn: every file but the manifest, plus manifest.yaml
 * (stamped with archive_id, updated and file_checksums) and its legacy alias plugin.yaml.
 * Same inputs give the same bytes: sorted entries, fixed timestamps, derived archive_id.
 * The output appears atomically; on failure nothing is left behind.
 */
export async function packPlugin(dirArg: string, opts: PackOptions = {}): Promise<PackResult> {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
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

  const out = resolve(opts.out ?? join(dirname(dir), `${source.plugin_id}-${source.version}.mpn`));
  if (existsSync(out) && !opts.force) {
    throw new PackError(`${out} already exists; pass --force to overwrite it`, 'pack.exists');
  }

  const listing = listPluginDir(dir);
  const checksums: Record<string, string> = {};
  const modes = new Map<string, number>();
  for (const path of listing.files) {
    checksums[path] = (await hashFile(join(dir, path))).sha256;
    modes.set(path, statSync(join(dir, path)).mode & 0o111 ? 0o100755 : 0o100644);
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
  const manifestBytes = Buffer.from(manifestText, 'utf8');
  const entries = [...listing.files, 'manifest.yaml', 'plugin.yaml'].sort();
  for (const name of entries) {
    const options = { mtime: stamp, mode: modes.get(name) ?? 0o100644, compressionLevel: 9 };
    if (name === 'manifest.yaml' || name === 'plugin.yaml') zip.addBuffer(manifestBytes, name, options);
    else zip.addReadStreamLazy(name, options, (cb) => cb(null, createReadStream(join(dir, name))));
  }
  zip.end();

  const tmp = `${out}.partial-${process.pid}`;
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
    rmSync(tmp, { force: true });
    throw new PackError(`could not write ${out}: ${(err as Error).message}`, 'pack.write-failed');
  }
  // Never hand out an archive the hub would refuse (e.g. names that collide on case-insensitive disks).
  const verified = await verifyArchive(tmp, { label: basename(out) });
  if (!verified.ok) {
    rmSync(tmp, { force: true });
    throw new PackError(
      'the packed archive fails the hub checks; fix the files named above',
      'pack.unsafe-archive',
      verified.findings,
    );
  }
  renameSync(tmp, out);
  return {
    file: out,
    sha256: hash.digest('hex'),
    size_bytes: size,
    archive_id: archiveId,
    manifest: stamped.manifest,
    files: listing.files.length,
    notes: listing.skipped.map((s) => `skipped ${s}`),
  };
}
