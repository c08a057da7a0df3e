// Servers for the API tests: the Node server and the Worker in real workerd, both serving the same
// build of the repo's catalog, and a raw HTTP client that shows bytes exactly as sent.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadCatalog, writeHubBuild } from '@magellon/hub-core/node';

export const REPO = join(import.meta.dirname, '..', '..');

/** Builds the repo's catalog into a fresh temp dir; returns the build dir. */
export async function buildRepoCatalog(): Promise<{ dir: string; cleanup(): void }> {
  const scratch = mkdtempSync(join(tmpdir(), 'hub-api-test-'));
  const dir = join(scratch, 'dist');
  const catalog = await loadCatalog(join(REPO, 'catalog'));
  const built = await writeHubBuild(catalog.root, catalog.entries, dir, { removeOld: 'wait' });
  if (!built.ok) throw new Error(`the repo catalog did not build: ${built.findings[0]?.message}`);
  return { dir, cleanup: () => rmSync(scratch, { recursive: true, force: true }) };
}

/** Every file of a build dir by key (`v1/index.json`, `assets/plugins/x.mpn`, …). */
export function buildFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const abs = join(dir, name);
    try {
      files.set(relative(dir, abs), readFileSync(abs));
    } catch {
      // a directory
    }
  }
  files.delete('.hub-build');
  return files;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One request with exactly this method, target and headers; the body is returned undecoded. */
export function rawRequest(
  base: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path: target, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const flat: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            flat[k] = Array.isArray(v) ? v.join(', ') : String(v);
          resolve({ status: res.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${target}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
};

/**
 * Bundles the Worker exactly as `wrangler deploy` would (infra/wrangler.toml, --dry-run), so the
 * test runs what would be deployed. Returns the bundled script's path.
 */
export function bundleWorker(outdir: string): string {
  const wrangler = join(REPO, 'node_modules', '.bin', 'wrangler');
  const r = spawnSync(
    wrangler,
    ['deploy', '--dry-run', '--outdir', outdir, '-c', join(REPO, 'infra', 'wrangler.toml')],
    {
      cwd: REPO,
      env: { ...process.env, ...WRANGLER_ENV },
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  if (r.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${r.stdout}\n${r.stderr}`);
  const script = readdirSync(outdir).find((f) => f.endsWith('.js'));
  if (!script) throw new Error(`wrangler wrote no script into ${outdir}`);
  return join(outdir, script);
}

/**
 * The targets the `hub` role's hash bins list in a build's `tuf/metadata` dir (the newest version
 * of each bin), each with the bin file that lists it: where a test finds, or tampers with, a target.
 */
export function hubBinTargets(
  metaDir: string,
): Map<string, { file: string; target: Record<string, unknown> }> {
  const newest = new Map<string, { version: number; file: string }>();
  for (const name of readdirSync(metaDir)) {
    const m = /^([0-9]+)\.(hub-bin-[0-9a-f]+)\.json$/.exec(name);
    if (!m) continue;
    const had = newest.get(m[2]!);
    if (!had || Number(m[1]) > had.version)
      newest.set(m[2]!, { version: Number(m[1]), file: join(metaDir, name) });
  }
  const out = new Map<string, { file: string; target: Record<string, unknown> }>();
  for (const { file } of newest.values()) {
    const targets = JSON.parse(readFileSync(file, 'utf8')).signed.targets as Record<
      string,
      Record<string, unknown>
    >;
    for (const [path, target] of Object.entries(targets)) out.set(path, { file, target });
  }
  return out;
}
