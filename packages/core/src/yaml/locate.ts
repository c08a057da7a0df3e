import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

/**
 * Finds where a value (or, with `key`, a mapping key) sits in YAML source.
 * Used only when there is something to report, so the happy path never pays for positions.
 * Falls back to the nearest existing parent; 1:1 when nothing matches.
 */
export class YamlLocator {
  private readonly counter = new LineCounter();
  private readonly root: Node | null;

  constructor(text: string) {
    const doc = parseDocument(text, { lineCounter: this.counter, uniqueKeys: false, prettyErrors: false });
    this.root = doc.contents as Node | null;
  }

  /** Position of the value at `path`, or of the key itself when `keyOf` is true. */
  locate(path: ReadonlyArray<PropertyKey>, keyOf = false): Position {
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
        if (last && keyOf) {
          offset = keyNode.range?.[0] ?? offset;
          node = null;
          break;
        }
        node = (pair.value as Node | null) ?? null;
        offset = node?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) break;
        node = item;
        offset = item.range?.[0] ?? offset;
      } else break;
    }
    const { line, col } = this.counter.linePos(offset);
    return { line, column: col };
  }
}
