import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Finding } from '../../src/findings';
import { TEMPLATE_PLACEHOLDERS } from '../../src/manifest/template-placeholders';
import { errnoOf, errorFinding, findingForError, ioFinding } from '../../src/node/io-error';
import { lintDir, lintPlugin } from '../../src/node/lint';
import { loadCatalog } from '../../src/node/load-catalog';
import { PackError, packPlugin } from '../../src/node/pack';
import { BuildError, writeHubBuild } from '../../src/node/write-build';
import { LINT_ME_MANIFEST, writeLintMe } from '../lint-plugin';
import { type Fixture, type FixtureTable, starterCopy, tempDir } from './fixture';

const REPO = join(import.meta.dirname, '..', '..', '..', '..');
const HUB = join(REPO, 'packages', 'cli', 'bin', 'hub.js');

const MANIFEST = LINT_ME_MANIFEST;

/** A clean plugin dir named lint-me, changed by `files` (null removes a file); returns its path. */
const pluginDir = (files: Record<string, string | null> = {}) => writeLintMe(tempDir('plugin'), files);

const lineIn = (text: string, needle: string) => {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`fixture bug: "${needle}" not found`);
  return i + 1;
};

/** Lints a plugin whose manifest is MANIFEST changed by `change`; the finding belongs at `needle`'s line. */
function manifestCase(change: (text: string) => string, needle: string | undefined, files = {}): Fixture {
  return async () => {
    const text = change(MANIFEST);
    const dir = pluginDir({ 'manifest.yaml': text, ...files });
    const { findings } = await lintDir(dir, { sdkVersion: '2.3.0' });
    return {
      findings,
      expected: { file: 'lint-me/manifest.yaml', line: needle ? lineIn(text, needle) : undefined },
    };
  };
}

/** Lints a plugin with extra files; the finding belongs in `file` (no line). */
function filesCase(files: Record<string, string | null>, file: string, line?: number): Fixture {
  return async () => {
    const { findings } = await lintDir(pluginDir(files), { sdkVersion: '2.3.0' });
    return { findings, expected: { file, line } };
  };
}

export const lintFixtures: FixtureTable<'lint'> = {
  'lint.not-found': async () => {
    const missing = join(tempDir('lint'), 'nothing-here');
    return { findings: (await lintPlugin(missing)).findings, expected: { file: missing } };
  },
  'lint.no-manifest': async () => {
    const dir = pluginDir({ 'manifest.yaml': null });
    return { findings: (await lintPlugin(dir)).findings, expected: { file: dir } };
  },
  'lint.path-escapes': manifestCase(
    (t) => t.replace('pyproject: pyproject.toml', 'pyproject: ../x.toml'),
    'pyproject:',
  ),
  'lint.install-file-missing': manifestCase((t) => t, 'pyproject:', { 'pyproject.toml': null }),
  'lint.sdk-excluded': manifestCase((t) => t.replace('">=2.0,<3.0"', '">=3.0"'), 'requires_sdk:'),
  'lint.health-timeout': manifestCase(
    (t) => t.replace('timeout_seconds: 30', 'timeout_seconds: 1'),
    'timeout_seconds:',
  ),
  'lint.stale-sdk-wheel': filesCase(
    { 'wheels/magellon_sdk-1.0.0-py3-none-any.whl': 'x' },
    'lint-me/wheels/magellon_sdk-1.0.0-py3-none-any.whl',
  ),
  'lint.schema-missing': manifestCase((t) => t, 'manifest_version:', { 'schemas/input.json': null }),
  'lint.external-uv-source': filesCase(
    { 'pyproject.toml': '[project]\nname = "x"\n\n[tool.uv.sources]\nsdk = { path = "../sdk" }\n' },
    'lint-me/pyproject.toml',
  ),
  'lint.invalid-pyproject': filesCase(
    { 'pyproject.toml': '[project]\nname = \n' },
    'lint-me/pyproject.toml',
    2,
  ),
  'lint.unsafe-dependency': filesCase(
    {
      'pyproject.toml':
        '[project]\nname = "x"\ndependencies = [\n  "fastapi>=0.110",\n  "evil @ https://evil.example/evil.whl",\n]\n',
    },
    'lint-me/pyproject.toml',
    5,
  ),
  'lint.no-lock': filesCase(
    { 'pyproject.toml': '[project]\nname = "lint-me"\ndependencies = [\n  "numpy>=1.26",\n]\n' },
    'lint-me/pyproject.toml',
    4,
  ),
  'lint.unsafe-lock': filesCase(
    {
      'pyproject.toml': '[project]\nname = "lint-me"\ndependencies = ["evil"]\n',
      'uv.lock':
        'version = 1\n\n[[package]]\nname = "lint-me"\nversion = "1.0.0"\nsource = { virtual = "." }\ndependencies = [{ name = "evil" }]\n\n[[package]]\nname = "evil"\nversion = "1.0"\nsource = { git = "https://evil.example/evil.git" }\n',
    },
    'lint-me/uv.lock',
    9,
  ),
  'lint.stale-lock': filesCase(
    {
      'pyproject.toml': '[project]\nname = "lint-me"\ndependencies = [\n  "numpy>=2",\n  "rich",\n]\n',
      'uv.lock': `version = 1\n\n[[package]]\nname = "lint-me"\nversion = "1.0.0"\nsource = { virtual = "." }\ndependencies = [{ name = "numpy" }]\n\n[[package]]\nname = "numpy"\nversion = "1.26.4"\nsource = { registry = "https://pypi.org/simple" }\nwheels = [{ url = "https://files.example/numpy.whl", hash = "sha256:${'a'.repeat(64)}" }]\n`,
    },
    'lint-me/pyproject.toml',
    4,
  ),
  'lint.misspelled-key': manifestCase(
    (t) => `${t}helth_check_timeout: 3\nrequires_skd: x\n`,
    'requires_skd:',
  ),
  'lint.newer-manifest-version': manifestCase(
    (t) => t.replace('manifest_version: "1"', 'manifest_version: "1.9"'),
    'manifest_version:',
  ),
  'lint.unknown-predicate': manifestCase(
    (t) =>
      t.replace(
        '    pyproject: pyproject.toml',
        '    pyproject: pyproject.toml\n    requires:\n      - quantum_computer: true',
      ),
    '- quantum_computer',
  ),
  'lint.placeholder': manifestCase(
    (t) =>
      t.replace(
        'description: A plugin for lint tests.',
        `description: >\n  ${TEMPLATE_PLACEHOLDERS.description}`,
      ),
    'description:',
  ),
  'lint.unquoted-boolean': manifestCase((t) => `${t}lifecycle:\n  restart_policy: no\n`, 'restart_policy:'),
  'lint.no-tags': manifestCase((t) => t.replace('tags: [test]\n', ''), 'manifest_version:'),
};

