import { readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Finding } from '../findings';
import { ARCHIVE_MANIFEST, ARCHIVE_SUFFIX, MANIFEST_NAMES } from '../layout';
import type { PluginFiles } from '../manifest/plugin-files';
import { MAX_MANIFEST_BYTES } from '../manifest/read-manifest';
import { FileTree, isInside, refusalFinding } from './fs/tree-file';
import { decodeYamlText } from './read-entry';

/** Folders pack never descends into (the SDK's list). */
export const PACK_SKIP_DIRS: ReadonlySet<string> = new Set([
  '__pycache__',
  '.git',
  '.venv',
  'venv',
  'node_modules',
  '.pytest_cache',
]);
/** Names a source dir may hold its manifest under; the first found wins. */

/** Whether pack leaves this file or folder name out of an archive. */
export function isPackSkipped(name: string, isDir: boolean): boolean {
  if (name.startsWith('.')) return true;
  if (isDir) return PACK_SKIP_DIRS.has(name);
  return name.endsWith('.pyc') || name.endsWith(ARCHIVE_SUFFIX);
}

export function findSourceManifest(dir: string): string | undefined {
  return MANIFEST_NAMES.find((name) => {
    try {
      return statSync(join(dir, name)).isFile();
    } catch {
      return false;
    }
  });
}

/** Why a plugin dir cannot be packed as it is (each names the path). */
export interface DirProblem {
  code: 'pack.link-outside' | 'pack.link-loop';
  /** Relative POSIX path of the link. */
  path: string;
  message: string;
}

export interface DirListing {
  /** Relative POSIX paths, sorted, of the files pack would put in the archive (manifest excluded). */
  files: string[];
  /** Things left out that an author may want to know about (e.g. a symlinked folder, a FIFO). */
  skipped: string[];
  /** Links leaving the dir that were followed (only with `followLinks`), as "path → real target". */
  followed: string[];
  /** Links that stop the dir from packing: they leave it (without `followLinks`) or loop. */
  problems: DirProblem[];
}

export interface ListOptions {
  /**
   * Follow symbolic links whose target leaves the plugin dir (files and folders). Without it such a
   * link is a problem: a link to a host file must not be published by accident.
   */
  followLinks?: boolean;
}

/**
 * Lists a plugin source dir the way pack sees it; lint uses the same list. Nothing is opened:
 * FIFOs, sockets and devices are skipped (noted), links are resolved with realpath only.
 * A link inside the dir to a file is read through; to a folder, skipped unless `followLinks`.
 */
export function listPluginDir(dir: string, opts: ListOptions = {}): DirListing {
  const files: string[] = [];
  const skipped: string[] = [];
  const followed: string[] = [];
  const problems: DirProblem[] = [];
  const root = realpathSync(dir);
  // Real paths of the folders being walked, to catch links that lead back into an ancestor.
  const walking: string[] = [];
  const walk = (rel: string, real: string) => {
    walking.push(real);
    const entries = readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      // The source manifest is not listed (pack writes its own), but a linked one is still checked below.
      const isManifest = !rel && (MANIFEST_NAMES as readonly string[]).includes(e.name);
      if (isManifest && !e.isSymbolicLink()) continue;
      if (!e.isSymbolicLink()) {
        if (isPackSkipped(e.name, e.isDirectory())) continue;
        if (e.isDirectory()) walk(path, join(real, e.name));
        else if (e.isFile()) files.push(path);
        else skipped.push(`${path} (a FIFO, socket or device: never opened, not packed)`);
        continue;
      }
      const abs = join(dir, path);
      let target: string;
      try {
        target = realpathSync(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
          if (!isPackSkipped(e.name, false))
            problems.push({ code: 'pack.link-loop', path, message: `${path} is a loop of symbolic links` });
        } else if (!isPackSkipped(e.name, false)) skipped.push(`${path} (a link to nothing)`);
        continue;
      }
      const st = statSync(target, { throwIfNoEntry: false });
      const isDir = st?.isDirectory() ?? false;
      if (isPackSkipped(e.name, isDir)) continue;
      const inside = isInside(root, target);
      if (!inside && !opts.followLinks) {
        problems.push({
          code: 'pack.link-outside',
          path,
          message: `${path} is a symbolic link to ${readlinkSync(abs)}, outside the plugin dir; it is not packed (a link to a host file must not be published) — copy the file in, or pass --follow-links to pack its target`,
        });
        continue;
      }
      if (isManifest) {
        if (!inside) followed.push(`${path} → ${target}`);
        continue;
      }
      if (isDir) {
        if (!opts.followLinks) {
          skipped.push(`${path} (symlinked folder)`);
          continue;
        }
        if (walking.some((a) => isInside(target, a))) {
          problems.push({
            code: 'pack.link-loop',
            path,
            message: `${path} links to ${target}, a folder that contains it: following it would never end`,
          });
          continue;
        }
        if (!inside) followed.push(`${path} → ${target}`);
        walk(path, target);
      } else if (st?.isFile()) {
        if (!inside) followed.push(`${path} → ${target}`);
        files.push(path);
      } else skipped.push(`${path} (links to a FIFO, socket or device: never opened, not packed)`);
    }
    walking.pop();
  };
  walk('', root);
  files.sort();
  return { files, skipped, followed, problems };
}

