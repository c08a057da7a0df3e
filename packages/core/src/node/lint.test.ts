import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CATALOG_REFUSALS, setField } from '../../test/catalog-refusals';
import { LINT_ME_MANIFEST, writeLintMe } from '../../test/lint-plugin';
import { PUBLISH_BLOCKING } from '../manifest/lint-rules';
import { TEMPLATE_PLACEHOLDERS } from '../manifest/template-placeholders';
import { lintDir, lintPlugin } from './lint';
import { PackError, packPlugin } from './pack';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-lint-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

const MANIFEST = LINT_ME_MANIFEST;

/** A plugin dir with the given files on top of a clean baseline; `null` removes a baseline file. */
const pluginDir = (files: Record<string, string | null> = {}) =>
  writeLintMe(mkdtempSync(join(ROOT, 'p-')), files);

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
/** The line of a top-level field. */
const fieldLine = (text: string, field: string) =>
  text.split('\n').findIndex((l) => l.startsWith(`${field}:`)) + 1;

const codes = async (dir: string, sdkVersion = '2.3.0') =>
  (await lintDir(dir, { sdkVersion })).findings.map((f) => `${f.severity} ${f.code}`);

describe('hub lint rules on a plugin dir', () => {
  it('a clean plugin has no findings at all', async () => {
    expect(await codes(pluginDir())).toEqual([]);
  });

  it('errors only where the plugin cannot pack or install', async () => {
    expect(await codes(pluginDir({ 'pyproject.toml': null }))).toEqual(['error lint.install-file-missing']);
    const noManifest = await lintPlugin(pluginDir({ 'manifest.yaml': null }));
    expect(noManifest.findings.map((f) => f.code)).toEqual(['lint.no-manifest']);
    const replicas = MANIFEST.replace(
      'category: ctf',
      'category: ctf\nresources:\n  replicas: {desired: 3, min: 1, max: 2}',
    );
    expect(await codes(pluginDir({ 'manifest.yaml': replicas }))).toEqual(['error manifest.invalid-value']);
  });

  it('reads a legacy plugin.yaml when there is no manifest.yaml', async () => {
    expect(await codes(pluginDir({ 'manifest.yaml': null, 'plugin.yaml': MANIFEST }))).toEqual([]);
  });

  it('warns about an SDK range that excludes the current SDK, odd timeouts, stale wheels, missing schemas', async () => {
    expect(await codes(pluginDir(), '3.1.0')).toEqual(['warning lint.sdk-excluded']);
    expect(
      await codes(
        pluginDir({ 'manifest.yaml': MANIFEST.replace('timeout_seconds: 30', 'timeout_seconds: 2') }),
      ),
    ).toEqual(['warning lint.health-timeout']);
    expect(await codes(pluginDir({ 'wheels/magellon_sdk-2.0.1-py3-none-any.whl': 'zip' }))).toEqual([
      'warning lint.stale-sdk-wheel',
    ]);
    expect(await codes(pluginDir({ 'wheels/magellon_sdk-2.3.0-py3-none-any.whl': 'zip' }))).toEqual([]);
    expect(await codes(pluginDir({ 'schemas/output.json': null }))).toEqual(['warning lint.schema-missing']);
  });

  it('warns when [tool.uv.sources] points outside the plugin', async () => {
    const pyproject =
      '[project]\nname = "x"\n\n[tool.uv.sources]\nmagellon-sdk = { path = "../../magellon-sdk", editable = true }\ninside = { path = "vendor/lib" }\n';
    const result = await lintDir(pluginDir({ 'pyproject.toml': pyproject, 'vendor/lib/x.py': '' }));
    expect(result.findings.map((f) => f.code)).toEqual(['lint.external-uv-source']);
    expect(result.findings[0]!.message).toContain('../../magellon-sdk');
    expect(result.ok).toBe(true);
  });

  it('reads [tool.uv.sources] as TOML: sub-tables, multi-line arrays of sources, quoted keys', async () => {
    const pyproject = `[project]
name = "x"

[tool.uv.sources.magellon-sdk]
path = "/home/me/magellon-sdk"
editable = true

[tool.uv.sources]
"torch" = [
  { index = "pytorch-cu121", marker = "sys_platform == 'linux'" },
  { path = '../vendor/torch', marker = "sys_platform == 'darwin'" },
]
inside = { path = "vendor/lib" }
# path = "../commented-out"
`;
    const result = await lintDir(pluginDir({ 'pyproject.toml': pyproject, 'vendor/lib/x.py': '' }));
    expect(result.findings.map((f) => `${f.code} ${/"([^"]+)"/.exec(f.message)?.[1]}`).sort()).toEqual([
      'lint.external-uv-source ../vendor/torch',
      'lint.external-uv-source /home/me/magellon-sdk',
    ]);
    // A regex over "[tool.uv.sources]" lines saw neither the dotted header nor a path inside the array.
    expect(result.ok).toBe(true);
  });

  it('reads uv paths relative to the pyproject, which may sit in a sub-folder', async () => {
    const manifest = MANIFEST.replace('pyproject: pyproject.toml', 'pyproject: py/pyproject.toml');
    const pyproject = '[tool.uv.sources]\nlib = { path = "../vendor/lib" }\nout = { path = "../../x" }\n';
    const result = await lintDir(
      pluginDir({ 'manifest.yaml': manifest, 'py/pyproject.toml': pyproject, 'vendor/lib/x.py': '' }),
    );
    expect(result.findings.map((f) => f.message)).toEqual([expect.stringContaining('"../../x"')]);
  });

  it('a pyproject.toml that is not TOML is an error naming the file and line (uv could not install it)', async () => {
    const pyproject =
      '[project]\nname = "x"\nversion = 1.2.3\n\n[tool.uv.sources]\nsdk = { path = "../sdk" }\n';
    const result = await lintDir(pluginDir({ 'pyproject.toml': pyproject }));
    expect(result.findings.map((f) => [f.severity, f.code, f.file, f.line, f.column])).toEqual([
      ['error', 'lint.invalid-pyproject', 'lint-me/pyproject.toml', 3, 14],
    ]);
    expect(result.findings[0]!.message).toMatch(/numeric literal/);
    expect(result.ok).toBe(false);
  });

  it('real dependencies lint clean; ones that would steer pip or uv are errors at their lines', async () => {
    const real =
      '[project]\nname = "x"\ndependencies = ["fastapi>=0.110", "numpy", \'pydantic[email]>=2; python_version>="3.11"\']\n';
    // Without a uv.lock each install resolves them anew: a warning.
    expect(await codes(pluginDir({ 'pyproject.toml': real }))).toEqual(['warning lint.no-lock']);
    const hostile = `[project]
name = "x"
dependencies = [
  "numpy",
  "--index-url=http://evil.example/simple",
  "evil @ https://evil.example/evil.whl",
  "./vendor/evil",
]

[tool.uv]
find-links = ["http://evil.example/wheels"]
`;
    const result = await lintDir(pluginDir({ 'pyproject.toml': hostile }));
    expect(result.findings.map((f) => [f.severity, f.code, f.file, f.line])).toEqual([
      ['error', 'lint.unsafe-dependency', 'lint-me/pyproject.toml', 5],
      ['error', 'lint.unsafe-dependency', 'lint-me/pyproject.toml', 6],
      ['error', 'lint.unsafe-dependency', 'lint-me/pyproject.toml', 7],
      ['error', 'lint.unsafe-dependency', 'lint-me/pyproject.toml', 11],
    ]);
    expect(result.ok).toBe(false);
  });

  it('a uv.lock that matches the pyproject lints clean and is packed and checksummed; a stale or unsafe one is an error', async () => {
    const pyproject = '[project]\nname = "lint-me"\ndependencies = [\n  "numpy>=1.26",\n]\n';
    const pkg = (name: string, version: string, source: string) =>
      `[[package]]\nname = "${name}"\nversion = "${version}"\nsource = ${source}\nwheels = [{ url = "https://files.example/${name}.whl", hash = "sha256:${'a'.repeat(64)}" }]\n`;
    const lock = (numpy: string, source = '{ registry = "https://pypi.org/simple" }') =>
      `version = 1\n\n[[package]]\nname = "lint-me"\nversion = "1.0.0"\nsource = { virtual = "." }\ndependencies = [{ name = "numpy" }]\n\n${pkg('numpy', numpy, source)}`;
    const dir = pluginDir({ 'pyproject.toml': pyproject, 'uv.lock': lock('1.26.4') });
    expect(await codes(dir)).toEqual([]);
    const packed = await packPlugin(dir, { out: join(dir, '..', 'locked.mpn') });
    expect(Object.keys(packed.manifest.file_checksums)).toContain('uv.lock');
    const staleDir = pluginDir({ 'pyproject.toml': pyproject, 'uv.lock': lock('1.25.0') });
    const stale = await lintDir(staleDir);
    expect(stale.findings.map((f) => [f.severity, f.code, f.file, f.line])).toEqual([
      ['error', 'lint.stale-lock', 'lint-me/pyproject.toml', 4],
    ]);
    expect(stale.findings[0]!.message).toMatch(
      /pins "numpy" to "1.25.0", which pyproject.toml's ">=1.26" does not admit/,
    );
    // CoreService would refuse it, so pack refuses to write it.
    const out = join(staleDir, '..', 'stale.mpn');
    const refusal = await packPlugin(staleDir, { out }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((refusal as PackError).code).toBe('pack.unsafe-archive');
    expect((refusal as PackError).findings.map((f) => [f.code, f.file, f.line])).toEqual([
      ['lint.stale-lock', 'lint-me/pyproject.toml', 4],
    ]);
    expect(existsSync(out)).toBe(false);
    const unsafe = await lintDir(
      pluginDir({
        'pyproject.toml': pyproject,
        'uv.lock': lock('1.26.4', '{ url = "https://evil.example/numpy.whl" }'),
      }),
    );
    expect(unsafe.findings.map((f) => [f.severity, f.code, f.file, f.line])).toEqual([
      ['error', 'lint.unsafe-lock', 'lint-me/uv.lock', 9],
    ]);
    expect(unsafe.findings[0]!.message).toMatch(/"numpy" comes from a "url" source/);
  });

  it('files named like Object.prototype members pack, and the archive passes its own checks', async () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const dir = pluginDir(Object.fromEntries(names.map((n) => [`data/${n}`, n]).concat([['toString', 'x']])));
    const packed = await packPlugin(dir, { out: join(dir, '..', 'protos.mpn') });
    expect(Object.keys(packed.manifest.file_checksums)).toEqual(
      expect.arrayContaining([...names.map((n) => `data/${n}`), 'toString']),
    );
    const linted = await lintPlugin(packed.file, { sdkVersion: '2.3.0' });
    expect(linted.findings).toEqual([]);
  });

  it('hub pack refuses such a plugin before writing anything, naming the pyproject’s lines', async () => {
    const dir = pluginDir({ 'pyproject.toml': '[project]\nname = "x"\ndependencies = ["-e ."]\n' });
    const out = join(dir, '..', 'out.mpn');
    const refusal = await packPlugin(dir, { out }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(PackError);
    expect((refusal as PackError).code).toBe('pack.unsafe-archive');
    expect((refusal as PackError).findings.map((f) => [f.code, f.file, f.line])).toEqual([
      ['lint.unsafe-dependency', 'lint-me/pyproject.toml', 3],
    ]);
    expect(existsSync(out)).toBe(false);
  });

  it('warns about unknown predicates and notes missing tags; a non-SemVer version and a non-SPDX license are errors', async () => {
    const odd = MANIFEST.replace(
      '    pyproject: pyproject.toml',
      '    pyproject: pyproject.toml\n    requires:\n      - quantum_cpu: true',
    )
      .replace('version: 1.0.0', 'version: "1.0"')
      .replace('license: MIT', 'license: Proprietary stuff')
      .replace('tags: [test]', 'tags: []');
    expect((await codes(pluginDir({ 'manifest.yaml': odd }))).sort()).toEqual([
      'error entry.invalid-license',
      'error entry.invalid-semver',
      'info lint.no-tags',
      'warning lint.unknown-predicate',
    ]);
  });
});

describe('what the catalog refuses, lint refuses: an error at the manifest line (or the file) it comes from', () => {
  for (const refusal of CATALOG_REFUSALS) {
    it(`${refusal.what}: ${refusal.code}`, async () => {
      const { field, files = {} } = refusal;
      const manifest = field ? setField(MANIFEST, field.name, field.yaml) : MANIFEST;
      const result = await lintDir(pluginDir({ 'manifest.yaml': manifest, ...files }), {
        sdkVersion: '2.3.0',
      });
      expect(result.ok).toBe(false);
      const errors = result.findings.filter((f) => f.severity === 'error');
      expect(errors.map((f) => f.code)).toEqual([refusal.code]);
      if (field) {
        const line = field.yaml === null ? 1 : fieldLine(manifest, field.name);
        expect([errors[0]!.file, errors[0]!.line]).toEqual(['lint-me/manifest.yaml', line]);
      } else {
        expect(Object.keys(files).map((f) => `lint-me/${f}`)).toContain(errors[0]!.file);
      }
    });
  }

  it('the same rules, not a copy: a manifest the catalog accepts gives no error, whatever it leaves out', async () => {
    const lean = ['tags', 'homepage', 'backend_id'].reduce((m, f) => setField(m, f, null), MANIFEST);
    expect(await codes(pluginDir({ 'manifest.yaml': lean }))).toEqual(['info lint.no-tags']);
  });
});

describe('YAML read as something else than the author wrote', () => {
  const lint = async (manifest: string) =>
    (await lintDir(pluginDir({ 'manifest.yaml': manifest }), { sdkVersion: '2.3.0' })).findings;

  it('restart_policy: no is a boolean to YAML 1.1: one warning, the value as written, "quote it" once', async () => {
    const manifest = `${MANIFEST}lifecycle:\n  restart_policy: no\n`;
    const findings = await lint(manifest);
    expect(findings.map((f) => [f.severity, f.code, f.line, f.column, f.message])).toEqual([
      [
        'warning',
        'lint.unquoted-boolean',
        lineOf(manifest, 'restart_policy'),
        19,
        '`no` is read as a boolean; quote it: restart_policy: "no"',
      ],
    ]);
    expect(await lint(`${MANIFEST}lifecycle:\n  restart_policy: "no"\n`)).toEqual([]);
  });

  it('every spelling YAML 1.1 reads as false is shown as written, with the value it stands for', async () => {
    for (const written of ['No', 'NO', 'off', 'OFF', 'false']) {
      const findings = await lint(`${MANIFEST}lifecycle:\n  restart_policy: ${written}\n`);
      expect(findings.map((f) => f.message)).toEqual([
        `\`${written}\` is read as a boolean, taken as "no"; quote it: restart_policy: "no"`,
      ]);
    }
  });

  it('a boolean where a string must be is an error that says "quote it" once, with the value as written', async () => {
    const findings = await lint(MANIFEST.replace('author: Lab', 'author: yes'));
    expect(findings.map((f) => [f.severity, f.code, f.message])).toEqual([
      ['error', 'manifest.invalid-type', '`yes` is read as a boolean; quote it: author: "yes"'],
    ]);
  });

  it('version: 1.0 is a number: one message with the value as written and what a version must be', async () => {
    const manifest = MANIFEST.replace('version: 1.0.0', 'version: 1.0');
    const findings = await lint(manifest);
    expect(findings.map((f) => [f.severity, f.code, f.line, f.message])).toEqual([
      [
        'error',
        'manifest.invalid-semver',
        fieldLine(manifest, 'version'),
        '`1.0` is read as a number; a version must be SemVer such as "1.0.0" (quoted)',
      ],
    ]);
  });
});

describe('the scaffold template’s placeholders', () => {
  const withPlaceholders = MANIFEST.replace(
    'author: Lab',
    `author: "${TEMPLATE_PLACEHOLDERS.author}"`,
  ).replace(
    'description: A plugin for lint tests.',
    `description: >\n  ${TEMPLATE_PLACEHOLDERS.description}\n`,
  );

  it('are warnings where the author iterates, naming what publish and verify do', async () => {
    const result = await lintDir(pluginDir({ 'manifest.yaml': withPlaceholders }), { sdkVersion: '2.3.0' });
    expect(result.ok).toBe(true);
    expect(result.findings.map((f) => [f.severity, f.code, f.line])).toEqual([
      ['warning', 'lint.placeholder', fieldLine(withPlaceholders, 'author')],
      ['warning', 'lint.placeholder', fieldLine(withPlaceholders, 'description')],
    ]);
    expect(result.findings[1]!.message).toBe(
      `description is still the placeholder hub scaffold wrote ("${TEMPLATE_PLACEHOLDERS.description}"); replace it — hub publish and hub verify refuse it`,
    );
  });

  it('are errors when linting to publish (PUBLISH_BLOCKING), in a dir and in its archive', async () => {
    const dir = pluginDir({ 'manifest.yaml': withPlaceholders });
    const asPublished = await lintDir(dir, { sdkVersion: '2.3.0', purpose: 'publish' });
    expect(asPublished.ok).toBe(false);
    expect(asPublished.findings.map((f) => `${f.severity} ${f.code}`)).toEqual([
      'error lint.placeholder',
      'error lint.placeholder',
    ]);
    const packed = await packPlugin(dir, { out: join(dir, '..', 'placeholder.mpn') });
    const archive = await lintPlugin(packed.file, { sdkVersion: '2.3.0', purpose: 'publish' });
    expect(archive.findings.map((f) => `${f.severity} ${f.code} ${f.file}`)).toEqual([
      'error lint.placeholder placeholder.mpn!manifest.yaml',
      'error lint.placeholder placeholder.mpn!manifest.yaml',
    ]);
    expect(PUBLISH_BLOCKING.has('lint.placeholder')).toBe(true);
  });

  it('text only like a placeholder is the author’s own', async () => {
    const own = withPlaceholders.replace(
      TEMPLATE_PLACEHOLDERS.description,
      `${TEMPLATE_PLACEHOLDERS.description} It computes spectra.`,
    );
    const findings = (await lintDir(pluginDir({ 'manifest.yaml': own }), { sdkVersion: '2.3.0' })).findings;
    expect(findings.map((f) => f.line)).toEqual([fieldLine(own, 'author')]);
  });
});

describe('did-you-mean for misspelled manifest keys', () => {
  const typos = async (manifest: string) =>
    (await lintDir(pluginDir({ 'manifest.yaml': manifest }), { sdkVersion: '2.3.0' })).findings
      .filter((f) => f.code === 'lint.misspelled-key')
      .map(
        (f) =>
          `${f.severity} ${f.line}:${f.column} ${/"([^"]+)": did you mean "([^"]+)"/.exec(f.message)?.slice(1).join(' → ')}`,
      );

  it('warns at the key’s line and column, at the top level and in nested mappings', async () => {
    const nested = MANIFEST.replace(
      'health_check:\n  timeout_seconds: 30',
      'health_check:\n  timeout_seconds: 30\n  expected_anounce: false\nresources:\n  gpu_cont: 1\n  replicas: {desired: 1, mni: 1}\nlifecycle:\n  restart_polcy: always\nui:\n  docs_ulr: https://x.org',
    );
    expect(await typos(nested)).toEqual([
      `warning ${lineOf(nested, 'expected_anounce')}:3 health_check.expected_anounce → expected_announce`,
      `warning ${lineOf(nested, 'gpu_cont')}:3 resources.gpu_cont → gpu_count`,
      `warning ${lineOf(nested, 'mni:')}:26 resources.replicas.mni → min`,
      `warning ${lineOf(nested, 'restart_polcy')}:3 lifecycle.restart_polcy → restart_policy`,
      `warning ${lineOf(nested, 'docs_ulr')}:3 ui.docs_ulr → docs_url`,
    ]);
    const top = MANIFEST.replace('tags: [test]', 'tags: [test]\nresorces:\n  gpu_count: 1\nDescription: x');
    expect(await typos(top)).toEqual([
      `warning ${lineOf(top, 'resorces')}:1 resorces → resources`,
      `warning ${lineOf(top, 'Description')}:1 Description → description`,
    ]);
  });

  it('explains a "missing" field that was misspelled (requires_skd, install[0].methd), beside the error', async () => {
    const manifest = MANIFEST.replace('requires_sdk:', 'requires_skd:').replace(
      '  - method: uv',
      '  - methd: uv',
    );
    const result = await lintDir(pluginDir({ 'manifest.yaml': manifest }));
    expect(result.ok).toBe(false);
    expect(result.findings.map((f) => `${f.severity} ${f.code} ${f.line}:${f.column}`).sort()).toEqual(
      [
        `error manifest.invalid-value ${lineOf(manifest, 'methd')}:5`,
        `error manifest.missing-field 1:1`,
        `warning lint.misspelled-key ${lineOf(manifest, 'methd')}:5`,
        `warning lint.misspelled-key ${lineOf(manifest, 'requires_skd')}:1`,
      ].sort(),
    );
    expect(result.findings.find((f) => f.line === lineOf(manifest, 'requires_skd'))?.message).toContain(
      'did you mean "requires_sdk"',
    );
  });

  it('accepts genuinely new keys a newer SDK may add, and the legacy names, without a word', async () => {
    const newer = MANIFEST.replace(
      'tags: [test]',
      'tags: [test]\ntelemetry:\n  enabled: true\nresources:\n  gpu_count: 0\n  scratch_disk_gb: 10\nsdk_compat: ">=2.0"\nimage: {ref: x}\nschema_version: 1',
    );
    expect(await codes(pluginDir({ 'manifest.yaml': newer }))).toEqual([]);
  });
});
