import { type MirrorError as MirrorErrorType, mirrorHub } from '../mirror';
import { endProgress, green, progress, red, safe } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

const MB = 1024 * 1024;

export const mirrorCommand: Command = {
  name: 'mirror',
  help: `Usage: hub mirror --from <hub URL> --to <dir>

Copies a running hub's /v1 documents (index, categories, every plugin document,
every category, openapi) and every archive they name into <dir>, laid out as
hub build writes a build: serve it with hub serve --build <dir>, the Node server,
or any static host. Archive URLs in the mirrored documents point at the mirror
(/assets/plugins/<file>.mpn), never at the origin.

Run it again to bring the mirror up to date: documents are asked for with
If-None-Match, and an archive the mirror already holds with the right sha256 is
not fetched again. Each fetched archive is checked against the size and sha256
its plugin document gives, as it streams. An archive that fails its check, or
whose URL would land outside assets/plugins/ (dot segments, escapes, no plain
.mpn file name), is refused and named; then nothing changes: the mirror stays
the last complete copy. Otherwise the new mirror is assembled beside <dir> and
swapped in whole.

Not mirrored: plugins the hub lists nowhere (every version yanked), and TUF
metadata (not served yet). For a bucket, mirror into a dir and run
hub upload <dir> --bucket <name>.

Options:
  --from <url>      the hub (http or https), e.g. https://hub.example.org
  --to <dir>        the mirror dir: new, empty, or made by hub mirror
  --timeout <s>     give up on a request idle this long (default 30)
  -h, --help        show this help

Exit codes: 0 mirrored, 1 something refused or the hub failed (mirror unchanged), 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('mirror', args, {
      from: { type: 'string' },
      to: { type: 'string' },
      timeout: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length > 0)
      throw new UsageError('hub mirror takes no operands; give --from <url> --to <dir>');
    const from = values.from as string | undefined;
    const to = values.to as string | undefined;
    if (!from || !to) throw new UsageError('give --from <hub URL> and --to <dir>');
    if (!/^https?:\/\/[^\s]+$/.test(from))
      throw new UsageError(`--from "${safe(from)}" must be an http(s) URL`);
    if (/^[a-z0-9]+:\/\//i.test(to))
      throw new UsageError(
        `--to "${safe(to)}" is a URL; mirror into a dir, then push it with hub upload <dir> --bucket <name>`,
      );
    const timeout = values.timeout as string | undefined;
    if (timeout !== undefined && (!/^[0-9]{1,4}$/.test(timeout) || Number(timeout) < 1))
      throw new UsageError(
        `--timeout must be a whole number of seconds from 1 to 9999, got "${safe(timeout)}"`,
      );
    const started = performance.now();
    try {
      const s = await mirrorHub({
        from,
        to,
        idleTimeoutMs: timeout ? Number(timeout) * 1000 : undefined,
        onProgress: (line) => progress(safe(line)),
      });
      endProgress();
      const what = `documents: ${s.documents.fetched} fetched, ${s.documents.kept} unchanged; archives: ${s.archives.fetched} fetched (${(s.archives.bytes / MB).toFixed(1)} MiB), ${s.archives.kept} kept; ${s.refused.length} refused`;
      if (s.refused.length > 0) {
        for (const r of s.refused)
          console.error(red(`✖ refused ${safe(r.url)} (named by ${safe(r.document)}): ${safe(r.reason)}`));
        console.error(red(`✖ ${safe(to)} is unchanged: ${what}`));
        return EXIT.failed;
      }
      const ms = Math.round(performance.now() - started);
      console.log(green(`✔ mirrored ${safe(from)} into ${safe(to)}/ in ${ms} ms: ${what}`));
      console.log(`  serve it with: hub serve --build ${safe(to)}`);
      return EXIT.ok;
    } catch (err) {
      endProgress();
      if (err instanceof Error && err.name === 'MirrorError') {
        console.error(red(`✖ ${safe(err.message)}; ${safe(to)} is unchanged`));
        return (err as MirrorErrorType).code === 'mirror.bad-target' ? EXIT.usage : EXIT.failed;
      }
      throw err;
    }
  },
};
