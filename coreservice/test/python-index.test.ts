// A uv plugin's dependencies from a PEP 503 index: a real index on 127.0.0.1, served by this test
// behind HTTP basic auth, with wheels the test builds (hubdep, which depends on hubbase, so the
// lock's graph walk matters). Installs reproduce the archive's uv.lock exactly, a download whose
// hash is not the lock's fails closed, offline installs use the archive's wheels/ only, an
// unlocked install records what it resolved, and the index's password is never shown or written.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfigFile } from '../src/config';
import { receiptPath } from '../src/install';
import { ControlledHub, packVariant } from './fixtures';
import { cleanCoreserviceEnv, repoHubForTests, runCoreservice } from './helpers';

const { scratch, hub } = repoHubForTests('python-index');
const work = mkdtempSync(join(scratch, 'work-'));
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const USER = 'ci';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A pure-Python wheel, laid out as any build backend writes one. */
function wheel(name: string, version: string, init: string, requires: string[] = []): Buffer {
  const file = join(work, `${name}-${version}-py3-none-any.whl`);
  const meta = [
    `Metadata-Version: 2.1`,
    `Name: ${name}`,
    `Version: ${version}`,
    ...requires.map((r) => `Requires-Dist: ${r}`),
  ];
  execFileSync('python3', [
    '-c',
    [
      'import sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1], "w")',
      'n, v = sys.argv[2], sys.argv[3]',
      'z.writestr(f"{n}/__init__.py", sys.argv[4])',
      'z.writestr(f"{n}-{v}.dist-info/METADATA", sys.argv[5] + "\\n")',
      'z.writestr(f"{n}-{v}.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")',
      'z.writestr(f"{n}-{v}.dist-info/RECORD", "")',
      'z.close()',
    ].join('\n'),
    file,
    name,
    version,
    init,
    meta.join('\n'),
  ]);
  return readFileSync(file);
}

const fileName = (name: string, version: string) => `${name}-${version}-py3-none-any.whl`;

/** The wheels the index holds, by file name; `tampered` ones are served with other bytes. */
const files = new Map<string, Buffer>();
const tampered = new Set<string>();
const requests: { url: string; authorized: boolean }[] = [];
let index: Server;
let indexUrl = '';

/** A PEP 503 simple index: /simple/<name>/ lists the files with their sha256, /files/<file> serves them. */
function startIndex(): Promise<void> {
  index = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const authorized = auth === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    requests.push({ url: req.url ?? '', authorized });
    if (!authorized) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="lab"' }).end();
      return;
    }
    const page = /^\/simple\/([a-z0-9-]+)\/$/.exec(req.url ?? '');
    if (page) {
      const links = [...files.entries()]
        .filter(([f]) => f.split('-')[0] === page[1])
        .map(([f, b]) => `<a href="/files/${f}#sha256=${sha(served(f, b))}">${f}</a><br>`);
      if (links.length === 0) return void res.writeHead(404).end();
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(`<!DOCTYPE html><html><body>${links.join('\n')}</body></html>`);
      return;
    }
    const file = /^\/files\/([A-Za-z0-9._-]+)$/.exec(req.url ?? '')?.[1];
    const bytes = file ? files.get(file) : undefined;
    if (!file || !bytes) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(served(file, bytes));
  });
  return new Promise((r) =>
    index.listen(0, '127.0.0.1', () => {
      indexUrl = `http://127.0.0.1:${(index.address() as { port: number }).port}/simple`;
      r();
    }),
  );
}

/** What the index serves for a file: its bytes, or (tampered) the same wheel with one more byte of code. */
function served(file: string, bytes: Buffer): Buffer {
  if (!tampered.has(file)) return bytes;
  const [name, version] = file.split('-') as [string, string];
  return wheel(name, version, 'BASE = 666  # not what was locked\n');
}

/** The uv.lock of the fft example with `pins` (name → version, file bytes), hubdep → hubbase. */
function uvLock(pins: { hubdep: [string, Buffer]; hubbase: [string, Buffer] }): string {
  const pkg = (name: string, [version, bytes]: [string, Buffer], deps = '') =>
    `[[package]]\nname = "${name}"\nversion = "${version}"\nsource = { registry = "${indexUrl}" }\n${deps}wheels = [\n    { url = "${indexUrl.replace(/simple$/, 'files')}/${fileName(name, version)}", hash = "sha256:${sha(bytes)}", size = ${bytes.length} },\n]\n`;
  return [
    'version = 1\nrevision = 2\nrequires-python = ">=3.11"\n',
    pkg('hubbase', pins.hubbase),
    pkg('hubdep', pins.hubdep, 'dependencies = [\n    { name = "hubbase" },\n]\n'),
    '[[package]]\nname = "magellon-fft-plugin"\nversion = "1.1.0"\nsource = { virtual = "." }\ndependencies = [\n    { name = "hubdep" },\n]\n\n[package.metadata]\nrequires-dist = [{ name = "hubdep", specifier = ">=1" }]\n',
  ].join('\n');
}

