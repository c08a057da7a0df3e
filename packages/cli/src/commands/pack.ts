import { relative } from 'node:path';
import type { Finding } from '@magellon/hub-core';
import { lintThenPack, type PackResult } from '@magellon/hub-core/node';
import { countBySeverity, green, plural, printFindings, red, safe } from '../output';
import { statPath } from '../paths';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

/** Why `dir` cannot be packed before lint even looks (missing, unreadable, or a file), if so. */
function notAPluginDir(dir: string): Finding | undefined {
  const st = statPath(dir);
  if ('problem' in st) return st.problem;
  if (st.kind !== 'file') return undefined;
  return {
    file: dir,
    severity: 'error',
    code: 'pack.not-a-dir',
    message: `is a file; hub pack takes a plugin's source folder${/\.mpn$/i.test(dir) ? ` (to check a packed archive, run hub lint ${dir})` : ''}`,
  };
}

/** What a pack wrote: the links it followed, its notes, then the archive's facts. */
function printPacked(result: PackResult): void {
  for (const link of result.followed) console.error(`note: followed link ${safe(link)}`);
  for (const note of result.notes) console.error(`note: ${safe(note)}`);
  console.log(
    green(
      `✔ packed ${safe(`${result.manifest.plugin_id} ${result.manifest.version} → ${relative(process.cwd(), result.file)}`)}`,
    ),
  );
  console.log(`  sha256      ${result.sha256}`);
  console.log(`  size_bytes  ${result.size_bytes}`);
  console.log(`  archive_id  ${result.archive_id}`);
  console.log(`  files       ${result.files} (+ manifest.yaml, plugin.yaml), ${result.stored} stored`);
}

export const packCommand: Command = {
  name: 'pack',
  help: `Usage: hub pack <plugin-dir> [options]

Lints the dir (refusing on errors), then writes <plugin_id>-<version>.mpn beside it:
every file except hidden ones, __pycache__, .git, .venv, venv, node_modules,
.pytest_cache, *.pyc, *.mpn and the source manifest; plus manifest.yaml stamped with
archive_id (UUID v7), updated and file_checksums, and its legacy alias plugin.yaml.

Packing is reproducible: the same tree gives the same bytes and sha256 (sorted
entries, fixed timestamps, an archive_id derived from the contents). The build time
is --date, else $SOURCE_DATE_EPOCH, else the manifest's updated/created, else 1980-01-01;
it is stamped as the manifest's updated and as every entry's time (in UTC, so the bytes
do not depend on the time zone). Files whose content does not compress are stored.

A symbolic link whose target leaves the plugin dir is an error naming it (a link to a
host file must not be published by accident); --follow-links packs the targets and
prints each link it followed. FIFOs, sockets and devices are never opened (skipped).
The archive is written to a temp file beside the target and renamed into place: on
any failure nothing is left behind, and an archive being replaced is untouched.

Options:
  --out <file>      write here instead of beside the dir
  --force           replace an existing archive (atomically)
  --follow-links    pack the targets of links that leave the plugin dir
  --fresh-id        a new random archive_id stamped now (not reproducible)
  --date <iso>      the build time to stamp, e.g. 2025-06-01T12:00:00Z
  -h, --help        show this help

Exit codes: 0 packed, 1 lint errors, the archive exists or could not be written, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('pack', args, {
      out: { type: 'string' },
      force: { type: 'boolean' },
      'fresh-id': { type: 'boolean' },
      date: { type: 'string' },
      'follow-links': { type: 'boolean' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length !== 1) throw new UsageError('hub pack takes one plugin dir; see hub pack --help');
    let date: Date | undefined;
    if (values.date !== undefined) {
      date = new Date(values.date as string);
      if (Number.isNaN(date.getTime()))
        throw new UsageError(`--date "${values.date}" is not an ISO 8601 date-time`);
    }
    const dir = positionals[0]!;
    const problem = notAPluginDir(dir);
    if (problem) {
      printFindings([problem], 'text');
      console.error(red(`✖ not packed: ${problem.code} (see above)`));
      return EXIT.failed;
    }
    const outcome = await lintThenPack(dir, {
      out: values.out as string | undefined,
      force: Boolean(values.force),
      freshArchiveId: Boolean(values['fresh-id']),
      date,
      followLinks: Boolean(values['follow-links']),
    });
    printFindings(
      outcome.lint.findings.filter((f) => f.severity !== 'info'),
      'text',
    );
    if (outcome.status === 'lint-failed') {
      console.error(
        red(`✖ not packed: ${plural(countBySeverity(outcome.lint.findings).errors, 'error')} (see above)`),
      );
      return EXIT.failed;
    }
    if (outcome.status === 'pack-failed') {
      const err = outcome.error;
      printFindings(err.findings.length > 0 ? err.findings : [err.toFinding(dir)], 'text');
      console.error(red(`✖ ${err.code}: ${safe(err.message)}`));
      return EXIT.failed;
    }
    printPacked(outcome.packed);
    return EXIT.ok;
  },
};
