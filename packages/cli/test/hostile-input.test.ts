import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runHub } from './run-hub';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-hostile-cli-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true, maxRetries: 3 }));

/** A private copy of the starter catalog, inside a work dir that also holds the build output. */
function workspace(): { work: string; catalog: string } {
  const work = mkdtempSync(join(ROOT, 'ws-'));
  const catalog = join(work, 'catalog');
  cpSync(join(REPO_ROOT, 'catalog'), catalog, { recursive: true });
  return { work, catalog };
}

/** Every path under `dir`, to show that a failed command wrote nothing. */
const listing = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

// An ESC sequence that would turn a terminal red, a BEL, a CR that rewrites the line, a C1 CSI and
// a right-to-left override: none may reach the terminal raw.
const NASTY = 'x\x1b[31mred\x07\r\u009b2J\u202egnp';
/** Whether any character of NASTY that must be escaped appears raw. */
const hasRaw = (text: string) => ['\x07', '\x1b', '\r', '\u009b', '\u202e'].some((c) => text.includes(c));

describe('hub validate and build on hostile catalogs', () => {
  it('reports a FIFO entry and a link to a device without hanging, in text and JSON', () => {
    const { work, catalog } = workspace();
    execFileSync('mkfifo', [join(catalog, 'plugins/fft/9.9.9.yaml')]);
    symlinkSync('/dev/zero', join(catalog, 'plugins/ctf/9.9.9.yaml'));
    const text = runHub(['validate', 'catalog', '--no-archives'], work);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/catalog\/plugins\/fft\/9\.9\.9\.yaml: path\.not-regular-file: /);
    expect(text.stdout).toMatch(/catalog\/plugins\/ctf\/9\.9\.9\.yaml: path\.outside-tree: /);
    const json = runHub(['validate', 'catalog', '--format', 'json'], work);
    expect(json.code).toBe(1);
    const findings = JSON.parse(json.stdout) as Array<{ file: string; code: string }>;
    expect(findings.map((f) => f.code).sort()).toEqual(['path.not-regular-file', 'path.outside-tree']);
  });

  it('never reads, hashes or copies an archive linked from outside the catalog', () => {
    const { work, catalog } = workspace();
    const outside = join(work, 'elsewhere.mpn');
    cpSync(join(catalog, 'assets/plugins/fft-1.0.0.mpn'), outside);
    unlinkSync(join(catalog, 'assets/plugins/fft-1.0.0.mpn'));
    symlinkSync(outside, join(catalog, 'assets/plugins/fft-1.0.0.mpn'));
    const validate = runHub(['validate', 'catalog'], work);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toMatch(/catalog\/plugins\/fft\/1\.0\.0\.yaml:\d+:\d+: path\.outside-tree: /);
    const before = listing(work);
    const build = runHub(['build', 'catalog', '--out', 'dist'], work);
    expect(build.code).toBe(1);
    expect(build.stdout).toMatch(/path\.outside-tree/);
    expect(listing(work)).toEqual(before);
  });

  it('reports malformed and encoded-traversal archive URLs at their line, and builds nothing', () => {
    const { work, catalog } = workspace();
    const edit = (file: string, url: string) => {
      const path = join(catalog, file);
      writeFileSync(path, readFileSync(path, 'utf8').replace(/url: .*/, `url: ${url}`));
    };
    edit('plugins/fft/1.0.0.yaml', '/assets/plugins/fft%zz.mpn');
    edit('plugins/ctf/1.0.0.yaml', '/assets/plugins/%2e%2e/%2e%2e/maintainers.yaml');
    const r = runHub(['validate', 'catalog'], work);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/catalog\/plugins\/fft\/1\.0\.0\.yaml:\d+:\d+: archive\.bad-url: .*malformed/);
    expect(r.stdout).toMatch(/catalog\/plugins\/ctf\/1\.0\.0\.yaml:\d+:\d+: archive\.bad-url: /);
    const before = listing(work);
    expect(runHub(['build', 'catalog', '--out', 'dist'], work).code).toBe(1);
    expect(listing(work)).toEqual(before);
  });

  it('refuses an oversized entry by its bytes and goes on with the rest', () => {
    const { work, catalog } = workspace();
    writeFileSync(join(catalog, 'plugins/fft/9.9.9.yaml'), `description: "${'é'.repeat(40_000)}"\n`);
    const r = runHub(['validate', 'catalog', '--no-archives'], work);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/9\.9\.9\.yaml: yaml\.too-large: is 80\d{3} bytes/);
    expect(r.stderr).toMatch(/15 valid entries/);
  });

  it('fails the build, leaving the previous output as it was, when an archive is missing or differs', () => {
    const { work, catalog } = workspace();
    expect(runHub(['build', 'catalog', '--out', 'dist'], work).code).toBe(0);
    const before = listing(join(work, 'dist'));
    const index = readFileSync(join(work, 'dist/v1/index.json'));
    unlinkSync(join(catalog, 'assets/plugins/ptolemy-0.2.0.mpn'));
    const r = runHub(['build', 'catalog', '--out', 'dist'], work);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/catalog\/plugins\/ptolemy\/0\.2\.0\.yaml:\d+:\d+: archive\.missing/);
    expect(listing(join(work, 'dist'))).toEqual(before);
    expect(readFileSync(join(work, 'dist/v1/index.json')).equals(index)).toBe(true);
  });

  it('refuses to build into the catalog or a folder inside it', () => {
    const { work } = workspace();
    const before = listing(work);
    for (const out of ['catalog', 'catalog/dist', 'catalog/plugins/fft/dist']) {
      const r = runHub(['build', 'catalog', '--out', out], work);
      expect(r.code, out).toBe(1);
      expect(r.stderr, out).toMatch(/build\.bad-out/);
    }
    expect(listing(work)).toEqual(before);
  });
});

