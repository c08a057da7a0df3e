import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

/** Where values sit in a document's source: what findings need to name a file's line and column. */
export interface PathLocator {
  /** Position of the value at `path`, or of the key itself when `keyOf` is true. */
  locate(path: ReadonlyArray<PropertyKey>, keyOf?: boolean): Position;
  /** The scalar at `path` exactly as written in the source (quotes included), if there is one. */
  written?(path: ReadonlyArray<PropertyKey>): string | undefined;
}

/**
 * Finds where a value (or, with `key`, a mapping key) sits in YAML source.
 * Used only when there is something to report, so the happy path never pays for positions.
 * Falls back to the nearest existing parent; 1:1 when nothing matches.
 */
export class YamlLocator implements PathLocator {
  private readonly counter = new LineCounter();
  private readonly root: Node | null;

  constructor(private readonly text: string) {
    const doc = parseDocument(text, { lineCounter: this.counter, uniqueKeys: false, prettyErrors: false });
    this.root = doc.contents as Node | null;
  }

  /** Position of the value at `path`, or of the key itself when `keyOf` is true. */
  locate(path: ReadonlyArray<PropertyKey>, keyOf = false): Position {
    const { line, col } = this.counter.linePos(this.find(path, keyOf).offset);
    return { line, column: col };
  }

  /** The scalar at `path` exactly as written (`no`, `1.0`, `"x"`), or undefined when no scalar is there. */
  written(path: ReadonlyArray<PropertyKey>): string | undefined {
    const { node, found } = this.find(path, false);
    if (!found || !isScalar(node) || !node.range) return undefined;
    return this.text.slice(node.range[0], node.range[1]);
  }

  /** The node at `path` (found) or the nearest parent's offset (not found). */
  private find(
    path: ReadonlyArray<PropertyKey>,
    keyOf: boolean,
  ): { node: Node | null; offset: number; found: boolean } {
    let node: Node | null = this.root;
    let offset = node?.range?.[0] ?? 0;
    for (let i = 0; i < path.length && node; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
        );
        if (!pair) break;
        const keyNode = pair.key as Node;
        if (last && keyOf) return { node: keyNode, offset: keyNode.range?.[0] ?? offset, found: true };
        node = (pair.value as Node | null) ?? null;
        offset = node?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) break;
        node = item;
        offset = item.range?.[0] ?? offset;
      } else break;
      if (last) return { node, offset, found: true };
    }
    return { node, offset, found: path.length === 0 };
  }
}