/** A source dir seen through the PluginFiles interface. */
export class DirPluginFiles implements PluginFiles {
  private readonly set: Set<string>;

  private readonly tree = new FileTree('/');

  constructor(
    private readonly dir: string,
    private readonly files: readonly string[],
    readonly label: string,
  ) {
    this.set = new Set(files);
  }

  list(): readonly string[] {
    return this.files;
  }

  has(path: string): boolean {
    return this.set.has(path);
  }

  /** A listed file's bytes, at most MAX_PLUGIN_FILE_READ_BYTES (lint rules read manifests' companions). */
  read(path: string): Promise<Buffer> {
    return Promise.resolve(this.readSync(path));
  }

  readSync(path: string): Buffer {
    // The listing already resolved links (and refused those leaving the dir unless followed).
    const read = this.tree.read(join(this.dir, path), MAX_PLUGIN_FILE_READ_BYTES);
    if (!read.ok) throw new Error(`${this.label}/${path} ${read.refusal.message}`);
    return Buffer.from(read.bytes);
  }
}

/** A lint rule reading a plugin file larger than this gets an error instead of the bytes. */
export const MAX_PLUGIN_FILE_READ_BYTES = 16 * 1024 * 1024;

/** The source manifest of a plugin dir, read once for pack and lint alike. */
export type SourceManifest = { ok: true; name: string; text: string } | { ok: false; finding: Finding };

/**
 * Finds and reads a plugin dir's manifest (manifest.yaml, else plugin.yaml): a regular file of at
 * most MAX_MANIFEST_BYTES, inside the dir unless `followLinks` (a linked manifest leaving the dir is
 * refused, like any other link). Nothing is read from a FIFO, a device or outside the dir.
 */
export function readSourceManifest(dir: string, opts: ListOptions = {}): SourceManifest {
  const name = findSourceManifest(dir);
  const file = join(basename(dir), name ?? ARCHIVE_MANIFEST);
  if (!name) {
    return {
      ok: false,
      finding: {
        file: basename(dir),
        severity: 'error',
        code: 'lint.no-manifest',
        message: 'no manifest.yaml (or legacy plugin.yaml) here; run `hub scaffold` to start a plugin',
      },
    };
  }
  const tree = new FileTree(opts.followLinks ? '/' : dir);
  const read = tree.read(join(dir, name), MAX_MANIFEST_BYTES);
  if (!read.ok) {
    const f = refusalFinding(read.refusal, file, 'yaml.too-large');
    return {
      ok: false,
      finding:
        f.code === 'path.outside-tree'
          ? {
              ...f,
              code: 'pack.link-outside',
              message: `${name} is a symbolic link to a place outside the plugin dir; it was not read (a link to a host file must not be published) — copy it in, or pass --follow-links`,
            }
          : f,
    };
  }
  const decoded = decodeYamlText(read.bytes, file);
  return decoded.ok ? { ok: true, name, text: decoded.text } : { ok: false, finding: decoded.finding };
}
