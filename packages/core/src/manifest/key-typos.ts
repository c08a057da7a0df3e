import type { Finding } from '../findings';
import { archiveManifestSchema, LEGACY_MANIFEST_KEYS } from '../schema/archive-manifest';
import { type KnownKeys, knownKeysOf } from '../schema/known-keys';

/**
 * Optimal string alignment distance (Damerau–Levenshtein with adjacent transpositions):
 * `requires_skd` → `requires_sdk` is 1, as is `methd` → `method`.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

/** How far a key may be from a known one to count as a typo: 1 edit for short keys, 2 from 6 characters. */
const maxDistance = (key: string) => (key.length >= 6 ? 2 : 1);

/** The known key an unknown one most likely misspells, if any is close enough. */
export function closestKey(key: string, known: Iterable<string>): string | undefined {
  const lower = key.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= maxDistance(key) ? best : undefined;
}

export interface KeyTypo {
  /** Where the unknown key sits: the path of its mapping plus the key itself. */
  path: Array<string | number>;
  key: string;
  suggestion: string;
}

let manifestKeys: KnownKeys | undefined;

/** The manifest's known keys, from the zod schema, plus the legacy names old manifests use. */
export function knownManifestKeys(): KnownKeys {
  if (!manifestKeys) {
    const fromSchema = knownKeysOf(archiveManifestSchema);
    const keys = new Map(fromSchema?.keys);
    for (const legacy of LEGACY_MANIFEST_KEYS) if (!keys.has(legacy)) keys.set(legacy, undefined);
    manifestKeys = { keys };
  }
  return manifestKeys;
}

/**
 * Unknown keys that are a small edit away from a known key at the same place. Keys a newer SDK
 * may have added (far from every known key) are not reported: unknown keys stay accepted.
 */
export function findKeyTypos(raw: unknown, known: KnownKeys = knownManifestKeys()): KeyTypo[] {
  const out: KeyTypo[] = [];
  const walk = (value: unknown, node: KnownKeys | undefined, path: Array<string | number>) => {
    if (!node || typeof value !== 'object' || value === null || value instanceof Date) return;
    if (Array.isArray(value)) {
      if (node.items) for (const [i, item] of value.entries()) walk(item, node.items, [...path, i]);
      return;
    }
    if (!node.keys) return;
    for (const [key, child] of Object.entries(value)) {
      if (node.keys.has(key)) {
        walk(child, node.keys.get(key), [...path, key]);
        continue;
      }
      const suggestion = closestKey(key, node.keys.keys());
      if (suggestion !== undefined) out.push({ path: [...path, key], key, suggestion });
    }
  };
  walk(raw, known, []);
  return out;
}

/** Each typo as a `lint.misspelled-key` warning at the key's line:column. */
export function keyTypoFindings(
  raw: unknown,
  file: string,
  locate: (path: ReadonlyArray<PropertyKey>, key: boolean) => { line: number; column: number },
): Finding[] {
  return findKeyTypos(raw).map((typo) => {
    const where = typo.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
      .join('')
      .slice(1);
    return {
      file,
      ...locate(typo.path, true),
      severity: 'warning',
      code: 'lint.misspelled-key',
      message: `unknown key "${where}": did you mean "${typo.suggestion}"? (unknown keys are ignored, so this one has no effect)`,
    };
  });
}
