import { join } from 'node:path';
import { type Finding, TUF_METADATA_DIR } from '@magellon/hub-core';
import { BuildError, loadCatalog, outputDirProblem, writeHubBuild } from '@magellon/hub-core/node';
import { resolveCatalogDir } from '../catalog-dir';
import { countBySeverity, green, plural, printFindings, red, safe } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';
import { findingFormat } from './validate';

export const buildCommand: Command = {
  name: 'build',
  help: `Usage: hub build [catalog-dir] [--out dist] [--tuf-keys <dir>]

The catalog-dir holds plugins/ (or is a hub repo holding catalog/); by default the
nearest catalog at or above the current dir.

Builds, from a catalog with no schema or rule errors:
  <out>/v1/index.json           the listing the Magellon web app reads
  <out>/v1/plugins/<id>.json    every version of one plugin (CoreService reads this)
  <out>/v1/categories.json      categories with the backends that serve them
  <out>/v1/categories/<c>.json  one category, its backends side by side
  <out>/v1/openapi.json         the API's OpenAPI 3.1 description
  <out>/assets/plugins/*.mpn    the archives with hub-relative URLs
  <out>/hub-bundle.json         every document's ETag and sizes, every archive's sha256
  <out>/tuf/metadata/           with --tuf-keys: signed TUF root; targets (offline key:
                                only delegations, re-signed when they change); one
                                plugin-<id> role per author-signed plugin (its
                                signed-targets.json); hub (every other archive and
                                v1/plugins/<id>.json); snapshot and timestamp
Each document also gets <name>.gz and <name>.br beside it (served as they are by
hub serve, the Worker, or nginx's gzip_static).
Output is deterministic: the same catalog gives the same bytes (TUF metadata aside:
it carries expiry times and a new version each build). The new tree is
swapped in only when complete, so a failed build leaves the previous one as it was.
Every local archive is copied and the copy checked first (size, sha256, safe unzip,
manifest ↔ entry); any problem refuses the whole build with findings, and the
previous output stays as it was. Archives at https URLs are not downloaded.

Options:
  --format <f>    findings as text (default), json (only JSON on stdout) or github
  --out <dir>     output dir (default dist, in the current dir or, when the catalog
                  was found above it, beside that catalog); never inside the catalog;
                  only a dir hub build made is replaced
  --tuf-keys <dir>  also sign: write TUF metadata into <out>/tuf/metadata/ with the
                  keys dir hub keys generate made (env HUB_TUF_KEYS); see docs/tuf.md
  --previous <dir>  the build whose TUF versions this one continues (it must hold
                  tuf/metadata/timestamp.json, and the <v>.snapshot.json and
                  <t>.targets.json it names to reuse the targets; default: the
                  output being replaced; without either, versions start at 1)
  --tuf-expiry <role>=<days>  lifetime of timestamp (default 1), snapshot (7),
                  hub (7) or targets (365); repeatable
  -h, --help      show this help

Exit codes: 0 built, 1 catalog errors or write failure, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('build', args, {
      out: { type: 'string' },
      format: { type: 'string' },
      'tuf-keys': { type: 'string' },
      previous: { type: 'string' },
      'tuf-expiry': { type: 'string', multiple: true },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length > 1) throw new UsageError('hub build takes at most one catalog dir');
    const format = findingFormat(values.format);
    const tufKeys = values['tuf-keys'] ?? (process.env.HUB_TUF_KEYS || undefined);
    const previousDir = values.previous;
    if (previousDir && !tufKeys) throw new UsageError('hub build: --previous needs --tuf-keys');
    const expirySeconds: Record<string, number> = {};
    for (const item of values['tuf-expiry'] ?? []) {
      const m = /^(timestamp|snapshot|targets|hub)=([0-9]+(?:\.[0-9]+)?)$/.exec(item);
      if (!m || Number(m[2]) <= 0) {
        throw new UsageError(
          `hub build: --tuf-expiry takes <timestamp|snapshot|targets|hub>=<days>, got ${safe(item)}`,
        );
      }
      expirySeconds[m[1]!] = Math.round(Number(m[2]) * 86400);
    }
    // With --format json, stdout carries only the JSON list of findings (empty when built).
    const say = (line: string) => (format === 'json' ? console.error(line) : console.log(line));
    const fail = (findings: readonly Finding[], why: string) => {
      printFindings(findings, format);
      if (format !== 'json') console.error(red(`✖ not built: ${why}`));
      return EXIT.failed;
    };
    const where = resolveCatalogDir('build', positionals[0]);
    if ('problem' in where) return fail([where.problem], `${where.problem.code} (see above)`);
    const out = values.out ?? join(where.base, 'dist');
    const outProblem = outputDirProblem(out);
    if (outProblem) return fail([outProblem], `${outProblem.code} (see above)`);
    const started = performance.now();
    const catalog = await loadCatalog(where.dir);
    const { errors } = countBySeverity(catalog.findings);
    if (errors > 0) return fail(catalog.findings, `${plural(errors, 'error')} in the catalog (see above)`);
    try {
      const result = await writeHubBuild(catalog.root, catalog.entries, out, {
        tuf: tufKeys
          ? {
              keysDir: tufKeys,
              authors: catalog.authorRoles ?? [],
              previousMetadataDir: previousDir ? join(previousDir, TUF_METADATA_DIR) : undefined,
              expirySeconds,
            }
          : undefined,
      });
      if (!result.ok) {
        const n = countBySeverity(result.findings).errors;
        return fail(
          result.findings,
          `${plural(n, 'error')} in the catalog's archives (see above); ${safe(out)}/ is unchanged`,
        );
      }
      const stats = result.stats;
      const ms = Math.round(performance.now() - started);
      if (format === 'json') printFindings([...catalog.findings, ...result.findings], 'json');
      const shown = safe(out);
      const what = `${plural(stats.plugins, 'plugin')}, ${plural(stats.versions, 'version')}, ${plural(stats.archives, 'archive')}`;
      say(
        green(
          stats.unchanged
            ? `✔ ${shown}/ is up to date (${what}): nothing changed since it was built; checked in ${ms} ms`
            : `✔ built ${what} into ${shown}/ in ${ms} ms`,
        ),
      );
      say(
        `  ${shown}/v1/index.json · ${shown}/v1/plugins/<id>.json · ${shown}/v1/categories.json · ${shown}/assets/plugins/`,
      );
      if (tufKeys)
        say(
          `  ${shown}/${TUF_METADATA_DIR}/ (signed TUF metadata: root, targets, hub, ${plural(catalog.authorRoles?.length ?? 0, 'author role')}, snapshot, timestamp)`,
        );
      return EXIT.ok;
    } catch (err) {
      if (err instanceof BuildError) {
        return fail(
          [{ file: out, severity: 'error', code: err.code, message: err.message }],
          `${err.code} (see above)`,
        );
      }
      throw err;
    }
  },
};
