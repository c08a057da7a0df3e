import { type TreeRefusal, tooLargeRefusal } from '../fs/tree-file';

export { tooLargeRefusal };

/**
 * Where a catalog's files come from. The loader asks only for catalog-relative paths ("plugins",
 * "plugins/ctf/1.0.0.yaml", "maintainers.yaml", "/"-separated), so a working tree, a git commit
 * (read from objects, never checked out) and a map in memory load through one code path, and a
 * finding names the same file whichever it came from.
 */
export interface CatalogSource {
  /** How a catalog-relative path appears in findings (relative to the user's directory, or repo-relative). */
  show(rel: string): string;
  /** What the source is, for messages: a directory, "git <ref>", "memory". */
  readonly describe: string;
  /**
   * The entries of a folder, sorted by name; a link to a folder is listed where it is allowed to be
   * followed. `kind` is what the parent's listing said it is (a plain folder needs no resolving).
   */
  list(rel: string, kind?: SourceKind): SourceList;
  /**
   * A whole file of at most `maxBytes` bytes: a regular file only, never through a link that leaves
   * the catalog. `kind` is what the listing said the path is (saves a stat where that is trusted).
   */
  read(rel: string, maxBytes: number, kind?: SourceKind): SourceRead;
}

/** What a listing says a name is: a file, a folder, a symbolic link, or anything else (FIFO, device, submodule). */
export type SourceKind = 'file' | 'dir' | 'link' | 'other';

export interface SourceDirent {
  name: string;
  kind: SourceKind;
}

export type SourceList = { ok: true; entries: SourceDirent[] } | { ok: false; refusal: TreeRefusal };

/** `bytes` may be a view of a buffer the source reuses: decode it before the next read. */
export type SourceRead = { ok: true; bytes: Buffer } | { ok: false; refusal: TreeRefusal };

/** The refusal for a path that is not there, shaped like the file system's (code ENOENT). */
export function notFoundRefusal(rel: string): { ok: false; refusal: TreeRefusal } {
  const error = Object.assign(new Error(`ENOENT: no such file or directory, '${rel}'`), { code: 'ENOENT' });
  return { ok: false, refusal: { kind: 'io', error, message: error.message } };
}
