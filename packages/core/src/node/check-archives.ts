import { closeSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { compareEntryWithManifest } from '../catalog/archive-rules';
import type { LoadedEntry } from '../catalog/model';
import { type Finding, FindingList, hasErrors, sortFindings } from '../findings';
import { ASSETS_DIR } from '../layout';
import { YamlLocator } from '../yaml/locate';
import { type VerifiedArchive, verifyArchive } from './archive/verify-archive';
import { FileTree, refusalFinding } from './fs/tree-file';
import { hashFd } from './hash-file';
import { ioFinding, TooLargeError } from './io-error';
import { DEFAULT_ZIP_LIMITS } from './zip';

/** Hub-relative archive URLs must point under this folder of the catalog. */
export const ARCHIVE_URL_PREFIX = `/${ASSETS_DIR}/`;

/** Where an entry's archive lives, as far as the URL alone can tell. */
export type ArchiveLocation =
  | { kind: 'remote' }
  | { kind: 'local'; path: string; rel: string }
  | { kind: 'bad'; message: string };

/**
 * Resolves an archive URL against a catalog dir. Hub-relative URLs are percent-decoded exactly
 * once (a malformed escape is refused, and `%252e` stays the literal `%2e`), and the decoded path
 * must stay under `assets/`: no `..` or `.` segments, empty segments, backslashes or controls.
 */
export function locateArchive(root: string, url: string): ArchiveLocation {
  if (!url.startsWith('/')) return { kind: 'remote' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    return {
      kind: 'bad',
      message: `archive.url "${url}" has a malformed percent-escape (use %XX with two hex digits)`,
    };
  }
  const segments = decoded.slice(1).split('/');
  const bad =
    !decoded.startsWith(ARCHIVE_URL_PREFIX) ||
    segments.some((s) => s === '' || s === '.' || s === '..') ||
    /[\\\p{Cc}]/u.test(decoded);
  if (bad) {
    return {
      kind: 'bad',
      message: `archive.url "${url}" decodes to "${decoded}", which is not a file under ${ARCHIVE_URL_PREFIX} of the catalog`,
    };
  }
  const rel = segments.join('/');
  return { kind: 'local', path: join(resolve(root), ...segments), rel };
}

/** How many entries point at archives outside the catalog (https URLs), which only `hub verify` downloads. */
export function countRemoteArchives(entries: readonly LoadedEntry[]): number {
  return entries.filter((e) => !e.entry.archive.url.startsWith('/')).length;
}

export interface CheckArchivesOptions {
  /** Directory paths in findings are relative to (must match loadCatalog's). */
  displayFrom?: string;
  onProgress?: (done: number, total: number, entry: LoadedEntry) => void;
  /**
   * Copy each local archive here (a path relative to this dir, e.g. `assets/plugins/x.mpn`) while
   * hashing it, and verify the copy: what is checked is exactly what gets published.
   */
  copyInto?: string;
}

/**
 * For entries whose archive is hub-relative: the URL must decode to a file under `assets/`, which
 * must be a regular file inside the catalog (links leaving it are not followed), match size_bytes
 * and sha256, pass the strict archive checks, and carry a manifest that agrees with the entry.
 * Absolute https URLs are left to the PR check, which downloads them. Every problem is a finding on
 * the entry's line; one bad archive never stops the others being checked.
 */
export async function checkCatalogArchives(
  root: string,
  entries: readonly LoadedEntry[],
  opts: CheckArchivesOptions = {},
): Promise<Finding[]> {
  const findings = new FindingList();
  const from = resolve(opts.displayFrom ?? process.cwd());
  const tree = new FileTree(root);
  const locate = (file: string, path: ReadonlyArray<PropertyKey>) => {
    const read = tree.read(resolve(from, file), 1024 * 1024);
    return new YamlLocator(read.ok ? read.bytes.toString('utf8') : '').locate(path);
  };
  let done = 0;
  for (const loaded of entries) {
    opts.onProgress?.(done++, entries.length, loaded);
    try {
      await checkOne(loaded, root, tree, from, locate, findings, opts.copyInto);
    } catch (err) {
      // Anything unforeseen is still a finding on this entry, and the run goes on.
      const f = ioFinding(err, loaded.file);
      findings.error(f.code, `archive ${loaded.entry.archive.url} could not be checked: ${f.message}`, {
        file: loaded.file,
        ...locate(loaded.file, ['archive', 'url']),
      });
    }
  }
  return sortFindings(findings.items);
}

async function checkOne(
  loaded: LoadedEntry,
  root: string,
  tree: FileTree,
  from: string,
  locate: (file: string, path: ReadonlyArray<PropertyKey>) => { line: number; column: number },
  findings: FindingList,
  copyInto: string | undefined,
): Promise<void> {
  const { entry, file } = loaded;
  const at = (p: PropertyKey[]) => ({ file, ...locate(file, p) });
  const where = locateArchive(root, entry.archive.url);
  if (where.kind === 'remote') return;
  if (where.kind === 'bad') {
    findings.error('archive.bad-url', where.message, at(['archive', 'url']));
    return;
  }
  const opened = tree.open(where.path);
  if (!opened.ok) {
    const refusal = opened.refusal;
    if (refusal.kind === 'io' && (refusal.error as NodeJS.ErrnoException).code === 'ENOENT') {
      findings.error(
        'archive.missing',
        `archive ${entry.archive.url} is not in the catalog (expected ${relative(from, where.path)})`,
        at(['archive', 'url']),
      );
    } else {
      const f = refusalFinding(refusal, file, 'zip.too-large');
      findings.error(f.code, `archive ${entry.archive.url} ${f.message}`, at(['archive', 'url']));
    }
    return;
  }
  const copyPath = copyInto ? join(copyInto, where.rel) : undefined;
  await checkOpenedArchive(loaded, opened, relative(from, where.path), locate, findings, copyPath);
}

/**
 * Judges one entry's archive, already opened as a regular file (the caller's fd, closed here):
 * size_bytes, sha256 (one hashing pass, bounded), the strict archive checks and the manifest
 * against the entry. With `copyPath`, the bytes hashed are copied there and the copy is verified.
 * Every problem is a finding on the entry's line. Returns what the strict check read when it passed.
 */
export async function checkOpenedArchive(
  loaded: LoadedEntry,
  opened: { fd: number; real: string; stats: { size: number } },
  label: string,
  locate: (file: string, path: ReadonlyArray<PropertyKey>) => { line: number; column: number },
  findings: FindingList,
  copyPath?: string,
): Promise<VerifiedArchive | undefined> {
  const { entry, file } = loaded;
  const at = (p: PropertyKey[]) => ({ file, ...locate(file, p) });
  const start = findings.items.length;
  let copy: FileHandle | undefined;
  let digest: { sha256: string; size: number };
  try {
    if (opened.stats.size !== entry.archive.size_bytes) {
      findings.error(
        'archive.size-mismatch',
        `size_bytes is ${entry.archive.size_bytes} but the archive has ${opened.stats.size} bytes`,
        at(['archive', 'size_bytes']),
      );
      return undefined;
    }
    if (copyPath) copy = await open(copyPath, 'wx', 0o644);
    digest = await hashFd(opened.fd, { maxBytes: DEFAULT_ZIP_LIMITS.maxArchiveBytes, copyTo: copy });
  } catch (err) {
    if (err instanceof TooLargeError) {
      findings.error('zip.too-large', `archive ${entry.archive.url} ${err.message}`, at(['archive', 'url']));
      return undefined;
    }
    throw err;
  } finally {
    closeSync(opened.fd);
    await copy?.close();
  }
  if (digest.size !== entry.archive.size_bytes) {
    findings.error(
      'archive.size-mismatch',
      `size_bytes is ${entry.archive.size_bytes} but the archive has ${digest.size} bytes (it changed while being read)`,
      at(['archive', 'size_bytes']),
    );
    return undefined;
  }
  if (digest.sha256 !== entry.archive.sha256) {
    findings.error(
      'archive.sha256-mismatch',
      `sha256 does not match the archive (its sha256 is ${digest.sha256})`,
      at(['archive', 'sha256']),
    );
    return undefined;
  }
  const verified = await verifyArchive(copyPath ?? opened.real, { label });
  findings.items.push(...verified.findings);
  if (verified.manifest) compareEntryWithManifest(loaded, verified.manifest, findings, locate);
  return hasErrors(findings.items.slice(start)) ? undefined : verified;
}
