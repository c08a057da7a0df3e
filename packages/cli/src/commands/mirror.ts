import { readTrustedRoot, TufError } from '@magellon/hub-core/node';
import { type MirrorError as MirrorErrorType, mirrorHub } from '../mirror';
import { endProgress, green, progress, red, safe, yellow } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';
import { s3StoreFromFlags } from './upload';

const MB = 1024 * 1024;

export const mirrorCommand: Command = {
  name: 'mirror',
  help: `Usage: hub mirror --from <hub URL> --to <dir> [--root <root.json>]
       hub mirror --from <hub URL> --to s3://<bucket>[/<prefix>] [--endpoint <url>] [--region <r>] [--root <root.json>]

Copies a running hub's /v1 documents (index, categories, every plugin document,
every category, openapi) and every archive they name into <dir>, laid out as
hub build writes a build: serve it with hub serve --build <dir>, the Node server,
or any static host. Archive URLs in the mirrored documents point at the mirror
(/assets/plugins/<file>.mpn), never at the origin.

A signed hub (it serves tuf/metadata/timestamp.json) is verified with the TUF
client workflow from a trusted root: --root <file> (the hub's 1.root.json from a
source you trust), else, on the first run only, the origin's own 1.root.json
(with a warning). Later runs trust what the mirror verified last (kept in
<dir>/.hub-mirror/tuf/), so an origin that goes back to older metadata
(rollback), whose metadata expired (freeze) or that is signed by other keys is
refused and named. The root chain, timestamp, snapshot and every role the
snapshot lists are copied; every archive and plugin document must match the
length and sha256 the hub signed for it.

Run it again to bring the mirror up to date: documents are asked for with
If-None-Match, and an archive the mirror already holds with the right sha256 is
not fetched again. Each fetched archive is checked against the size and sha256
its plugin document gives, as it streams. An archive that fails its check, or
whose URL would land outside assets/plugins/ (dot segments, escapes, no plain
.mpn file name), is refused and named; then nothing changes: the mirror stays
the last complete copy. Otherwise the new mirror is published file by file,
each by rename: archives, documents, hub-bundle.json, versioned metadata,
root.json, and timestamp.json last.

--to s3://bucket[/prefix] writes the same files into an S3 bucket (AWS, R2,
MinIO, Swift s3api…) in the same order, skipping objects the bucket already
holds with the same sha256. Credentials: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (or the usual AWS credential files).

Not mirrored: plugins the hub lists nowhere (every version yanked).

Options:
  --from <url>      the hub (http or https), e.g. https://hub.example.org
  --to <dir|s3://bucket[/prefix]>
                    the mirror: a dir (new, empty, or made by hub mirror) or a bucket
  --root <file>     the root metadata you trust for a signed hub (its 1.root.json)
  --endpoint <url>  the S3 endpoint, with --to s3:// (default: AWS, from --region)
  --region <r>      the S3 region, with --to s3:// (default: auto)
  --timeout <s>     give up on a request idle this long (default 30)
  -h, --help        show this help

Exit codes: 0 mirrored, 1 something refused or the hub failed (mirror unchanged), 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('mirror', args, {
      from: { type: 'string' },
      to: { type: 'string' },
      timeout: { type: 'string' },
      root: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length > 0)
      throw new UsageError('hub mirror takes no operands; give --from <url> --to <dir>');
    const from = values.from;
    const to = values.to;
    if (!from || !to) throw new UsageError('give --from <hub URL> and --to <dir>');
    if (!/^https?:\/\/[^\s]+$/.test(from))
      throw new UsageError(`--from "${safe(from)}" must be an http(s) URL`);
    let store: ReturnType<typeof s3StoreFromFlags> | undefined;
    const s3 = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(to);
    if (s3) {
      const prefix = s3[2]?.replace(/\/+$/, '') || undefined;
      if (prefix !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(prefix))
        throw new UsageError(
          `the prefix in --to "${safe(to)}" must be plain path segments (letters, digits, . _ -)`,
        );
      store = s3StoreFromFlags({
        bucket: s3[1] as string,
        endpoint: values.endpoint,
        region: values.region,
        prefix,
      });
    } else if (/^[a-z0-9]+:\/\//i.test(to)) {
      throw new UsageError(`--to "${safe(to)}" is a URL; give a dir or s3://<bucket>[/<prefix>]`);
    } else if (values.endpoint !== undefined || values.region !== undefined) {
      throw new UsageError('--endpoint and --region go with --to s3://<bucket>');
    }
    let root: Buffer | undefined;
    const rootFile = values.root;
    if (rootFile !== undefined) {
      try {
        root = readTrustedRoot(rootFile);
      } catch (err) {
        if (err instanceof TufError) throw new UsageError(`--root: ${safe(err.message)}`);
        throw err;
      }
    }
    const timeout = values.timeout;
    if (timeout !== undefined && (!/^[0-9]{1,4}$/.test(timeout) || Number(timeout) < 1))
      throw new UsageError(
        `--timeout must be a whole number of seconds from 1 to 9999, got "${safe(timeout)}"`,
      );
    const started = performance.now();
    try {
      const s = await mirrorHub({
        from,
        to,
        store,
        root,
        onWarning: (line) => {
          endProgress();
          console.error(yellow(`⚠ ${safe(line)}`));
        },
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
      const signed = s.signed ? `; signed metadata version ${s.signed.version} verified` : '; unsigned hub';
      const objects = s.objects
        ? `; objects: ${s.objects.sent} sent, ${s.objects.unchanged} already there`
        : '';
      console.log(
        green(
          `✔ mirrored ${safe(from)} into ${safe(to)}${store ? '' : '/'} in ${ms} ms: ${what}${signed}${objects}`,
        ),
      );
      if (!store) console.log(`  serve it with: hub serve --build ${safe(to)}`);
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
