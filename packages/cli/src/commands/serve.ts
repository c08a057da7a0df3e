import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_MANIFEST, type Finding } from '@magellon/hub-core';
import { BuildError, loadCatalog, writeHubBuild } from '@magellon/hub-core/node';
import { serveBuildDir } from '@magellon/hub-functions/node';
import { resolveCatalogDir } from '../catalog-dir';
import { countBySeverity, green, plural, printFindings, red, safe } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

const DEFAULT_PORT = 8080;
const DEFAULT_HOST = '127.0.0.1';

/** A whole number in [min, max] from an option, or a usage error naming the option. */
function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${safe(value)}"`);
  }
  return Number(value);
}

const SERVE_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  workers: { type: 'string' },
  build: { type: 'string' },
  'archive-bucket': { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  prefix: { type: 'string' },
  presign: { type: 'string' },
  site: { type: 'string' },
} as const;

type Values = Record<string, string | boolean | undefined>;

/** Where and how to serve, from the options; a UsageError for anything wrong. */
function readServeSettings(values: Values, positionals: readonly string[]) {
  if (positionals.length > 1) throw new UsageError('hub serve takes at most one catalog dir');
  if (positionals.length > 0 && values.build)
    throw new UsageError('give a catalog dir or --build <dir>, not both');
  const port = intOption('port', values.port as string | undefined, DEFAULT_PORT, 0, 65535);
  const workers = intOption('workers', values.workers as string | undefined, availableParallelism(), 1, 64);
  const host = (values.host as string | undefined) ?? DEFAULT_HOST;
  const bucket = values['archive-bucket'] as string | undefined;
  if (!bucket && (values.presign || values.endpoint || values.prefix || values.region)) {
    throw new UsageError('--presign, --endpoint, --region and --prefix go with --archive-bucket <name>');
  }
  const presignSeconds = values.presign
    ? intOption('presign', values.presign as string, 0, 1, 604800)
    : undefined;
  const archiveBucket = bucket
    ? {
        bucket,
        endpoint: values.endpoint as string | undefined,
        region: (values.region as string | undefined) ?? process.env.AWS_REGION ?? 'auto',
        prefix: values.prefix as string | undefined,
        accessKeyId: process.env.AWS_ACCESS_KEY_ID,
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
      }
    : undefined;
  const siteDir = values.site as string | undefined;
  if (siteDir && !existsSync(join(siteDir, 'index.html'))) {
    throw new UsageError(
      `--site ${safe(siteDir)} holds no index.html; build the site first (npm run build:site)`,
    );
  }
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(host))
    throw new UsageError(`--host "${safe(host)}" is not a host name or address`);
  return { port, workers, host, archiveBucket, presignSeconds, siteDir };
}

function fail(findings: readonly Finding[], why: string): number {
  printFindings(findings, 'text');
  console.error(red(`✖ not serving: ${why}`));
  return EXIT.failed;
}

/**
 * The build dir to serve: `--build <dir>` as it is, or the catalog validated and built into a temp
 * dir (removed by `cleanup`). An exit code when there is nothing to serve (the reasons printed).
 */
async function prepareBuildDir(
  build: string | undefined,
  catalogArg: string | undefined,
): Promise<{ dir: string; cleanup(): void } | number> {
  if (build) {
    if (existsSync(join(build, BUNDLE_MANIFEST))) return { dir: build, cleanup: () => {} };
    return fail(
      [
        {
          file: build,
          severity: 'error',
          code: 'io.not-found',
          message: 'holds no hub-bundle.json; is it a hub build output?',
        },
      ],
      `${safe(build)} is not a hub build`,
    );
  }
  const where = resolveCatalogDir('serve', catalogArg);
  if ('problem' in where) return fail([where.problem], `${where.problem.code} (see above)`);
  const catalog = await loadCatalog(where.dir);
  const { errors } = countBySeverity(catalog.findings);
  if (errors > 0) return fail(catalog.findings, `${plural(errors, 'error')} in the catalog (see above)`);
  const scratch = mkdtempSync(join(tmpdir(), 'hub-serve-'));
  const cleanup = () => rmSync(scratch, { recursive: true, force: true });
  const dir = join(scratch, 'dist');
  try {
    const built = await writeHubBuild(catalog.root, catalog.entries, dir, { removeOld: 'wait' });
    if (!built.ok) {
      cleanup();
      const n = countBySeverity(built.findings).errors;
      return fail(built.findings, `${plural(n, 'error')} in the catalog's archives (see above)`);
    }
    printFindings(catalog.findings, 'text');
  } catch (err) {
    cleanup();
    if (err instanceof BuildError)
      return fail([{ file: dir, severity: 'error', code: err.code, message: err.message }], err.code);
    throw err;
  }
  return { dir, cleanup };
}

