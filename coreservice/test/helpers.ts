// Shared by the CoreService tests: the plugins-dir snapshot that fail-closed tests compare, and a
// sweep that stops every plugin process a test started under a scratch dir.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect } from 'vitest';
import { buildRepoCatalog } from '../../functions/test/harness';
import { startNode, type TestServer } from '../../functions/test/servers';
import { InstallError } from '../src/errors';
import { parseRunRecordPath } from '../src/layout';
import type { VersionRef } from '../src/runtime/backend';
import { removeEverywhere } from '../src/runtime/backends';
import { isAlive } from '../src/runtime/proc';

/** Whether the tests run as root: CoreService then gives every plugin a uid of its own. */
export const asRoot = process.getuid?.() === 0;

/** What a plugin's home holds besides its versions and state: as root, its recorded uid. */
export const withIdentity = (names: string[]): string[] =>
  (asRoot ? [...names, 'identity.json'] : names).sort();

/**
 * A new scratch dir that other users may pass through (0755, where mkdtemp makes 0700): plugins
 * run under uids of their own when the tests run as root, and must reach their files below it.
 */
export function scratchDir(prefix: string, parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * For a test file: a scratch dir, and the hub's real Node server on 127.0.0.1 over a build of the
 * repo catalog, started before the file's tests. Afterwards every plugin process started under the
 * scratch dir is stopped, the server closed and everything removed.
 */
export function repoHubForTests(name: string): { scratch: string; hub: { url: string; dir: string } } {
  const scratch = scratchDir(`coreservice-${name}-`);
  const hub = { url: '', dir: '' };
  let build: Awaited<ReturnType<typeof buildRepoCatalog>> | undefined;
  let server: TestServer | undefined;
  beforeAll(async () => {
    build = await buildRepoCatalog();
    server = await startNode(build.dir);
    hub.url = server.url;
    hub.dir = build.dir;
  }, 120_000);
  afterAll(async () => {
    await stopAllUnder(scratch);
    await server?.close();
    build?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });
  return { scratch, hub };
}

/** Processes whose command line names this path (a version's venv or dir). */
export function processesOf(path: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', path], { encoding: 'utf8' }).trim().split('\n').map(Number);
  } catch {
    return [];
  }
}

/** Alive and not a zombie (a stopped child stays a zombie until Node reaps it). */
export const alive = (pid: number) => isAlive(pid, undefined);

/**
 * Every path under dir with its sha256 ('dir' for directories): the state a failed operation must
 * not change. A running plugin's log (`run/<v>/replica-<n>.log`, a slurm job's `slurm/<v>/replica-<n>.log`)
 * grows as it serves, so for logs
 * only their presence counts.
 */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const abs = join(dir, name);
    const st = statSync(abs);
    const rel = relative(dir, abs);
    if (st.isDirectory()) out[rel] = 'dir';
    else if (/(^|\/)(run|slurm)\/[^/]+\/replica-\d+(\.prev)?\.log$/.test(rel.split(sep).join('/')))
      out[rel] = 'log';
    else out[rel] = createHash('sha256').update(readFileSync(abs)).digest('hex');
  }
  return out;
}

export async function expectFailure(p: Promise<unknown>, code: InstallError['code']): Promise<InstallError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InstallError);
  expect((err as InstallError).code, (err as Error).message).toBe(code);
  return err as InstallError;
}

/**
 * Stops every plugin process recorded anywhere under `root` (any run record layout.ts recognises),
 * through the backends' own `remove`: what they recorded is stopped, their run records go.
 */
export async function stopAllUnder(root: string): Promise<void> {
  if (!existsSync(root)) return;
  const versions = new Map<string, VersionRef>();
  for (const name of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    const rec = parseRunRecordPath(join(root, name));
    if (!rec) continue;
    versions.set(`${rec.home}\0${rec.version}`, {
      pluginId: basename(rec.home),
      home: rec.home,
      version: rec.version,
    });
  }
  await Promise.all([...versions.values()].map((v) => removeEverywhere(v)));
}

/** The compiled `coreservice` command's launcher. */
export const CORESERVICE_BIN = join(import.meta.dirname, '..', 'bin', 'coreservice.js');

/** This process's environment without anything that would choose a plugins dir, a config or settings. */
export function cleanCoreserviceEnv(more: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (
      /^MAGELLON_(PLUGINS_DIR|CORESERVICE_CONFIG|LOG_LEVEL|ADMIN_TOKEN|HUB_URL|HUB_ROOT|HUB_UNSIGNED|BROKER_URL|PLUGIN_.*|PYTHON_.*)$/.test(
        name,
      ) ||
      name === 'XDG_DATA_HOME'
    )
      delete env[name];
  }
  return { ...env, ...more };
}

/**
 * Runs the compiled CLI with exactly `args` in `cwd` (default: this process's) with `env` (default:
 * the clean environment), without blocking this process: a hub it talks to may run in this process.
 */
export const runCoreservice = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = spawn(process.execPath, [CORESERVICE_BIN, ...args], {
        timeout: 60_000,
        cwd: opts.cwd,
        env: opts.env ?? cleanCoreserviceEnv(),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
      });
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );

/** The admin token the tests' `coreservice serve` runs with. */
export const SERVE_TOKEN = 'serve-test-token-0123456789';

/**
 * Starts the real `coreservice serve` on the dir (any port, loopback, `SERVE_TOKEN`) with this
 * process's environment over `env`; resolves with its URL and a stop function (by its PID).
 */
export function startServe(
  dir: string,
  hubUrl: string,
  env: Record<string, string> = {},
): Promise<{ url: string; stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CORESERVICE_BIN, '--unsigned', '--hub', hubUrl, '--plugins-dir', dir, 'serve', '--port', '0'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
        env: { ...process.env, ...env, MAGELLON_ADMIN_TOKEN: SERVE_TOKEN },
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        resolve({
          url: m[1]!,
          stop: () =>
            new Promise<void>((r) => {
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`coreservice serve exited with ${code}: ${out}`)));
  });
}

/**
 * One admin call: JSON (or an .mpn's bytes, or a raw string) in, the status and the parsed JSON
 * answer out. `token` null sends no Authorization header.
 */
export async function adminCall(
  url: string,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await request(`${url}${path}`, {
    method: method as 'GET',
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined
        ? {}
        : { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' }),
    },
    body:
      body === undefined || Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body),
    headersTimeout: 180_000,
    bodyTimeout: 180_000,
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

/** Waits until a service from startServe says its crash repair is done, then returns the plugin's status. */
export async function repairedStatus(url: string, id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 40_000;
  for (;;) {
    const health = (await (await request(`${url}/health`)).body.json()) as { repairing: boolean };
    const res = await request(`${url}/admin/plugins/${id}/status`, {
      headers: { authorization: `Bearer ${SERVE_TOKEN}` },
    });
    const body = (await res.body.json()) as Record<string, unknown>;
    if (!health.repairing) return body;
    if (Date.now() > deadline) throw new Error(`not repaired in time: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
