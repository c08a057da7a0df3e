import { CORE_SCHEMA, load, YAMLException } from 'js-yaml';
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
  // An alias needs an anchor, and an anchor needs "&": most files have none and skip the walk.
  const alias = text.includes('&') ? findSharedNode(data) : undefined;
  if (alias) {
    return fail(
      'yaml.alias',
      `anchors and aliases are not allowed (the value at "${alias}" is reused)`,
      1,
      1,
    );
  }
  return { ok: true, value: { data, text } };
}

/**
 * js-yaml resolves an alias to the same object; walking with a seen-set finds it in
 * linear time, which also defuses "billion laughs" documents before anything expands them.
 */
function findSharedNode(root: unknown): string | undefined {
  const seen = new Set<object>();
  const stack: Array<[unknown, string]> = [[root, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node !== 'object' || node === null || node instanceof Date) continue;
    if (seen.has(node)) return path || '(root)';
    seen.add(node);
    if (Array.isArray(node)) {
      for (const [i, v] of node.entries()) stack.push([v, `${path}[${i}]`]);
    } else for (const [k, v] of Object.entries(node)) stack.push([v, path ? `${path}.${k}` : k]);
  }
  return undefined;
}
