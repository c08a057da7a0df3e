import { CURRENT_SDK_VERSION } from '@magellon/hub-core';
import { lintPlugin } from '@magellon/hub-core/node';
import { countBySeverity, green, plural, printFindings, red, safe, yellow } from '../output';
import { statPath } from '../paths';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';
import { findingFormat } from './validate';

export const lintCommand: Command = {
  name: 'lint',
  help: `Usage: hub lint <plugin-dir | archive.mpn> [options]

On a plugin dir: errors where the plugin could not pack or install (no or invalid
manifest, no install entry, a missing Dockerfile or pyproject, replica bounds that
contradict, symbolic links leaving the dir, file names an archive may not hold), and
wherever hub publish and hub verify would refuse it: the catalog entry publish writes
from the manifest is checked by the catalog's own rules (entry.* codes at the
manifest's lines: SemVer version, SPDX license, a description and an author, slugs,
an https homepage, …). Warnings for requires_sdk excluding the current SDK,
health-check timeouts outside 5–300 s, a stale bundled SDK wheel, a missing schema
file, uv sources outside the plugin, a misspelled manifest key (did you mean …?), an
unquoted YAML 1.1 boolean such as restart_policy: no, and the description or author
hub scaffold left as placeholders (lint.placeholder: hub publish and hub verify
refuse it, so an untouched scaffold still lints and packs); info (with --strict) for
missing tags.

On an archive, first the strict safety and integrity checks: no path traversal,
absolute paths, links, devices, duplicates or zip bombs; manifest.yaml valid with a
real archive_id; plugin.yaml equal to manifest.yaml; every file listed in
file_checksums with the right sha256 and no file unlisted. Nothing is extracted.

Options:
  --strict              also show info, and fail on warnings
  --follow-links        as hub pack --follow-links: links leaving the plugin dir are
                        followed instead of reported as errors
  --sdk-version <v>     check requires_sdk against this SDK (default ${CURRENT_SDK_VERSION})
  --format <f>          text (default), json, or github
  -h, --help            show this help

Exit codes: 0 clean (warnings allowed unless --strict), 1 problems found, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('lint', args, {
      strict: { type: 'boolean' },
      'sdk-version': { type: 'string' },
      format: { type: 'string' },
      'follow-links': { type: 'boolean' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length !== 1)
      throw new UsageError('hub lint takes one plugin dir or .mpn file; see hub lint --help');
    const format = findingFormat(values.format);
    const target = positionals[0]!;
    const st = statPath(target);
    if ('problem' in st) {
      printFindings([st.problem], format);
      if (format !== 'json') console.error(red(`✖ ${safe(target)}: ${st.problem.code}`));
      return EXIT.failed;
    }
    const result = await lintPlugin(target, {
      sdkVersion: values['sdk-version'],
      followLinks: Boolean(values['follow-links']),
    });
    const strict = Boolean(values.strict);
    const shown = strict ? result.findings : result.findings.filter((f) => f.severity !== 'info');
    printFindings(shown, format);
    const { errors, warnings, infos } = countBySeverity(result.findings);
    const failed = errors > 0 || (strict && warnings > 0);
    if (format !== 'json') {
      const what = safe(result.manifest ? `${result.manifest.plugin_id} ${result.manifest.version}` : target);
      const counts = `${plural(errors, 'error')}, ${plural(warnings, 'warning')}${strict ? `, ${infos} info` : ''}`;
      if (failed) console.error(red(`✖ ${what}: ${counts}`));
      else if (warnings > 0) console.error(yellow(`✔ ${what} lints with ${counts}`));
      else console.error(green(`✔ ${what}: clean (${counts})`));
    }
    return failed ? EXIT.failed : EXIT.ok;
  },
};
