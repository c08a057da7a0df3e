// The CLI as users get it: `npm pack` the package, install the tarball into a temp prefix with
// no network, and run the installed `hub` from a folder outside the repo, with a PATH holding
// only node and that prefix — no tsx, no repo node_modules, no NODE_PATH.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { hashZip, readManifest, readZipEntry } from '@magellon/hub-core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../../../scripts/require-tool';
import { REPO_ROOT } from './run-hub';

const CLI_DIR = join(REPO_ROOT, 'packages', 'cli');
const ROOT = mkdtempSync(join(tmpdir(), 'hub-install-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

/** The environment without npm's lifecycle variables (npm test sets them) and without NODE_PATH. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && k !== 'NODE_PATH' && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

function npm(args: string[], cwd: string) {
  const r = spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    env: cleanEnv({ npm_config_cache: join(ROOT, 'npm-cache'), npm_config_update_notifier: 'false' }),
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('the packed CLI, installed offline into a temp prefix', () => {
  const prefix = join(ROOT, 'prefix');
  const work = join(ROOT, 'work');
  const hubBin = join(prefix, 'bin', 'hub');
  let packed: { filename: string; files: Array<{ path: string }> };

  const hub = (args: string[]) => {
    const r = spawnSync(hubBin, args, {
      cwd: work,
      encoding: 'utf8',
      // Only node's own folder and the prefix's bin: nothing from the repo is reachable.
      env: {
        PATH: [join(prefix, 'bin'), dirname(process.execPath)].join(delimiter),
        HOME: ROOT,
        NO_COLOR: '1',
      },
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(() => {
    const dest = join(ROOT, 'tarball');
    mkdirSync(dest);
    mkdirSync(work);
    [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', dest], CLI_DIR));
    npm(
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--offline',
        '--no-audit',
        '--no-fund',
        join(dest, packed.filename),
      ],
      ROOT,
    );
  });

  it('holds the launcher, the bundle and the template, and no sources or tests', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toContain('bin/hub.js');
    expect(paths).toContain('dist/main.js');
    expect(paths).toContain('dist/templates/plugin/manifest.yaml');
    // The template's shared runtime is a link in the repo: the tarball must carry the file itself.
    expect(paths).toContain('dist/templates/plugin/magellon_runtime.py');
    expect(paths.filter((p) => /^(src|test)\//.test(p) || p.endsWith('.ts'))).toEqual([]);
    const installed = join(prefix, 'lib', 'node_modules', '@magellon', 'hub-cli');
    expect(existsSync(join(installed, 'node_modules'))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(manifest.dependencies ?? {}).toEqual({});
  });

  it('hub --help and hub --version', () => {
    const help = hub(['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: hub <command>');
    const { version } = JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8'));
    const v = hub(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(`${version}\n`);
  });

  it('hub scaffold, hub lint and hub pack make a complete archive', async () => {
    const scaffold = hub(['scaffold', 'demo', '--category', 'ctf']);
    expect(scaffold.code, scaffold.stderr).toBe(0);
    expect(scaffold.stdout).toContain('✔ created demo/');
    const tree = (dir: string) =>
      readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((p) => !/__pycache__|\.pyc$/.test(p))
        .sort();
    expect(tree(join(work, 'demo'))).toEqual(tree(join(CLI_DIR, 'templates', 'plugin')));

    // The scaffold's placeholders are warnings here (hub publish and hub verify refuse them).
    const lint = hub(['lint', 'demo']);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout).toContain('demo/manifest.yaml');
    expect(lint.stdout).toMatch(
      /warning lint\.placeholder: author is still the placeholder hub scaffold wrote/,
    );
    expect(lint.stdout).toMatch(/warning lint\.placeholder: description is still the placeholder/);
    const pack = hub(['pack', 'demo']);
    expect(pack.code, pack.stdout + pack.stderr).toBe(0);
    expect(pack.stdout).toContain('✔ packed demo 0.1.0 → demo-0.1.0.mpn');

    const archive = join(work, 'demo-0.1.0.mpn');
    const names = (await hashZip(archive)).map((d) => d.name);
    for (const f of ['main.py', 'magellon_runtime.py', 'plugin/compute.py', 'manifest.yaml', 'plugin.yaml'])
      expect(names, f).toContain(f);
    const read = readManifest((await readZipEntry(archive, 'manifest.yaml', 1 << 20)).toString('utf8'), 'm');
    expect(read.ok && read.manifest.plugin_id).toBe('demo');
    expect(hub(['lint', 'demo-0.1.0.mpn']).code).toBe(0);
  });

  it.skipIf(!requireTool('python3'))("the installed template's plugin passes its own tests", () => {
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
      cwd: join(work, 'demo'),
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
  });
});
