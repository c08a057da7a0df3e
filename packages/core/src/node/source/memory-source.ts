import type { TreeRefusal } from '../fs/tree-file';
import type { CatalogSource, SourceDirent, SourceKind, SourceList, SourceRead } from './catalog-source';
import { notFoundRefusal, tooLargeRefusal } from './catalog-source';

/**
 * A catalog held in memory: catalog-relative path → contents. Folders are implied by the paths.
 * Used by tests and by tools that build a catalog before writing it; also the store behind the git
 * source once it has read the objects it needs.
 */
export class MemoryCatalogSource implements CatalogSource {
  readonly describe: string;
  protected readonly files = new Map<string, Buffer>();
  /** Paths that exist but are not readable files (links, submodules), with their kind. */
  protected readonly special = new Map<string, SourceKind>();
  /** Files known to exist (with their size) whose bytes are not held: reading them is refused. */
  protected readonly unread = new Map<string, number>();
  private dirs: Map<string, Map<string, SourceKind>> | undefined;

  constructor(
    files: Record<string, string | Buffer> | Map<string, string | Buffer> = {},
    /** Findings name `<prefix>/<rel>`; "" names them by their catalog-relative path. */
    readonly prefix = 'catalog',
    describe = 'memory',
  ) {
    this.describe = describe;
    const pairs = files instanceof Map ? [...files] : Object.entries(files);
    for (const [rel, body] of pairs) this.files.set(rel, typeof body === 'string' ? Buffer.from(body) : body);
  }

  show(rel: string): string {
    if (rel === '') return this.prefix || '.';
    return this.prefix ? `${this.prefix}/${rel}` : rel;
  }

  private index(): Map<string, Map<string, SourceKind>> {
    if (this.dirs) return this.dirs;
    const dirs = new Map<string, Map<string, SourceKind>>([['', new Map()]]);
    const add = (rel: string, kind: SourceKind) => {
      const parts = rel.split('/');
      for (let i = 0; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        const here = parts.slice(0, i + 1).join('/');
        let children = dirs.get(parent);
        if (!children) {
          children = new Map();
          dirs.set(parent, children);
        }
        const isLast = i === parts.length - 1;
        if (!isLast) {
          children.set(parts[i]!, 'dir');
          if (!dirs.has(here)) dirs.set(here, new Map());
        } else if (!children.has(parts[i]!)) {
          children.set(parts[i]!, kind);
        }
      }
    };
    for (const rel of this.files.keys()) add(rel, 'file');
    for (const rel of this.unread.keys()) add(rel, 'file');
    for (const [rel, kind] of this.special) add(rel, kind);
    this.dirs = dirs;
    return dirs;
  }

  list(rel: string): SourceList {
    const children = this.index().get(rel);
    if (!children) {
      const kind = this.kindOf(rel);
      if (kind === 'link') return this.linkRefusal();
      if (kind) {
        return { ok: false, refusal: { kind: 'not-regular', message: 'is not a folder; it was not listed' } };
      }
      return notFoundRefusal(rel);
    }
    const entries: SourceDirent[] = [...children].map(([name, kind]) => ({ name, kind }));
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { ok: true, entries };
  }

  read(rel: string, maxBytes: number): SourceRead {
    const bytes = this.files.get(rel);
    if (bytes) return bytes.length > maxBytes ? tooLargeRefusal(bytes.length, maxBytes) : { ok: true, bytes };
    const size = this.unread.get(rel);
    if (size !== undefined) {
      if (size > maxBytes) return tooLargeRefusal(size, maxBytes);
      return {
        ok: false,
        refusal: {
          kind: 'io',
          error: new Error('not loaded'),
          message: `was not loaded from ${this.describe}`,
        },
      };
    }
    const kind = this.kindOf(rel);
    if (kind === 'link') return this.linkRefusal();
    if (kind === 'dir' || kind === 'other') {
      const what = kind === 'dir' ? 'a folder' : 'not a regular file (a submodule or special file)';
      return { ok: false, refusal: { kind: 'not-regular', message: `is ${what}; it was not read` } };
    }
    return notFoundRefusal(rel);
  }

  /** A link in a git tree (or marked so in memory) is never followed. */
  private linkRefusal(): { ok: false; refusal: TreeRefusal } {
    return {
      ok: false,
      refusal: {
        kind: 'not-regular',
        message: `is a symbolic link in ${this.describe}; links are not followed`,
      },
    };
  }

  private kindOf(rel: string): SourceKind | undefined {
    if (this.files.has(rel) || this.unread.has(rel)) return 'file';
    const special = this.special.get(rel);
    if (special) return special;
    if (this.index().has(rel)) return 'dir';
    return undefined;
  }
}
