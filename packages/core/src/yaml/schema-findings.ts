import type { z } from 'zod';
import { type FindingCode, isFindingCode } from '../finding-codes';
import type { Finding, Severity } from '../findings';
import { isDisplayTextPattern, MULTI_LINE_TEXT, unsafeDisplayCharacter } from '../text/display-text';
import { type PathLocator, YamlLocator } from './locate';

/** Field names whose problems get their own stable code, so docs and CI can name the rule. */
const FIELD_CODES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    plugin_id: 'invalid-slug',
    category: 'invalid-slug',
    backend_id: 'invalid-slug',
    tags: 'invalid-slug',
    replacement: 'invalid-slug',
    version: 'invalid-semver',
    sha256: 'invalid-sha256',
    tier: 'invalid-tier',
    archive_id: 'invalid-archive-id',
    requires_sdk: 'invalid-sdk-range',
    license: 'invalid-license',
    published_at: 'invalid-date',
    at: 'invalid-date',
    url: 'invalid-url',
    homepage: 'invalid-url',
    // A value inside the mapping (file name → sha256), whose own key names no rule.
    file_checksums: 'invalid-sha256',
  }),
);

function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

function dotted(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Documents whose schema problems get coded findings; each has its codes in FINDING_CODES. */
export type SchemaPrefix = 'entry' | 'manifest' | 'maintainers' | 'owners';

/** `<prefix>.<suffix>` when that code exists, else the prefix's catch-all `invalid-value`. */
function codeFor(prefix: SchemaPrefix, suffix: string): FindingCode {
  const code = `${prefix}.${suffix}`;
  return isFindingCode(code) ? code : `${prefix}.invalid-value`;
}

/** Zod's own wording for a type mismatch (a schema's own message replaces it). */
const isDefaultMessage = (message: string) => message.startsWith('Invalid input');

/**
 * A string field YAML read as a number or a boolean (`version: 1.0`, `author: no`): one sentence with
 * the value as written, what YAML made of it, and either the schema's own advice or "quote it".
 */
function readAsMessage(issue: z.core.$ZodIssue, value: number | boolean, written: string): string {
  const last = issue.path.at(-1);
  const key = typeof last === 'string' ? `${last}: ` : '';
  const advice = isDefaultMessage(issue.message) ? `quote it: ${key}"${written}"` : issue.message;
  return `\`${written}\` is read as a ${typeof value}; ${advice}`;
}

/**
 * Turns schema issues into findings with file:line:column, one per problem.
 * `prefix` namespaces the codes (`entry`, `manifest`); `source` is the document's text, or a locator
 * that says where each path of `data` is shown (another file's lines, for a document made from it).
 */
export function schemaFindings(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  source: string | PathLocator,
  file: string,
  prefix: SchemaPrefix,
  severity: Severity = 'error',
): Finding[] {
  const locator = typeof source === 'string' ? new YamlLocator(source) : source;
  const out: Finding[] = [];
  for (const issue of issues) {
    const path = issue.path;
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const at = locator.locate([...path, key], true);
        const field = dotted([...path, key]);
        out.push({
          file,
          ...at,
          severity,
          code: codeFor(prefix, 'unknown-field'),
          message: `unknown field "${field}" (check its spelling; see the schema in packages/core/schema)`,
        });
      }
      continue;
    }
    const value = valueAt(data, path);
    const field = dotted(path) || '(document)';
    if (
      issue.code === 'invalid_format' &&
      issue.format === 'regex' &&
      isDisplayTextPattern(issue.pattern) &&
      typeof value === 'string'
    ) {
      const what = unsafeDisplayCharacter(value, issue.pattern === String(MULTI_LINE_TEXT));
      out.push({
        file,
        ...locator.locate(path),
        severity,
        code: codeFor(prefix, 'control-character'),
        message: `"${field}" holds ${what}; text shown to people may not hold control or bidirectional characters, which can hide or reorder what a reader sees`,
      });
      continue;
    }
    // The innermost key that names a rule: `file_checksums.main.py` is a sha256 problem.
    // Keys come from the document: a key named "constructor" must not find Object.prototype's.
    const ruled = [...path].reverse().find((p): p is string => typeof p === 'string' && FIELD_CODES.has(p));
    let code = FIELD_CODES.get(ruled ?? '') ?? 'invalid-value';
    let message = issue.message;
    if (issue.code === 'invalid_type' && value === undefined) {
      code = 'missing-field';
      message = isDefaultMessage(message)
        ? `required field "${field}" is missing`
        : `required field "${field}" is missing: ${message}`;
    } else if (issue.code === 'invalid_type') {
      if (!ruled) code = 'invalid-type';
      const expected = 'expected' in issue ? String(issue.expected) : 'another type';
      if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
        message = readAsMessage(issue, value, locator.written?.(path) ?? String(value));
      } else {
        message = isDefaultMessage(message)
          ? `"${field}" must be ${expected === 'object' ? 'a mapping' : expected === 'array' ? 'a list' : `a ${expected}`}, not ${describe(value)}`
          : `"${field}": ${message} (got ${describe(value)})`;
      }
    } else if (!message.includes(field.split('.').pop() ?? field)) {
      message = `"${field}": ${message}`;
    }
    const at = locator.locate(path);
    out.push({ file, ...at, severity, code: codeFor(prefix, code), message });
  }
  return out;
}
