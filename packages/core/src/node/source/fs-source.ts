import { readdirSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { FileTree } from '../fs/tree-file';
import type { CatalogSource, SourceKind, SourceList, SourceRead } from './catalog-source';

// Entries are read into one reusable buffer: 25,000 files need no 25,000 allocations.
let scratch = Buffer.allocUnsafe(64 * 1024 + 1);

/**
 * A catalog in a directory. Every read goes through a FileTree: regular files only, real paths
 * inside the catalog, bounded in bytes; a link to a folder is listed only when it stays inside.
 */
export class FsCatalogSource implements CatalogSource {
  readonly root: string;
  private readonly prefix: string;
  private readonly from: string;
  readonly describe: string;
  readonly tree: FileTree;

  /** Throws (ENOENT, ENOTDIR, …) when `root` cannot be resolved at all. */
  constructor(root: string, displayFrom: string = process.cwd()) {
    this.root = resolve(root);
    this.from = resolve(displayFrom);
    this.prefix = relative(this.from, this.root);
    this.describe = this.root;
    this.tree = new FileTree(this.root);
  }

  show(rel: string): string {
    if (rel === '') return this.prefix || basename(this.root);
    // Run from inside the catalog, a path may climb out and back in (../bad-tier/1.0.0.yaml).
    if (this.prefix.startsWith('..')) return relative(this.from, this.abs(rel)) || basename(this.abs(rel));
    return this.prefix ? `${this.prefix}/${rel}` : rel;
  }

  abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, ...rel.split('/'));
  }

  list(rel: string, kind?: SourceKind): SourceList {
    let dir = this.abs(rel);
    // A folder the parent's listing saw as a plain folder (no link) is inside whatever the parent is.
    if (kind !== 'dir') {
      const where = this.tree.resolve(dir, 'dir');
      if (!where.ok) return where;
      dir = where.real;
    }
    try {
      const entries = readdirSync(dir, { withFileTypes: true }).map((d) => {
        const kind: SourceKind = d.isFile()
          ? 'file'
          : d.isDirectory()
            ? 'dir'
            : d.isSymbolicLink()
              ? 'link'
              : 'other';
        return { name: d.name, kind };
      });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { ok: true, entries };
    } catch (error) {
      return { ok: false, refusal: { kind: 'io', error, message: String((error as Error).message) } };
    }
  }

  read(rel: string, maxBytes: number, kind?: SourceKind): SourceRead {
    if (scratch.length < maxBytes + 1) scratch = Buffer.allocUnsafe(maxBytes + 1);
    // A listing's word that this is a plain file lets the tree skip the lstat and fstat: its open
    // refuses links at the last component and cannot block on a FIFO swapped in since.
    return this.tree.read(this.abs(rel), maxBytes, { direntIsFile: kind === 'file', scratch });
  }
}
