import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';
import { isAlias, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import type { FindingCode } from '../finding-codes';
import type { Finding } from '../findings';
import { PYYAML_SAFE_SCHEMA } from './pyyaml-schema';

export interface ParsedYaml {
  data: unknown;
  text: string;
}

export interface ParseYamlOptions {
  /**
   * `core` (catalog entries): YAML 1.2 core types, dates stay strings, no merge keys.
   * `sdk` (archive manifests): YAML 1.1 as PyYAML's SafeLoader reads it (`yes`/`on` are booleans,
   * `0755` is octal, `1:30` is 90, timestamps are dates), the way the SDK reads manifests.
   */
  flavour: 'core' | 'sdk';
  /** Larger inputs are refused before parsing. */
  maxBytes: number;
}

/** Parses one YAML document; any problem comes back as a positioned finding, never a throw. */
export function parseYaml(
  text: string,
  file: string,
  opts: ParseYamlOptions,
): { ok: true; value: ParsedYaml } | { ok: false; finding: Finding } {
  const fail = (code: FindingCode, message: string, line?: number, column?: number) =>
    ({ ok: false, finding: { file, line, column, severity: 'error', code, message } }) as const;
  if (text.length > opts.maxBytes) {
    return fail('yaml.too-large', `file is ${text.length} bytes; the limit is ${opts.maxBytes}`, 1, 1);
  }
  let data: unknown;
  try {
    data = load(text, {
      filename: file,
      schema: opts.flavour === 'core' ? CORE_SCHEMA : PYYAML_SAFE_SCHEMA,
      json: false,
    });
  } catch (err) {
    if (err instanceof YAMLException) {
      const dup = /duplicated mapping key/.test(err.reason);
      return fail(
        dup ? 'yaml.duplicate-key' : 'yaml.syntax',
        dup ? 'duplicate key: each field may appear once' : `YAML syntax error: ${err.reason}`,
        err.mark ? err.mark.line + 1 : undefined,
        err.mark ? err.mark.column + 1 : undefined,
      );
    }
    return fail('yaml.syntax', `YAML could not be read: ${(err as Error).message}`);
  }
  // Anchors, aliases and merge keys all need "&", "*" or "<<": most files have none and skip the scan.
  const shared = /[&*]|<</.test(text) ? (findAnchor(text) ?? findSharedNode(data)) : undefined;
  if (shared) {
    return fail(
      'yaml.alias',
      `anchors, aliases and merge keys are not allowed (${shared.what}); write each value out`,
      shared.line,
      shared.column,
    );
  }
  return { ok: true, value: { data, text } };
}

interface SharedAt {
  what: string;
  line?: number;
  column?: number;
}

/**
 * The first anchor (`&x`, on a scalar too), alias (`*x`) or merge key (`<<`) in the text, read by a
 * second parser that keeps them as written (js-yaml resolves them away, and a scalar alias leaves no
 * trace in its result).
 */
function findAnchor(text: string): SharedAt | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: false,
    merge: false,
    prettyErrors: false,
  });
  let found: SharedAt | undefined;
  const at = (offset: number | undefined, what: string) => {
    const pos = lines.linePos(offset ?? 0);
    found = { what, line: pos.line, column: pos.col };
    return visit.BREAK;
  };
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) return at(node.range?.[0], `the alias *${node.source} reuses a value`);
      if (node.anchor) return at(node.range?.[0], `a value is named with the anchor &${node.anchor}`);
      return undefined;
    },
    Pair(_key, pair) {
      if (isScalar(pair.key) && pair.key.value === '<<' && pair.key.type === 'PLAIN')
        return at(pair.key.range?.[0], 'the merge key << copies a mapping');
      return undefined;
    },
  });
  return found;
}

/**
 * js-yaml resolves an alias to the same object; walking with a seen-set finds it in linear time,
 * which also defuses "billion laughs" documents before anything expands them. A backstop for
 * {@link findAnchor}.
 */
function findSharedNode(root: unknown): SharedAt | undefined {
  const seen = new Set<object>();
  const stack: Array<[unknown, string]> = [[root, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node !== 'object' || node === null || node instanceof Date) continue;
    if (seen.has(node)) return { what: `the value at "${path || '(root)'}" is reused`, line: 1, column: 1 };
    seen.add(node);
    if (Array.isArray(node)) {
      for (const [i, v] of node.entries()) stack.push([v, `${path}[${i}]`]);
    } else for (const [k, v] of Object.entries(node)) stack.push([v, path ? `${path}.${k}` : k]);
  }
  return undefined;
}