/** Starts serving `dir` and says where; undefined (the reason printed) when it cannot listen. */
async function startServing(
  settings: ReturnType<typeof readServeSettings>,
  dir: string,
  cleanup: () => void,
): Promise<Awaited<ReturnType<typeof serveBuildDir>> | undefined> {
  const { port, host, siteDir } = settings;
  const workerScript = fileURLToPath(new URL('./serve-worker.js', import.meta.url));
  let serving: Awaited<ReturnType<typeof serveBuildDir>>;
  try {
    serving = await serveBuildDir({
      dir,
      port,
      host,
      workers: existsSync(workerScript) ? settings.workers : 1,
      workerScript,
      archiveBucket: settings.archiveBucket,
      presignSeconds: settings.presignSeconds,
      siteDir: siteDir ? resolve(siteDir) : undefined,
      log: (line) => console.error(line),
    });
  } catch (err) {
    cleanup();
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE'
        ? `port ${port} on ${host} is in use; choose another with --port`
        : e.code === 'EACCES'
          ? `port ${port} needs privileges; choose one above 1023`
          : e.code === 'EADDRNOTAVAIL'
            ? `${host} is not an address of this machine`
            : safe(e.message);
    console.error(red(`✖ not serving: ${why}`));
    return undefined;
  }
  console.log(
    green(
      `✔ serving the hub at ${serving.url}/ (${serving.workers === 1 ? '1 process' : `${serving.workers} processes`}); Ctrl-C stops it`,
    ),
  );
  console.log(
    `  ${serving.url}/v1/index.json · ${serving.url}/v1/plugins · ${serving.url}/v1/openapi.json${siteDir ? ` · the site: ${serving.url}/plugins/` : ''}`,
  );
  return serving;
}

export const serveCommand: Command = {
  name: 'serve',
  help: `Usage: hub serve [catalog-dir] [--port 8080] [--host 127.0.0.1] [--workers N]
       hub serve --build <dir>

Validates the catalog, builds it (checking every local archive) and serves, on one
port, the /v1 API and the archives:
  GET /v1/index.json  /v1/plugins/<id>.json  /v1/plugins?category=&tier=&tag=&q=&sort=&page=&per_page=
  GET /v1/categories  /v1/categories/<slug>  /v1/openapi.json  /assets/plugins/<file>.mpn  /healthz
Documents are served from memory with their build-time ETag, gzip and brotli
variants; archives stream from disk with ETag = sha256 and byte ranges.

The catalog-dir is found as for hub build. A catalog with errors is not served.

Options:
  --port <n>      port (default ${DEFAULT_PORT}; 0 picks a free one)
  --host <h>      address to listen on (default ${DEFAULT_HOST}; only this machine)
  --workers <n>   server processes sharing the port (default: the number of CPUs)
  --build <dir>   serve an existing hub build output instead of building
  --archive-bucket <name>  serve archives from this S3/R2 bucket (filled by
                  hub upload) instead of local files; with --endpoint <url>,
                  --region <r>, --prefix <p>; credentials as for hub upload
  --presign <s>   with --archive-bucket: answer downloads with a 302 to a
                  presigned URL valid <s> seconds, so bytes skip this server
  --site <dir>    also serve the built catalog site (npm run build:site → site/dist)
                  under /plugins/, its 404 page for unknown pages there, its icon
                  at /favicon.ico, and / redirected to /plugins/
  -h, --help      show this help

Stops cleanly on Ctrl-C or SIGTERM (requests in flight finish first).
Exit codes: 0 stopped, 1 catalog errors or the port could not be used, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('serve', args, SERVE_OPTIONS);
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    const settings = readServeSettings(values, positionals);
    const prepared = await prepareBuildDir(values.build as string | undefined, positionals[0]);
    if (typeof prepared === 'number') return prepared;
    const serving = await startServing(settings, prepared.dir, prepared.cleanup);
    if (!serving) return EXIT.failed;
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    console.error('stopping…');
    await serving.stop();
    prepared.cleanup();
    console.error('stopped');
    return EXIT.ok;
  },
};
