import { sortFindings } from '@magellon/hub-core';
import { checkCatalogArchives, countRemoteArchives, loadCatalog } from '@magellon/hub-core/node';
import { resolveCatalogDir } from '../catalog-dir';
import {
  countBySeverity,
  endProgress,
  FINDING_FORMATS,
  type FindingFormat,
  green,
  plural,
  printFindings,
  progress,
  red,
  safe,
} from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

export function findingFormat(value: string | undefined): FindingFormat {
  const format = (value ?? 'text') as FindingFormat;
  if (!FINDING_FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${FINDING_FORMATS.join(', ')}`);
  return format;
}

export const validateCommand: Command = {
  name: 'validate',
  help: `Usage: hub validate [catalog-dir] [options]

Checks every catalog/plugins/<plugin_id>/<version>.yaml against the schema and the
catalog rules (path matches fields, SemVer, sha256 shape, tier, unique versions),
then — for hub-relative archive URLs — that the archive exists, matches size_bytes
and sha256, passes the safe-unzip and file_checksums checks, and that its manifest
agrees with the entry. Prints every finding as file:line:column: code: message.

Arguments:
  catalog-dir         the catalog (holds plugins/), or a hub repo holding catalog/;
                      default: the nearest catalog at or above the current dir

Options:
  --no-archives       skip the archive checks (schema and rules only)
  --format <f>        text (default), json, or github (workflow annotations)
  -h, --help          show this help

Exit codes: 0 valid (warnings allowed), 1 errors found, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('validate', args, {
      'no-archives': { type: 'boolean' },
      format: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length > 1) throw new UsageError('hub validate takes at most one catalog dir');
    const format = findingFormat(values.format);
    const where = resolveCatalogDir('validate', positionals[0]);
    if ('problem' in where) {
      printFindings([where.problem], format);
      if (format !== 'json') console.error(red(`✖ not validated: ${where.problem.code} (see above)`));
      return EXIT.failed;
    }
    const catalog = await loadCatalog(where.dir);
    let findings = catalog.findings;
    if (!values['no-archives'] && catalog.entries.length > 0) {
      const archiveFindings = await checkCatalogArchives(catalog.root, catalog.entries, {
        onProgress: (done, total, e) =>
          progress(
            `checking archives ${done + 1}/${total} ${safe(e.entry.plugin_id)} ${safe(e.entry.version)}`,
          ),
      });
      endProgress();
      findings = sortFindings([...findings, ...archiveFindings]);
    }
    printFindings(findings, format);
    const { errors, warnings } = countBySeverity(findings);
    if (format !== 'json') {
      const plugins = new Set(catalog.entries.map((e) => e.entry.plugin_id)).size;
      const summary = `${plural(catalog.entries.length, 'valid entry').replace('entrys', 'entries')} in ${plural(plugins, 'plugin')}; ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
      console.error(errors > 0 ? red(`✖ ${summary}`) : green(`✔ ${summary}`));
      const remote = countRemoteArchives(catalog.entries);
      if (remote > 0 || values['no-archives']) {
        const what = values['no-archives']
          ? 'archives not checked (--no-archives)'
          : `${plural(remote, 'archive')} at https URLs not downloaded here (the pull-request check downloads them)`;
        console.error(`  note: ${what}`);
      }
    }
    return errors > 0 ? EXIT.failed : EXIT.ok;
  },
};