export const manifestFixtures: FixtureTable<'manifest'> = {
  'manifest.not-mapping': manifestCase(() => '- a\n- b\n', 'a'),
  'manifest.missing-field': manifestCase((t) => t.replace('category: ctf\n', ''), 'manifest_version:'),
  'manifest.invalid-type': manifestCase((t) => t.replace('name: Lint me', 'name: [a, b]'), 'name:'),
  'manifest.invalid-value': manifestCase(
    (t) => `${t}resources:\n  replicas: {desired: 3, min: 1, max: 2}\n`,
    'replicas:',
  ),
  'manifest.invalid-slug': manifestCase(
    (t) => t.replace('plugin_id: lint-me', 'plugin_id: Lint Me'),
    'plugin_id:',
  ),
  'manifest.invalid-semver': manifestCase((t) => t.replace('version: 1.0.0', 'version: ""'), 'version: ""'),
  'manifest.invalid-sha256': manifestCase((t) => `${t}file_checksums:\n  main.py: nothex\n`, 'main.py:'),
  'manifest.invalid-archive-id': manifestCase((t) => `${t}archive_id: not-a-uuid\n`, 'archive_id:'),
  'manifest.invalid-sdk-range': manifestCase((t) => t.replace('">=2.0,<3.0"', '"~~2"'), 'requires_sdk:'),
  'manifest.invalid-url': manifestCase((t) => `${t}homepage: [1]\n`, 'homepage:'),
};

/** Runs packPlugin and reports its PackError the way `hub pack` prints it. */
async function packFindings(dir: string, opts: Parameters<typeof packPlugin>[1] = {}): Promise<Finding[]> {
  try {
    await packPlugin(dir, opts);
    return [];
  } catch (err) {
    if (!(err instanceof PackError)) throw err;
    return [err.toFinding(dir), ...err.findings];
  }
}

function packCase(
  prepare: () => { dir: string; opts?: Parameters<typeof packPlugin>[1]; file: string },
): Fixture {
  return async () => {
    const { dir, opts, file } = prepare();
    return { findings: await packFindings(dir, opts), expected: { file } };
  };
}

