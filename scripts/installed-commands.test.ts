// The commands as people outside this repository get them: `scripts/release.mjs` (what the release
// workflow runs) packs @magellon/hub and @magellon/coreservice, both tarballs are installed with no
// network into a temp prefix, and a plugin author's and a lab admin's first steps run from a
// folder outside the repo, with a PATH holding only that prefix and the system's programs — no
// tsx, no repo node_modules, no NODE_PATH.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { readManifest, readZipEntry } from '@magellon/hub-core/node';
import { hashZip, requireTool } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir, stopAllUnder } from '../coreservice/test/helpers';

const REPO = join(import.meta.dirname, '..');
/** 0755: as root, an installed plugin runs under a uid of its own and must reach its files. */
const ROOT = scratchDir('magellon-packages-');
const PREFIX = join(ROOT, 'prefix');
const WORK = join(ROOT, 'work');
const RELEASE = join(ROOT, 'release');
const VERSION = JSON.parse(readFileSync(join(REPO, 'packages', 'cli', 'package.json'), 'utf8')).version;
let hubServer: ChildProcess | undefined;

afterAll(async () => {
  if (hubServer?.pid && hubServer.exitCode === null) hubServer.kill('SIGTERM');
  await stopAllUnder(ROOT); // a plugin a failed test left running
  rmSync(ROOT, { recursive: true, force: true });
});

/** The environment without npm's lifecycle variables (npm test sets them) and without NODE_PATH. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && k !== 'NODE_PATH' && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

/**
 * What an installed command sees: the prefix's bin, node's own folder and the system's programs
 * (python3, setpriv, bubblewrap), a HOME and data dir of its own; nothing from the repo.
 */
