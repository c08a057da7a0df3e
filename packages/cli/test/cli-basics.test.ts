import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HUB_BIN, REPO_ROOT, runHub } from './run-hub';

const BROKEN = join(REPO_ROOT, 'packages/core/test/fixtures/broken-catalog');

describe('hub command line', () => {
  it('lists its commands and exit codes in --help', () => {
    const r = runHub(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['scaffold', 'lint', 'pack', 'validate', 'build']) expect(r.stdout).toContain(c);
    expect(r.stdout).toMatch(/Exit codes/);
  });

  it('--version and -v print the version in packages/cli/package.json', () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/cli/package.json'), 'utf8'));
    for (const flag of ['--version', '-v']) {
      const r = runHub([flag]);
      expect(r.code, flag).toBe(0);
      expect(r.stdout, flag).toBe(`${version}\n`);
    }
  });

  it('hub help is hub --help, and hub help <command> is hub <command> --help', () => {
    const help = runHub(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(runHub(['--help']).stdout);
    expect(help.stdout).toContain('hub help <command>');
    for (const c of ['scaffold', 'pack', 'build']) {
      const r = runHub(['help', c]);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toBe(runHub([c, '--help']).stdout);
      expect(r.stdout, c).toMatch(new RegExp(`^Usage: hub ${c}`));
    }
  });

  it('hub help <unknown> exits 2 and lists the commands', () => {
    const r = runHub(['help', 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stderr).toContain(
      'scaffold, lint, test, pack, publish, yank, validate, build, serve, verify, upload, mirror, keys',
    );
  });

  it('without a compiled build, bin/hub.js says in one line how to build it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hub-nobuild-'));
    try {
      mkdirSync(join(dir, 'bin'));
      copyFileSync(HUB_BIN, join(dir, 'bin', 'hub.js'));
      const r = spawnSync(process.execPath, [join(dir, 'bin', 'hub.js'), '--help'], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('npm run build');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
