import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PluginFiles } from '../manifest/plugin-files';

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
export const MANIFEST_NAMES = ['manifest.yaml', 'plugin.yaml'] as const;

/** Whether pack leaves this file or folder name out of an archive. */
export function isPackSkipped(name: string, isDir: boolean): boolean {
  if (name.startsWith('.')) return true;
  if (isDir) return PACK_SKIP_DIRS.has(name);
  return name.endsWith('.pyc') || name.endsWith('.mpn');
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

export interface DirListing {
  /** Relative POSIX paths, sorted, of the files pack would put in the archive (manifest excluded). */
  files: string[];
  /** Things left out that an author may want to know about (e.g. a symlinked folder). */
  skipped: string[];
}

/** Lists a plugin source dir the way pack sees it. Symlinked files are read through; symlinked folders are skipped. */
export function listPluginDir(dir: string): DirListing {
  const files: string[] = [];
  const skipped: string[] = [];
  const walk = (rel: string) => {
    const entries = readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = statSync(join(dir, path), { throwIfNoEntry: false });
        if (st?.isDirectory()) {
          skipped.push(`${path} (symlinked folder)`);
          continue;
        }
        isFile = st?.isFile() ?? false;
        isDir = false;
      }
      if (isPackSkipped(e.name, isDir)) continue;
      if (!rel && (MANIFEST_NAMES as readonly string[]).includes(e.name)) continue;
      if (isDir) walk(path);
      else if (isFile) files.push(path);
      else skipped.push(`${path} (not a regular file)`);
    }
  };
  walk('');
  files.sort();
  return { files, skipped };
}

/** A source dir seen through the PluginFiles interface. */
export class DirPluginFiles implements PluginFiles {
  private readonly set: Set<string>;

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

  read(path: string): Promise<Buffer> {
    return readFile(join(this.dir, path));
  }

  readSync(path: string): Buffer {
    return readFileSync(join(this.dir, path));
  }
}