const outsideEnv = (): NodeJS.ProcessEnv => ({
  PATH: [join(PREFIX, 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(
    delimiter,
  ),
  HOME: join(ROOT, 'home'),
  XDG_DATA_HOME: join(ROOT, 'home', 'data'),
  NO_COLOR: '1',
});

function run(bin: 'hub' | 'coreservice', args: string[]) {
  const r = spawnSync(join(PREFIX, 'bin', bin), args, {
    cwd: WORK,
    encoding: 'utf8',
    env: outsideEnv(),
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, out: `${r.stdout}\n${r.stderr}` };
}

beforeAll(() => {
  mkdirSync(WORK);
  mkdirSync(join(ROOT, 'home', 'data'), { recursive: true, mode: 0o755 });
  const env = cleanEnv({ npm_config_cache: join(ROOT, 'npm-cache'), npm_config_update_notifier: 'false' });
  const release = spawnSync(process.execPath, [join(REPO, 'scripts', 'release.mjs'), '--out', RELEASE], {
    cwd: REPO,
    encoding: 'utf8',
    env,
    timeout: 180_000,
  });
  if (release.status !== 0) throw new Error(`release.mjs failed:\n${release.stdout}\n${release.stderr}`);
  const tarballs = readdirSync(RELEASE)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(RELEASE, f));
  const install = spawnSync(
    'npm',
    ['install', '--global', '--prefix', PREFIX, '--offline', '--no-audit', '--no-fund', ...tarballs],
    { cwd: ROOT, encoding: 'utf8', env, timeout: 180_000 },
  );
  if (install.status !== 0) throw new Error(`npm install failed:\n${install.stdout}\n${install.stderr}`);
}, 400_000);

describe('the release: two tarballs and their checksums', () => {
  it('names both tarballs after the packages and version; sha256sum -c accepts SHA256SUMS', () => {
    expect(readdirSync(RELEASE).sort()).toEqual(
      ['SHA256SUMS', `magellon-coreservice-${VERSION}.tgz`, `magellon-hub-${VERSION}.tgz`].sort(),
    );
    const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: RELEASE, encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout.trim().split('\n')).toEqual([
      `magellon-hub-${VERSION}.tgz: OK`,
      `magellon-coreservice-${VERSION}.tgz: OK`,
    ]);
  });

  it('refuses a tag that is not the packages’ version, before packing anything', () => {
    const out = join(ROOT, 'wrong-tag');
    const r = spawnSync(
      process.execPath,
      [join(REPO, 'scripts', 'release.mjs'), '--out', out, '--tag', 'v9.9.9'],
      { cwd: REPO, encoding: 'utf8', env: cleanEnv({}) },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`does not match the packages' version ${VERSION} (expected v${VERSION})`);
    expect(existsSync(out)).toBe(false);
  });

  for (const [name, bin, template] of [
    ['hub', 'hub', true],
    ['coreservice', 'coreservice', false],
  ] as const) {
    it(`@magellon/${name} installs its bundle and launcher only, with no dependencies`, () => {
      const installed = join(PREFIX, 'lib', 'node_modules', '@magellon', name);
      const files = readdirSync(installed, { recursive: true, encoding: 'utf8' });
      expect(files).toContain(join('bin', `${bin}.js`));
      expect(files).toContain(join('dist', 'main.js'));
      if (template) {
        expect(files).toContain(join('dist', 'templates', 'plugin', 'manifest.yaml'));
        // The template's shared runtime is a link in the repo: the tarball must carry the file itself.
        expect(files).toContain(join('dist', 'templates', 'plugin', 'magellon_runtime.py'));
      }
      expect(files.filter((p) => /^(src|test|node_modules)(\/|$)/.test(p) || p.endsWith('.ts'))).toEqual([]);
      const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
      expect(manifest.dependencies ?? {}).toEqual({});
      expect(existsSync(join(PREFIX, 'bin', bin))).toBe(true);
    });
  }
});

describe('a plugin author: hub, installed', () => {
  it('hub --help and hub --version', () => {
    const help = run('hub', ['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: hub <command>');
    const v = run('hub', ['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(`${VERSION}\n`);
  });

  it('hub scaffold, hub lint and hub pack make a complete archive', async () => {
    const scaffold = run('hub', ['scaffold', 'demo', '--category', 'ctf']);
    expect(scaffold.code, scaffold.stderr).toBe(0);
    expect(scaffold.stdout).toContain('✔ created demo/');
    const tree = (dir: string) =>
      readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((p) => !/__pycache__|\.pyc$/.test(p))
        .sort();
    expect(tree(join(WORK, 'demo'))).toEqual(tree(join(REPO, 'packages', 'cli', 'templates', 'plugin')));

    // The scaffold's placeholders are warnings here (hub publish and hub verify refuse them).
    const lint = run('hub', ['lint', 'demo']);
    expect(lint.code, lint.out).toBe(0);
    expect(lint.stdout).toContain('demo/manifest.yaml');
    expect(lint.stdout).toMatch(
      /warning lint\.placeholder: author is still the placeholder hub scaffold wrote/,
    );
    expect(lint.stdout).toMatch(/warning lint\.placeholder: description is still the placeholder/);
    const pack = run('hub', ['pack', 'demo']);
    expect(pack.code, pack.out).toBe(0);
    expect(pack.stdout).toContain('✔ packed demo 0.1.0 → demo-0.1.0.mpn');

    const archive = join(WORK, 'demo-0.1.0.mpn');
    const names = (await hashZip(archive)).map((d) => d.name);
    for (const f of ['main.py', 'magellon_runtime.py', 'plugin/compute.py', 'manifest.yaml', 'plugin.yaml'])
      expect(names, f).toContain(f);
    const read = readManifest((await readZipEntry(archive, 'manifest.yaml', 1 << 20)).toString('utf8'), 'm');
    expect(read.ok && read.manifest.plugin_id).toBe('demo');
    expect(run('hub', ['lint', 'demo-0.1.0.mpn']).code).toBe(0);
  });

  it.skipIf(!requireTool('python3'))('the scaffolded plugin passes its own tests', () => {
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
      cwd: join(WORK, 'demo'),
      encoding: 'utf8',
      env: { ...outsideEnv(), PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
  });
});

/** Starts the installed `hub serve` on a copy of the repo's catalog; resolves with its URL. */
function serveCatalogCopy(): Promise<string> {
  const catalog = join(ROOT, 'catalog');
  cpSync(join(REPO, 'catalog'), catalog, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(PREFIX, 'bin', 'hub'),
      ['serve', catalog, '--port', '0', '--host', '127.0.0.1', '--workers', '1'],
      { cwd: WORK, env: outsideEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    hubServer = child;
    let out = '';
    const seen = (d: Buffer) => {
      out += d;
      const m = /serving the hub at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => reject(new Error(`hub serve exited ${code}:\n${out}`)));
  });
}

describe('a lab admin: coreservice, installed, against a hub on loopback', () => {
  it('coreservice --version', () => {
    const v = run('coreservice', ['--version']);
    expect(v.code, v.out).toBe(0);
    expect(v.stdout).toBe(`${VERSION}\n`);
  });

  it('installs fft from the hub, shows it running in status, and uninstalls it', async () => {
    const hub = await serveCatalogCopy();
    const pluginsDir = join(ROOT, 'home', 'data', 'magellon', 'plugins');
    const install = run('coreservice', ['install', 'fft', '--unsigned', '--hub', hub]);
    expect(install.code, install.out).toBe(0);
    expect(install.stdout).toMatch(/installed fft \d+\.\d+\.\d+/);
    // The one default plugins dir: the per-user data dir, named in the output.
    expect(existsSync(join(pluginsDir, 'fft'))).toBe(true);

    const status = run('coreservice', ['status', '--hub', hub]);
    expect(status.code, status.out).toBe(0);
    expect(status.stdout).toContain(pluginsDir);
    expect(status.stdout).toMatch(/fft \d+\.\d+\.\d+ \(\w+\): running/);
    const json = JSON.parse(run('coreservice', ['status', '--json']).stdout);
    expect(json.plugins_dir).toMatchObject({ path: pluginsDir, source: 'xdg' });
    expect(json.result.map((p: { plugin_id: string }) => p.plugin_id)).toEqual(['fft']);

    const uninstall = run('coreservice', ['uninstall', 'fft', '--purge']);
    expect(uninstall.code, uninstall.out).toBe(0);
    expect(existsSync(join(pluginsDir, 'fft'))).toBe(false);
    expect(run('coreservice', ['status']).stdout).toContain(`no plugins installed in ${pluginsDir}`);
  });
});