describe('a catalog folder hub may not read', () => {
  it('is one finding, exit 1, and every other entry is still checked (run as nobody when root)', () => {
    const { work, catalog } = workspace();
    // The repo may sit where another user cannot read it: that user runs a copy of the compiled CLI.
    const cli = join(work, 'cli');
    for (const part of ['bin', 'dist'])
      cpSync(join(REPO_ROOT, 'packages/cli', part), join(cli, part), { recursive: true });
    writeFileSync(join(cli, 'package.json'), '{"type":"module"}\n');
    for (const dir of [ROOT, work, catalog]) chmodSync(dir, 0o755);
    chmodSync(join(catalog, 'plugins', 'fft'), 0o000);
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = spawnSync(
      process.execPath,
      [join(cli, 'bin', 'hub.js'), 'validate', 'catalog', '--no-archives'],
      {
        cwd: work,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
        ...asNobody,
      },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/catalog\/plugins\/fft: catalog\.unreadable: .*permission denied \(EACCES\)/);
    expect(r.stderr).toMatch(/12 valid entries in 8 plugins; 1 error/);
  });
});

describe('strings from input never reach the terminal raw', () => {
  it('escapes a hostile plugin folder name and YAML key in text, GitHub and JSON output', () => {
    const { work, catalog } = workspace();
    cpSync(join(catalog, 'plugins/fft'), join(catalog, `plugins/${NASTY}`), { recursive: true });
    const entry = join(catalog, 'plugins/ctf/1.0.0.yaml');
    writeFileSync(entry, `${readFileSync(entry, 'utf8')}"${NASTY}": 1\n`);
    for (const format of ['text', 'github', 'json']) {
      const r = runHub(['validate', 'catalog', '--no-archives', '--format', format], work);
      expect(r.code, format).toBe(1);
      expect(hasRaw(r.stdout), format).toBe(false);
      expect(hasRaw(r.stderr), format).toBe(false);
      if (format !== 'json') expect(r.stdout, format).toContain('x\\e[31mred\\x07\\r\\x9b2J\\u{202e}gnp');
    }
    const json = JSON.parse(runHub(['validate', 'catalog', '--format', 'json'], work).stdout) as Array<{
      file: string;
      message: string;
    }>;
    // JSON keeps the exact strings (escaped as \u sequences in the text, restored by any parser).
    expect(json.some((f) => f.file.includes(NASTY) || f.message.includes(NASTY))).toBe(true);
  });

  it('escapes hostile command-line arguments in usage errors', () => {
    const r = runHub([NASTY]);
    expect(r.code).toBe(2);
    expect(hasRaw(r.stderr)).toBe(false);
    const flag = runHub(['validate', `--${NASTY}`]);
    expect(flag.code).toBe(2);
    expect(hasRaw(flag.stderr)).toBe(false);
  });
});

describe('--format json is valid JSON on every failure path', () => {
  const parses = (text: string) => expect(() => JSON.parse(text), text).not.toThrow();

  it('for a missing catalog, a file given as the catalog, bad usage and a missing lint target', () => {
    const work = mkdtempSync(join(ROOT, 'json-'));
    writeFileSync(join(work, 'a-file'), 'x');
    const runs = [
      runHub(['validate', 'no/such/catalog', '--format', 'json'], work),
      runHub(['validate', 'a-file', '--format', 'json'], work),
      runHub(['validate', '--format', 'json', '--bogus'], work),
      runHub(['lint', 'no-such-plugin', '--format', 'json'], work),
      runHub(['lint', 'a-file', '--format', 'json'], work),
    ];
    for (const r of runs) {
      expect(r.code).not.toBe(0);
      parses(r.stdout);
      expect((JSON.parse(r.stdout) as unknown[]).length).toBeGreaterThan(0);
    }
    expect(existsSync(join(work, 'dist'))).toBe(false);
  });
});
