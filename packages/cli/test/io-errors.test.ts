import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorFinding } from '@magellon/hub-core/node';
import { load } from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { writeFixturePlugin } from './plugin-fixture';
import { type HubRun, runHub } from './run-hub';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-io-errors-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));
const FILE = join(ROOT, 'regular-file');
writeFileSync(FILE, 'not a folder\n');

/** Errno codes printed twice in a row, as Node's own messages do ("ENOTDIR: ENOTDIR: …"). */
const DOUBLED = /\b(E[A-Z]{2,})\b[^\n]*\b\1\b/;

/** The run failed with exit 1 and printed `<file>: <code>: …` once, with no stack trace or doubled errno. */
function expectFinding(r: HubRun, file: string, code: string) {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stdout).toContain(`${file}: ${code}: `);
  const all = r.stdout + r.stderr;
  expect(all).not.toMatch(DOUBLED);
  expect(all).not.toMatch(/\n\s+at /);
  expect(all).not.toMatch(/: E[A-Z]+: E[A-Z]+/);
}

describe('file-system errors come out as findings with a hint', () => {
  it('hub pack <a regular file>', () => {
    const r = runHub(['pack', FILE]);
    expectFinding(r, FILE, 'pack.not-a-dir');
    expect(r.stdout).toContain("takes a plugin's source folder");
  });

  it('hub pack on a packed archive points at hub lint', () => {
    const mpn = join(ROOT, 'x-1.0.0.mpn');
    writeFileSync(mpn, 'PK');
    expect(runHub(['pack', mpn]).stdout).toContain(`run hub lint ${mpn}`);
  });

  it('hub lint <missing path> and hub pack <missing path>', () => {
    const missing = join(ROOT, 'no-such-plugin');
    for (const command of ['lint', 'pack']) {
      const r = runHub([command, missing]);
      expectFinding(r, missing, 'io.not-found');
      expect(r.stdout).toContain('does not exist (ENOENT); check the path');
    }
  });

  it('hub validate <a file>', () => {
    const r = runHub(['validate', FILE]);
    expectFinding(r, FILE, 'io.not-a-directory');
    expect(r.stdout).toContain('(ENOTDIR); check the path');
  });

  it('hub build --out <a path under a regular file>, and --out <a regular file>', () => {
    for (const out of [join(FILE, 'dist'), FILE]) {
      const r = runHub(['build', 'catalog', '--out', out]);
      expectFinding(r, out, 'io.not-a-directory');
      expect(r.stderr).toContain('✖ not built');
    }
  });

  it.skipIf(!existsSync('/proc/self'))('hub build --out /proc/x refuses at once instead of hanging', () => {
    const r = runHub(['build', 'catalog', '--out', '/proc/hub-test/dist']);
    expectFinding(r, '/proc', 'io.not-writable');
    expect(r.stdout).toContain('refuses new folders');
    expect(existsSync('/proc/hub-test')).toBe(false);
  });

  it('pack --out under a file is one finding naming the file, and nothing is written', () => {
    const parent = join(ROOT, 'pack-out');
    mkdirSync(parent);
    const dir = writeFixturePlugin(parent);
    const r = runHub(['pack', dir, '--out', join(FILE, 'x.mpn')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /regular-file\/x\.mpn: pack\.out-parent-missing: .*regular-file is a file, not a folder/,
    );
    expect(r.stderr).toContain('✖ pack.out-parent-missing');
    expect(r.stdout + r.stderr).not.toMatch(DOUBLED);
    expect(readdirSync(parent)).toEqual(['tiny-plugin']);
  });
});

describe('errorFinding (the catch-all behind every command)', () => {
  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (err) {
      return err;
    }
    throw new Error('did not throw');
  };

  it('maps an fs error to its io.* code, on the path it names, without repeating the errno', () => {
    const err = thrown(() => readdirSync(FILE));
    const f = errorFinding(err, 'fallback')!;
    expect(f.code).toBe('io.not-a-directory');
    expect(f.file).toBe(FILE);
    expect(f.message).toBe('is not a directory (or a parent of it is a file) (ENOTDIR); check the path');
  });

  it('maps js-yaml and yaml parser errors to yaml.syntax with line and column', () => {
    const jsYaml = errorFinding(
      thrown(() => load('a: 1\nb: [1, 2\n', { filename: 'x.yaml' })),
      'fallback',
    )!;
    expect(jsYaml).toMatchObject({ file: 'x.yaml', code: 'yaml.syntax', severity: 'error' });
    expect(jsYaml.line).toBeGreaterThan(1);
    const doc = parseDocument('a: 1\n  b: 2\n', { prettyErrors: true });
    const yamlErr = errorFinding(doc.errors[0], 'm.yaml')!;
    expect(yamlErr).toMatchObject({ file: 'm.yaml', code: 'yaml.syntax' });
    expect(yamlErr.line).toBeTypeOf('number');
    expect(yamlErr.message.split('\n')).toHaveLength(1);
  });

  it('maps a JSON parse error to json.syntax', () => {
    const f = errorFinding(
      thrown(() => JSON.parse('{"a": }')),
      'schemas/input.json',
    )!;
    expect(f).toMatchObject({ file: 'schemas/input.json', code: 'json.syntax' });
    expect(f.message).toMatch(/fix the JSON$/);
  });

  it('leaves other errors (bugs) alone', () => {
    expect(errorFinding(new TypeError('x is undefined'), 'f')).toBeUndefined();
  });
});
