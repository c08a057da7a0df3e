/**
 * The files of a plugin, whether they sit in a source dir or inside an archive,
 * so lint rules are written once for both.
 */
export interface PluginFiles {
  /** Where the files are, for messages (a dir path or an .mpn path). */
  readonly label: string;
  /** Relative POSIX paths of every regular file. */
  list(): readonly string[];
  has(path: string): boolean;
  read(path: string): Promise<Buffer>;
}

/** Normalizes a manifest-relative path (`./Dockerfile`, `docker/../Dockerfile`) to a plain relative path, or undefined if it escapes. */
export function normalizeRelative(path: string): string | undefined {
  const out: string[] = [];
  for (const seg of path.replace(/\\/g, '/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(seg);
  }
  return out.join('/');
}

export function joinRelative(dir: string, file: string): string | undefined {
  return normalizeRelative(dir === '.' || dir === '' ? file : `${dir}/${file}`);
}

/** The folder of a plugin-relative path ('' for a file at the root). */
export function parentDir(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}