/**
 * The fft example as `version`, depending on hubdep (whose code needs hubbase): main.py imports it
 * and refuses to start without it, so a healthy install proves the venv has both.
 */
function fftWithDependency(version: string, extra: (dir: string) => void = () => {}) {
  return packVariant(work, 'fft', version, (d) => {
    const p = join(d, 'pyproject.toml');
    writeFileSync(p, readFileSync(p, 'utf8').replace('dependencies = []', 'dependencies = ["hubdep>=1"]'));
    const main = join(d, 'main.py');
    writeFileSync(
      main,
      readFileSync(main, 'utf8').replace(
        'import sys\n',
        'import sys\n\nimport hubdep\n\nassert hubdep.ANSWER == 42, hubdep.ANSWER\n',
      ),
    );
    extra(d);
  });
}

let hubdep1: Buffer;
let hubbase1: Buffer;
let hubbase2: Buffer;
let config = '';
/** Everything CoreService printed in this file's runs, searched for the password at the end. */
const printed: string[] = [];
const pluginsDirs: string[] = [];

const env = (more: Record<string, string> = {}) =>
  cleanCoreserviceEnv({ LAB_PYPI_PASSWORD: PASSWORD, MAGELLON_CORESERVICE_CONFIG: config, ...more });

async function cli(args: string[], more: Record<string, string> = {}) {
  const r = await runCoreservice(args, { env: env(more) });
  printed.push(r.stdout, r.stderr);
  return r;
}

function newPluginsDir(): string {
  const dir = mkdtempSync(join(scratch, 'plugins-'));
  pluginsDirs.push(dir);
  return dir;
}

async function archive(name: string, bytes: Promise<Buffer> | Buffer): Promise<string> {
  const path = join(work, name);
  writeFileSync(path, await bytes);
  return path;
}

/**
 * Watches every process's command line while `during` runs, and the environment of each pip or uv
 * process: what shows the password (there must be none; argv is world-readable in /proc).
 */
