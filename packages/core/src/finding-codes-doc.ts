import { FINDING_CODES, type FindingCode } from './finding-codes';
import { MAINTAINERS_FILE, OWNERS_FILE } from './layout';

/** What each code family covers, in the order the reference lists them. */
export const FINDING_CODE_FAMILIES: ReadonlyArray<[prefix: string, title: string, intro: string]> = [
  [
    'yaml',
    'YAML files',
    'Catalog entries, `maintainers.yaml`, `owners.yaml` and manifests must be plain YAML mappings.',
  ],
  [
    'entry',
    'Catalog entries',
    'The fields of `catalog/plugins/<plugin_id>/<version>.yaml`. `hub lint` runs these same checks on the entry `hub publish` would write from a manifest and reports them at the manifest’s lines, so what the catalog refuses never lints clean.',
  ],
  ['maintainers', MAINTAINERS_FILE, 'Who may set `tier: verified`.'],
  [
    'owners',
    OWNERS_FILE,
    'Who owns a plugin: `plugins/<plugin_id>/owners.yaml` lists the GitHub logins that may publish, yank and deprecate its versions.',
  ],
  [
    'path',
    'Where files are',
    'Paths must agree with the fields, and every file read must be a regular file inside its tree.',
  ],
  ['catalog', 'The catalog as a whole', 'Rules across entries.'],
  [
    'verify',
    'Pull requests (`hub verify`)',
    'What a pull request may change once a version is published, who may change a plugin and mark it verified, what it may touch outside the catalog, and the real install of every new version.',
  ],
  [
    'archive',
    'Archives',
    'An entry’s archive checked against the entry, and an archive’s contents against its manifest.',
  ],
  [
    'zip',
    'The zip container',
    'The safe reader refuses anything two unzip tools could read differently, or that could escape, overwrite or exhaust.',
  ],
  ['manifest', 'Archive manifests', '`manifest.yaml`, read the way the Magellon SDK reads it.'],
  [
    'lint',
    'The author’s checks (`hub lint`)',
    'Errors where a plugin could not pack or install, or where the catalog would refuse it (with the catalog’s own `entry.*` and `zip.*` codes); warnings and info otherwise. `lint.placeholder` is the one warning that `hub publish` and `hub verify` treat as an error.',
  ],
  ['pack', '`hub pack`', 'Building an archive from a plugin dir.'],
  ['build', '`hub build`', 'Writing the /v1 documents and archives.'],
  ['io', 'Reading and writing files', 'File-system errors, each with what to do next.'],
];

/** The Markdown reference of every finding code (docs/finding-codes.md), generated so it cannot drift. */
export function renderFindingCodesDoc(): string {
  const codes = Object.keys(FINDING_CODES) as FindingCode[];
  const lines = [
    '# Finding codes',
    '',
    '<!-- Generated from packages/core/src/finding-codes.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every problem the hub reports carries one of these stable codes, printed as',
    '`file:line:column: code: message` (or as JSON with `--format json`, or as GitHub annotations with',
    '`--format github`). Tools and CI may rely on the codes; the messages may improve.',
    '',
  ];
  const listed = new Set<string>();
  for (const [prefix, title, intro] of FINDING_CODE_FAMILIES) {
    const family = codes.filter((c) => c.startsWith(`${prefix}.`));
    if (family.length === 0) continue;
    lines.push(`## ${title}`, '', intro, '', '| code | meaning |', '| --- | --- |');
    for (const code of family) {
      lines.push(`| \`${code}\` | ${FINDING_CODES[code]} |`);
      listed.add(code);
    }
    lines.push('');
  }
  const rest = codes.filter((c) => !listed.has(c));
  if (rest.length > 0) {
    lines.push('## Other', '', '| code | meaning |', '| --- | --- |');
    for (const code of rest) lines.push(`| \`${code}\` | ${FINDING_CODES[code]} |`);
    lines.push('');
  }
  return lines.join('\n');
}
