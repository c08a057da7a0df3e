// What the catalog refuses in a plugin that its manifest's own schema (and pack) accept: one row per
// rule. `hub lint` must report each as an error (core: src/node/lint.test.ts), and `hub publish`
// refuses each (cli: test/publish.test.ts). A new rule that publish or verify enforces adds a row.
import type { FindingCode } from '../src/finding-codes';

export interface CatalogRefusal {
  /** What the author did, in words: the tests' names. */
  what: string;
  /** The code lint, publish and verify all report. */
  code: FindingCode;
  /** A top-level manifest field and the YAML written for it (null: the field is left out)… */
  field?: { name: string; yaml: string | null };
  /** …or files added to the plugin dir (path → content). */
  files?: Record<string, string>;
}

const tags = (n: number) => `[${Array.from({ length: n }, (_, i) => `t${i}`).join(', ')}]`;

export const CATALOG_REFUSALS: readonly CatalogRefusal[] = [
  {
    what: 'a version with a "v" prefix',
    code: 'entry.invalid-semver',
    field: { name: 'version', yaml: 'v0.1.0' },
  },
  {
    what: 'a license that is not SPDX',
    code: 'entry.invalid-license',
    field: { name: 'license', yaml: 'GPL' },
  },
  { what: 'no license', code: 'entry.invalid-license', field: { name: 'license', yaml: null } },
  { what: 'no description', code: 'entry.invalid-value', field: { name: 'description', yaml: null } },
  { what: 'no author', code: 'entry.invalid-value', field: { name: 'author', yaml: null } },
  { what: 'a name of blanks', code: 'entry.invalid-value', field: { name: 'name', yaml: '"   "' } },
  {
    what: 'a name over 200 characters',
    code: 'entry.invalid-value',
    field: { name: 'name', yaml: 'n'.repeat(201) },
  },
  {
    what: 'a description holding an escape sequence',
    code: 'entry.control-character',
    field: { name: 'description', yaml: '"Spectra \\e[31min red"' },
  },
  {
    what: 'an author holding a bidi override',
    code: 'entry.control-character',
    field: { name: 'author', yaml: '"Lab \\u202eevil"' },
  },
  {
    what: 'a backend_id that is not a slug',
    code: 'entry.invalid-slug',
    field: { name: 'backend_id', yaml: 'Not A Slug' },
  },
  {
    what: 'a homepage that is not https',
    code: 'entry.invalid-url',
    field: { name: 'homepage', yaml: 'http://example.org' },
  },
  {
    what: 'a tag that is not a slug',
    code: 'entry.invalid-slug',
    field: { name: 'tags', yaml: '[fft, "Not A Slug"]' },
  },
  { what: 'more than 30 tags', code: 'entry.invalid-slug', field: { name: 'tags', yaml: tags(31) } },
  {
    what: 'a plugin_id the catalog site reserves',
    code: 'entry.reserved-id',
    field: { name: 'plugin_id', yaml: 'publish' },
  },
  {
    what: 'two files whose names differ only in case',
    code: 'zip.case-collision',
    files: { 'NOTES.md': 'a\n', 'notes.md': 'b\n' },
  },
  { what: 'a file named like a Windows device', code: 'zip.unportable-name', files: { 'aux.py': 'x\n' } },
];

/**
 * `manifest` with top-level `field` set to `yaml` (null: removed): its line, and any indented lines
 * that continue it, are dropped, and the new value is appended at the end.
 */
export function setField(manifest: string, field: string, yaml: string | null): string {
  const kept: string[] = [];
  let dropping = false;
  for (const line of manifest.replace(/\n$/, '').split('\n')) {
    if (line.startsWith(`${field}:`)) dropping = true;
    else if (dropping && !/^\s+\S/.test(line)) dropping = false;
    if (!dropping) kept.push(line);
  }
  if (yaml !== null) kept.push(`${field}: ${yaml}`);
  return `${kept.join('\n')}\n`;
}