async function processesShowing(secret: string, during: () => Promise<unknown>): Promise<string[]> {
  const seen = new Set<string>();
  let pipSeen = false;
  const look = () => {
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`);
        if (cmd.includes(secret)) seen.add(`argv of ${cmd.toString().replaceAll('\0', ' ')}`);
        if (!/\bpip\b|\buv\b/.test(cmd.toString().replaceAll('\0', ' '))) continue;
        pipSeen = true;
        if (readFileSync(`/proc/${pid}/environ`).includes(secret)) seen.add(`environment of ${pid}`);
      } catch {
        // it ended meanwhile
      }
    }
  };
  const timer = setInterval(look, 25);
  try {
    await during();
  } finally {
    clearInterval(timer);
  }
  expect(pipSeen, 'pip was never seen running: the watch proved nothing').toBe(true);
  return [...seen];
}

const receipt = (dir: string) => JSON.parse(readFileSync(receiptPath(dir, 'fft'), 'utf8'));
const visible = (dir: string) => readdirSync(dir).filter((n) => !n.startsWith('.'));

beforeAll(async () => {
  await startIndex();
  hubbase1 = wheel('hubbase', '1.0', 'BASE = 41\n');
  hubbase2 = wheel('hubbase', '2.0', 'BASE = 41\n');
  hubdep1 = wheel('hubdep', '1.0', 'from hubbase import BASE\n\nANSWER = BASE + 1\n', ['hubbase']);
  files.set(fileName('hubbase', '1.0'), hubbase1);
  files.set(fileName('hubbase', '2.0'), hubbase2);
  files.set(fileName('hubdep', '1.0'), hubdep1);
  config = join(work, 'coreservice.yaml');
  writeFileSync(
    config,
    `python:\n  indexes:\n    - url: ${indexUrl}\n      username: ${USER}\n      password_env: LAB_PYPI_PASSWORD\n`,
  );
});

afterAll(() => index?.close());

describe('a plugin with a uv.lock, from a private index', () => {
  let installed = '';

  it('installs exactly the locked set, with the credentials from the config, and its code imports it', async () => {
    const dir = newPluginsDir();
    const mpn = await archive(
      'locked.mpn',
      fftWithDependency('9.0.0', (d) => {
        writeFileSync(join(d, 'uv.lock'), uvLock({ hubdep: ['1.0', hubdep1], hubbase: ['1.0', hubbase1] }));
      }),
    );
    let r: Awaited<ReturnType<typeof cli>> | undefined;
    // Nobody on the host sees the password: not in any command line, not in pip's environment.
    expect(
      await processesShowing(PASSWORD, async () => {
        r = await cli(['--plugins-dir', dir, 'install-file', mpn, '--json']);
      }),
    ).toEqual([]);
    expect(r!.code, r!.stderr).toBe(0);
    // The index refuses anyone without the credentials; pip and uv sent them (from the .netrc).
    expect((await fetch(`${indexUrl}/hubdep/`)).status).toBe(401);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((q) => !q.authorized)).toEqual([{ url: '/simple/hubdep/', authorized: false }]);
    expect(requests.some((q) => q.url === '/files/hubbase-1.0-py3-none-any.whl')).toBe(true);
    const rec = receipt(dir);
    expect(rec).toMatchObject({ locked: true, python_index: indexUrl });
    expect(rec.python_dependencies).toEqual([
      { name: 'hubbase', version: '1.0', sha256: sha(hubbase1) },
      { name: 'hubdep', version: '1.0', sha256: sha(hubdep1) },
    ]);
    const status = await cli(['--plugins-dir', dir, 'status', 'fft', '--json']);
    expect(JSON.parse(status.stdout).result).toMatchObject({ version: '9.0.0', state: 'running' });
    printed.push(status.stdout);
    installed = dir;
  }, 180_000);

  it('a download whose hash is not the lock’s fails closed, naming the package, and leaves nothing', async () => {
    const dir = newPluginsDir();
    tampered.add(fileName('hubbase', '2.0'));
    const mpn = await archive(
      'tampered.mpn',
      fftWithDependency('9.1.0', (d) => {
        writeFileSync(join(d, 'uv.lock'), uvLock({ hubdep: ['1.0', hubdep1], hubbase: ['2.0', hubbase2] }));
      }),
    );
    const r = await cli(['--plugins-dir', dir, 'install-file', mpn, '--json']);
    expect(r.code).not.toBe(0);
    const error = JSON.parse(r.stdout).error;
    expect(error.code).toBe('checksum-mismatch');
    expect(error.message).toMatch(
      /fft 9\.1\.0: the downloaded hubbase==2\.0 does not match the sha256 uv\.lock pins/,
    );
    expect(visible(dir)).toEqual([]);
  }, 180_000);

  it('an upgrade to a version whose download is tampered with leaves the old version running', async () => {
    expect(installed).not.toBe('');
    const before = receipt(installed);
    const controlled = await new ControlledHub(hub.dir, 'fft', '9.1.0').start();
    try {
      controlled.set(
        await fftWithDependency('9.1.0', (d) => {
          writeFileSync(join(d, 'uv.lock'), uvLock({ hubdep: ['1.0', hubdep1], hubbase: ['2.0', hubbase2] }));
        }),
      );
      const r = await cli([
        '--plugins-dir',
        installed,
        '--unsigned',
        '--hub',
        controlled.url,
        'upgrade',
        'fft',
        '--to',
        '9.1.0',
        '--json',
      ]);
      expect(r.code).not.toBe(0);
      expect(JSON.parse(r.stdout).error.code).toBe('checksum-mismatch');
    } finally {
      controlled.server.close();
    }
    expect(receipt(installed)).toEqual(before);
    const status = await cli(['--plugins-dir', installed, 'status', 'fft', '--json']);
    expect(JSON.parse(status.stdout).result).toMatchObject({ version: '9.0.0', state: 'running' });
    expect(readdirSync(join(installed, 'fft')).filter((n) => /^\d/.test(n))).toEqual(['9.0.0']);
  }, 240_000);
});

describe('offline', () => {
  it("installs from the archive's wheels/ only, with the index down", async () => {
    const dir = newPluginsDir();
    const mpn = await archive(
      'offline.mpn',
      fftWithDependency('9.2.0', (d) => {
        mkdirSync(join(d, 'wheels'));
        writeFileSync(join(d, 'wheels', fileName('hubdep', '1.0')), hubdep1);
        writeFileSync(join(d, 'wheels', fileName('hubbase', '1.0')), hubbase1);
      }),
    );
    const seen = requests.length;
    // A configured index that nothing answers: offline, it is never asked.
    const down = join(work, 'down.yaml');
    writeFileSync(down, 'python:\n  indexes:\n    - url: http://127.0.0.1:9/simple\n  offline: true\n');
    const r = await cli(['--plugins-dir', dir, 'install-file', mpn, '--json'], {
      MAGELLON_CORESERVICE_CONFIG: down,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(requests.length).toBe(seen);
    const rec = receipt(dir);
    expect(rec).toMatchObject({ locked: false });
    expect(rec.python_index).toBeUndefined();
    expect(rec.python_dependencies.map((d: { name: string }) => d.name)).toEqual(['hubbase', 'hubdep']);
  }, 180_000);
});

describe('without a lock', () => {
  it('installs what the index resolves and records it, with hashes, in the receipt', async () => {
    const dir = newPluginsDir();
    // Resolved, hubbase 2.0 is the newest; served as it is.
    tampered.clear();
    const mpn = await archive('unlocked.mpn', fftWithDependency('9.3.0'));
    const r = await cli(['--plugins-dir', dir, 'install-file', mpn, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rec = receipt(dir);
    expect(rec).toMatchObject({ locked: false, python_index: indexUrl });
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(rec.python_dependencies.sort(byName)).toEqual([
      { name: 'hubbase', version: '2.0', sha256: sha(hubbase2) },
      { name: 'hubdep', version: '1.0', sha256: sha(hubdep1) },
    ]);
  }, 180_000);
});

describe('the python section of the config file', () => {
  const read = (yaml: string) => {
    const file = join(work, `config-${randomBytes(4).toString('hex')}.yaml`);
    writeFileSync(file, yaml);
    return () => readConfigFile(file);
  };

  it('reads indexes with credentials by variable, and offline', () => {
    expect(
      read(
        `python:\n  indexes:\n    - url: ${'https://pypi.lab.internal/simple'}\n      username_env: U\n      password_env: P\n  offline: true\n`,
      )(),
    ).toEqual({
      python: {
        indexes: [{ url: 'https://pypi.lab.internal/simple', username_env: 'U', password_env: 'P' }],
        offline: true,
      },
    });
  });

  it.each([
    [
      'credentials in the URL',
      'url: https://ci:secret@pypi.lab.internal/simple',
      /python.indexes.0.url: an index url is an http\(s\) URL without credentials/,
    ],
    [
      'a password and a password_env',
      'url: https://pypi.lab.internal/simple\n      password: a\n      password_env: P',
      /password or password_env, not both/,
    ],
    [
      'a password with a space',
      'url: https://pypi.lab.internal/simple\n      password: "a b"',
      /a password is printable ASCII without spaces/,
    ],
  ])('refuses %s, naming the key', (_what, index, why) => {
    expect(read(`python:\n  indexes:\n    - ${index}\n`)).toThrow(why);
  });

  it('refuses an index URL with credentials from the environment, without repeating it', async () => {
    const dir = newPluginsDir();
    const mpn = await archive('env-url.mpn', fftWithDependency('9.4.0'));
    const r = await cli(['--plugins-dir', dir, 'install-file', mpn, '--json'], {
      MAGELLON_PYTHON_INDEX_URL: `http://ci:${PASSWORD}@127.0.0.1:9/simple`,
    });
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'bad-request',
      message: /MAGELLON_PYTHON_INDEX_URL is not an http\(s\) URL without credentials/,
    });
    expect(visible(dir)).toEqual([]);
  }, 60_000);
});

describe('the index password', () => {
  it('is in no output, receipt, status nor any file under the plugins dirs', async () => {
    expect(printed.length).toBeGreaterThan(0);
    for (const text of printed) expect(text).not.toContain(PASSWORD);
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        const s = statSync(p, { throwIfNoEntry: false });
        if (!s) return [];
        return s.isDirectory() ? walk(p) : s.isFile() ? [p] : [];
      });
    const all = pluginsDirs.flatMap(walk);
    expect(all.length).toBeGreaterThan(10);
    for (const f of all) expect(readFileSync(f).includes(PASSWORD), f).toBe(false);
  });
});

// The scratch dir is removed by repoHubForTests; the wheels' work dir with it.
afterAll(() => rmSync(work, { recursive: true, force: true }));
