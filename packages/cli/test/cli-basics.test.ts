import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runHub } from './run-hub';

const BROKEN = join(REPO_ROOT, 'packages/core/test/fixtures/broken-catalog');

describe('hub command line', () => {
  it('lists its commands and exit codes in --help', () => {
    const r = runHub(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['scaffold', 'lint', 'pack', 'validate', 'build']) expect(r.stdout).toContain(c);
    expect(r.stdout).toMatch(/Exit codes/);
  });

  it('every command has --help', () => {
    for (const c of ['scaffold', 'lint', 'pack', 'validate', 'build']) {
      const r = runHub([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`Usage: hub ${c}`));
      expect(r.stdout, c).toMatch(/Exit codes/);
    }
  });

  it('exits 2 with a pointer to --help on bad usage', () => {
    const unknown = runHub(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const flag = runHub(['validate', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/bogus/);
    expect(flag.stderr).toContain('hub validate --help');
    expect(runHub(['lint']).code).toBe(2);
  });

  it('hub validate on the broken fixtures exits 1 and prints one finding per problem with file and line', () => {
    const r = runHub(['validate', 'packages/core/test/fixtures/broken-catalog']);
    expect(r.code).toBe(1);
    const expected: Array<{ file: string; line: number | null; code: string }> = JSON.parse(
      readFileSync(join(BROKEN, 'expected-findings.json'), 'utf8'),
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(expected.length);
    for (const e of expected) {
      const where =
        e.line === null
          ? `${join('packages/core/test/fixtures/broken-catalog', e.file)}: `
          : `${join('packages/core/test/fixtures/broken-catalog', e.file)}:${e.line}:`;
      expect(
        lines.filter((l) => l.startsWith(where) && l.includes(` ${e.code}: `)),
        `${e.file} ${e.code}`,
      ).toHaveLength(1);
    }
    expect(r.stderr).toMatch(/✖ .* 15 errors/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('hub validate --format github prints workflow annotations', () => {
    const r = runHub(['validate', 'packages/core/test/fixtures/broken-catalog', '--format', 'github']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^::error file=packages\/core\/test\/fixtures\/broken-catalog\/plugins\/bad-tier\/1\.0\.0\.yaml,line=8,col=\d+,title=entry\.invalid-tier::/m,
    );
  });

  it('hub validate reports a missing catalog as one clear finding', () => {
    const r = runHub(['validate', 'no/such/catalog']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/catalog\.not-found: no\/such\/catalog does not exist \(ENOENT\)/);
  });
});
