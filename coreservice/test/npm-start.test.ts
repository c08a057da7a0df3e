// `npm start` (scripts/start.mjs) run for real in a copy of the checkout, and `coreservice` run with
// no flags in that checkout: both must name the same plugins dir and see the same plugins.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../../functions/test/harness';
import { freePort } from '../src/runtime/process';
import { asRoot, runCoreservice, scratchDir, stopAllUnder } from './helpers';

const TOKEN = 'npm-start-test-token-0123456789abcdefXYZ';
const scratch = scratchDir('coreservice-npm-start-');
let pluginsDir: string | undefined;
afterAll(async () => {
  if (pluginsDir) {
    await stopAllUnder(pluginsDir);
    rmSync(pluginsDir, { recursive: true, force: true });
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** This process's environment without anything that would choose a plugins dir or a config. */
function cleanEnv(more: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env))
    if (/^MAGELLON_|^XDG_DATA_HOME$|^(PORT|HOST|CORESERVICE_PORT)$/.test(name)) delete env[name];
  return { ...env, ...more };
}

const cli = (cwd: string, ...args: string[]) => runCoreservice(args, { cwd, env: cleanEnv() });

describe('npm start and coreservice, both with no flags', () => {
  it('agree on the plugins dir and on what is installed', async () => {
    // The checkout, under a folder other users cannot enter (a clone under /root): as root, npm
    // start then keeps plugins under the temp dir and says so in .magellon/plugins-dir.
    const closed = join(scratch, 'home');
    mkdirSync(closed, { mode: 0o700 });
    chmodSync(closed, 0o700);
    const root = join(closed, 'checkout');
    mkdirSync(join(root, 'scripts'), { recursive: true });
    copyFileSync(join(REPO, 'scripts', 'start.mjs'), join(root, 'scripts', 'start.mjs'));
    // The site is not what this test is about: its build "fails" and the hub serves the API alone.
    writeFileSync(join(root, 'scripts', 'build-site.mjs'), 'process.exit(1);\n');
    mkdirSync(join(root, 'packages', 'cli'), { recursive: true });
    mkdirSync(join(root, 'coreservice'));
    symlinkSync(join(REPO, 'packages', 'cli', 'dist'), join(root, 'packages', 'cli', 'dist'));
    symlinkSync(join(REPO, 'coreservice', 'dist'), join(root, 'coreservice', 'dist'));
    cpSync(join(REPO, 'catalog'), join(root, 'catalog'), { recursive: true });

    const [port, csPort] = [await freePort(), await freePort()];
    const start = spawn(process.execPath, [join(root, 'scripts', 'start.mjs')], {
      cwd: root,
      detached: true,
      env: cleanEnv({
        HOST: '127.0.0.1',
        PORT: String(port),
        CORESERVICE_PORT: String(csPort),
        MAGELLON_ADMIN_TOKEN: TOKEN,
      }),
    });
    let out = '';
    const ended = new Promise<number | null>((r) => start.once('exit', r));
    start.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        start.stdout.on('data', (d: Buffer) => {
          out += d;
          const m = /coreservice listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        void ended.then((code) => reject(new Error(`npm start ended (${code}):\n${out}`)));
      });
      const said = /npm start: plugins dir (\S+) \(from ([^)]+)\)/.exec(out);
      expect(said, out).not.toBeNull();
      pluginsDir = said![1]!;
      const pointer = join(root, '.magellon', 'plugins-dir');
      if (asRoot) {
        expect(readFileSync(pointer, 'utf8')).toBe(`${pluginsDir}\n`);
        expect(said![2]).toBe(`.magellon/plugins-dir in ${root}`);
      } else {
        expect(existsSync(pointer)).toBe(false);
        expect(pluginsDir).toBe(join(root, '.magellon', 'plugins'));
      }
      expect(out).toContain(`plugins in ${pluginsDir} (from ${said![2]})`);

      const admin = (method: string, path: string, body?: unknown) =>
        fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const installed = await admin('POST', '/admin/plugins/install-from-hub', {
        plugin_id: 'fft',
        version: '1.0.0',
      });
      expect(installed.status, await installed.clone().text()).toBe(201);

      // From a folder inside the checkout, with no flag and no variable: the service's plugins.
      const json = await cli(join(root, 'catalog'), 'status', '--json');
      expect(json.code, json.stderr).toBe(0);
      const doc = JSON.parse(json.stdout);
      expect(doc.plugins_dir).toEqual({
        path: pluginsDir,
        source: asRoot ? 'magellon-pointer' : 'magellon',
        from: said![2],
      });
      expect(doc.result.map((s: { plugin_id: string; state: string }) => [s.plugin_id, s.state])).toEqual([
        ['fft', 'running'],
      ]);
      // What the plugin got from the service, its heartbeat secret masked.
      expect(doc.result[0].environment).toMatchObject({
        MAGELLON_HEARTBEAT_TOKEN: '***',
        MAGELLON_HEARTBEAT_URL: `${url}/internal/heartbeat/***`,
      });
      const text = await cli(root, 'status');
      expect(text.stdout).toContain('✔ fft 1.0.0 (uv): running');

      // And the other way: what the CLI removes, the service no longer lists.
      expect((await cli(root, 'uninstall', 'fft')).code).toBe(0);
      const left = (await (await admin('GET', '/admin/plugins')).json()) as { plugins: unknown[] };
      expect(left.plugins).toEqual([]);
    } finally {
      try {
        process.kill(-start.pid!, 'SIGTERM');
      } catch {}
      await ended;
    }
  }, 240_000);
});