export const packFixtures: FixtureTable<'pack'> = {
  'pack.not-a-dir': packCase(() => {
    const file = join(tempDir('pack'), 'a-file');
    writeFileSync(file, 'x');
    return { dir: file, file };
  }),
  'pack.no-manifest': packCase(() => {
    const dir = pluginDir({ 'manifest.yaml': null });
    return { dir, file: dir };
  }),
  'pack.invalid-manifest': packCase(() => ({
    dir: pluginDir({ 'manifest.yaml': 'name: [\n' }),
    file: 'lint-me/manifest.yaml',
  })),
  'pack.exists': packCase(() => {
    const dir = pluginDir();
    const out = join(dir, '..', 'out.mpn');
    writeFileSync(out, 'old');
    return { dir, opts: { out }, file: out };
  }),
  'pack.write-failed': packCase(() => {
    // /sys/kernel is a folder that refuses new files: the temp file beside the target cannot be made.
    const out = '/sys/kernel/hub-test.mpn';
    return { dir: pluginDir(), opts: { out }, file: out };
  }),
  'pack.out-not-file': packCase(() => ({
    dir: pluginDir(),
    opts: { out: '/dev/null', force: true },
    file: '/dev/null',
  })),
  'pack.unsafe-archive': async () => {
    // Two names that differ only in case pack fine on Linux but would overwrite each other elsewhere.
    const dir = pluginDir({ 'Readme.md': 'a', 'README.md': 'b' });
    const findings = await packFindings(dir, { out: join(dir, '..', 'x.mpn') });
    return { findings, expected: { file: 'x.mpn' } };
  },
  'pack.unsafe-name': packCase(() => ({
    dir: pluginDir({ 'manifest.yaml': MANIFEST.replace('version: 1.0.0', 'version: "1.0.0/../../x"') }),
    file: 'lint-me/manifest.yaml',
  })),
  'pack.link-outside': packCase(() => {
    const dir = pluginDir();
    symlinkSync('/etc/hostname', join(dir, 'host.txt'));
    return { dir, file: 'lint-me/host.txt' };
  }),
  'pack.link-loop': packCase(() => {
    const dir = pluginDir();
    symlinkSync('loop', join(dir, 'loop'));
    return { dir, file: 'lint-me/loop' };
  }),
  'pack.out-is-dir': packCase(() => {
    const dir = pluginDir();
    const out = tempDir('out');
    return { dir, opts: { out }, file: out };
  }),
  'pack.out-parent-missing': packCase(() => {
    const dir = pluginDir();
    const out = join(tempDir('out'), 'missing', 'x.mpn');
    return { dir, opts: { out }, file: out };
  }),
  'pack.out-in-source': packCase(() => {
    const dir = pluginDir();
    const out = join(dir, 'schemas', 'x.mpn');
    return { dir, opts: { out }, file: out };
  }),
  'pack.file-changed': packCase(() => {
    // /proc files say they are empty but are not: what pack planned and what it then read disagree.
    const dir = pluginDir();
    symlinkSync('/proc/self/status', join(dir, 'status.txt'));
    return { dir, opts: { followLinks: true, out: join(dir, '..', 'x.mpn') }, file: 'lint-me/status.txt' };
  }),
};

/** Runs the compiled `hub` with `--format json` and returns the findings it printed. */
function hubJson(args: string[], cwd: string, uid?: number): Finding[] {
  let hub = HUB;
  if (uid !== undefined) {
    // The repo may sit where that user cannot read it (under /root): run a copy of the compiled CLI.
    const copy = tempDir('cli-copy');
    chmodSync(copy, 0o755);
    for (const part of ['bin', 'dist'])
      cpSync(join(REPO, 'packages/cli', part), join(copy, part), { recursive: true });
    writeFileSync(join(copy, 'package.json'), '{"type":"module"}\n');
    hub = join(copy, 'bin', 'hub.js');
  }
  const r = spawnSync(process.execPath, [hub, ...args, '--format', 'json'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  return JSON.parse(r.stdout) as Finding[];
}

async function buildFindings(catalog: string, out: string): Promise<Finding[]> {
  const { entries } = await loadCatalog(catalog);
  try {
    const result = await writeHubBuild(catalog, entries, out, { removeOld: 'wait' });
    return result.findings;
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    return [{ file: out, severity: 'error', code: err.code, message: err.message }];
  }
}

export const buildFixtures: FixtureTable<'build'> = {
  'build.bad-out': async () => {
    const catalog = starterCopy();
    const out = join(catalog, 'dist');
    return { findings: await buildFindings(catalog, out), expected: { file: out } };
  },
  'build.write-failed': async () => {
    // A leftover staging folder of a crashed build that cannot be removed (an immutable file in it).
    const parent = tempDir('stale');
    const out = join(parent, 'dist');
    const stale = join(parent, `.dist.building-${process.pid}`);
    mkdirSync(stale);
    writeFileSync(join(stale, 'stuck'), 'x');
    execFileSync('chattr', ['+i', join(stale, 'stuck')]);
    try {
      return { findings: await buildFindings(starterCopy(), out), expected: { file: out } };
    } finally {
      execFileSync('chattr', ['-i', join(stale, 'stuck')]);
    }
  },
};

/** A real errno error from the file system, and the finding hub makes of it. */
function ioCase(provoke: (dir: string) => unknown, file = 'target'): Fixture {
  return async () => {
    const dir = tempDir('io');
    let error: unknown;
    try {
      provoke(dir);
    } catch (err) {
      error = err;
    }
    if (!errnoOf(error)) throw new Error(`fixture bug: no errno error (${String(error)})`);
    return { findings: [ioFinding(error, file)], expected: { file } };
  };
}

export const ioFixtures: FixtureTable<'io'> = {
  'io.not-found': async () => {
    const dir = tempDir('io');
    return { findings: hubJson(['lint', 'nothing-here'], dir), expected: { file: 'nothing-here' } };
  },
  'io.not-a-directory': async () => {
    const dir = tempDir('io');
    writeFileSync(join(dir, 'a-file'), 'x');
    return { findings: hubJson(['validate', 'a-file'], dir), expected: { file: 'a-file' } };
  },
  'io.is-a-directory': ioCase((dir) => readFileSync(dir)),
  'io.permission-denied': ioCase((dir) => {
    writeFileSync(join(dir, 'script'), '#!/bin/sh\n');
    execFileSync(join(dir, 'script'));
  }),
  'io.link-loop': async () => {
    const catalog = starterCopy();
    symlinkSync('loop', join(catalog, 'plugins', 'loop'));
    const { findings } = await loadCatalog(catalog, { displayFrom: catalog });
    return { findings, expected: { file: 'plugins/loop' } };
  },
  'io.no-space': ioCase(() => writeFileSync('/dev/full', 'x')),
  'io.exists': ioCase((dir) => mkdirSync(dir)),
  'io.not-writable': async () => {
    const dir = tempDir('io');
    const findings = hubJson(['build', starterCopy(), '--out', '/proc/hub-test/dist'], dir);
    return { findings, expected: { file: '/proc' } };
  },
  'io.error': ioCase((dir) => {
    // EINVAL: an errno hub has no special words for.
    writeFileSync(join(dir, 'plain'), 'x');
    readlinkSync(join(dir, 'plain'));
  }),
};

export const cliFixtures: FixtureTable<'cli' | 'json'> = {
  'cli.usage': async () => {
    const dir = tempDir('cli');
    return { findings: hubJson(['validate', '--bogus'], dir), expected: { file: '(command line)' } };
  },
  'cli.internal': async () => {
    // Only a bug reaches it: any error that is neither a file-system nor a parser error.
    const { internal: _, ...finding } = findingForError(new TypeError('x is undefined'), 'target');
    return { findings: [finding], expected: { file: 'target' } };
  },
  'json.syntax': async () => {
    let error: unknown;
    try {
      JSON.parse('{"a": }');
    } catch (err) {
      error = err;
    }
    return {
      findings: [errorFinding(error, 'schemas/input.json')!],
      expected: { file: 'schemas/input.json' },
    };
  },
};

/** catalog.* codes that need the command line (a plugin's sources) or another user (permissions). */
export const catalogCliFixtures: Pick<
  FixtureTable<'catalog'>,
  'catalog.plugin-sources' | 'catalog.unreadable'
> = {
  'catalog.plugin-sources': async () => {
    const dir = pluginDir();
    return { findings: hubJson(['validate'], dir), expected: { file: '.' } };
  },
  'catalog.unreadable': async () => {
    const catalog = starterCopy();
    const work = tempDir('unreadable');
    cpSync(catalog, join(work, 'catalog'), { recursive: true });
    chmodSync(work, 0o755);
    chmodSync(join(work, 'catalog'), 0o755);
    chmodSync(join(work, 'catalog', 'plugins', 'fft'), 0o000);
    // Root reads anything: as root, run hub as nobody; anyone else is refused as they are.
    const findings = hubJson(
      ['validate', 'catalog', '--no-archives'],
      work,
      process.getuid?.() === 0 ? 65534 : undefined,
    );
    return { findings, expected: { file: 'catalog/plugins/fft' } };
  },
};
