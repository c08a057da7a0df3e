import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readManifest, readZipEntry } from '@magellon/hub-core/node';
import { buildZip, hashZip, type RawEntry } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKED_FILES, writeFixturePlugin } from './plugin-fixture';
import { runHub } from './run-hub';

// Every temp dir this file makes lives under one root, removed at the end.
const ROOT = mkdtempSync(join(tmpdir(), 'hub-pack-lint-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));
const tmp = (prefix: string) => mkdtempSync(join(ROOT, prefix));

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const shaFrom = (stdout: string) => /sha256\s+([0-9a-f]{64})/.exec(stdout)?.[1];

describe('hub pack', () => {
  let dir: string;
  let archive: string;
  let firstSha: string;

  beforeAll(() => {
    dir = writeFixturePlugin(tmp('pack-'));
    archive = join(dirname(dir), 'tiny-plugin-0.3.0.mpn');
    const r = runHub(['pack', dir]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    firstSha = shaFrom(r.stdout)!;
  });

  it('writes <id>-<version>.mpn beside the dir and prints its real sha256', () => {
    expect(existsSync(archive)).toBe(true);
    expect(firstSha).toBe(sha256(archive));
  });

  it('packs only the plugin files, plus manifest.yaml and an identical plugin.yaml', async () => {
    const digests = await hashZip(archive);
    expect(digests.map((d) => d.name)).toEqual([...PACKED_FILES, 'manifest.yaml', 'plugin.yaml'].sort());
    const manifest = digests.find((d) => d.name === 'manifest.yaml')!;
    expect(digests.find((d) => d.name === 'plugin.yaml')!.sha256).toBe(manifest.sha256);
    const text = (await readZipEntry(archive, 'manifest.yaml', 1 << 20)).toString('utf8');
    expect(text).toContain('# A test plugin; archive_id is rewritten by pack.');
    const read = readManifest(text, 'manifest.yaml');
    if (!read.ok) throw new Error('packed manifest does not parse');
    expect(Object.keys(read.manifest.file_checksums).sort()).toEqual(PACKED_FILES);
    for (const d of digests)
      if (PACKED_FILES.includes(d.name)) expect(read.manifest.file_checksums[d.name]).toBe(d.sha256);
    expect(read.manifest.archive_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(read.manifest.archive_id).not.toBe('00000000-0000-7000-8000-000000000000');
  });

  it('refuses to overwrite without --force and leaves the archive as it was', () => {
    const r = runHub(['pack', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists; pass --force/);
    expect(sha256(archive)).toBe(firstSha);
  });

  it('is reproducible: packing again, or a copy with other timestamps elsewhere, gives the same sha256', () => {
    const again = runHub(['pack', dir, '--force']);
    expect(again.code).toBe(0);
    expect(shaFrom(again.stdout)).toBe(firstSha);
    const copy = join(tmp('copy-'), 'tiny-plugin');
    cpSync(dir, copy, { recursive: true });
    utimesSync(join(copy, 'main.py'), new Date('2031-01-01'), new Date('2031-01-01'));
    const other = runHub(['pack', copy]);
    expect(other.code).toBe(0);
    expect(shaFrom(other.stdout)).toBe(firstSha);
  });

  it('--fresh-id gives a new archive_id and so a new sha256', () => {
    const out = join(tmp('fresh-'), 'fresh.mpn');
    const r = runHub(['pack', dir, '--fresh-id', '--out', out]);
    expect(r.code).toBe(0);
    expect(sha256(out)).not.toBe(firstSha);
  });

  it('changing one byte of a plugin file changes the sha256', () => {
    const copy = join(tmp('edit-'), 'tiny-plugin');
    cpSync(dir, copy, { recursive: true });
    writeFileSync(join(copy, 'main.py'), 'print("tiny!")\n');
    const r = runHub(['pack', copy]);
    expect(shaFrom(r.stdout)).not.toBe(firstSha);
  });

  it('refuses a dir whose install entry points at a missing file, naming it', () => {
    const copy = join(tmp('broken-'), 'tiny-plugin');
    cpSync(dir, copy, { recursive: true, filter: (p) => !p.endsWith('Dockerfile') });
    const r = runHub(['pack', copy]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /tiny-plugin\/manifest\.yaml:16:\d+: lint\.install-file-missing: install\[1\] \(docker\) needs dockerfile "Dockerfile"/,
    );
    expect(existsSync(join(dirname(copy), 'tiny-plugin-0.3.0.mpn'))).toBe(false);
  });

  it('refuses to pack files the hub would refuse (names that collide on case-insensitive disks)', () => {
    const copy = join(tmp('case-'), 'tiny-plugin');
    cpSync(dir, copy, { recursive: true });
    writeFileSync(join(copy, 'README.md'), 'a');
    writeFileSync(join(copy, 'readme.md'), 'b');
    // Lint (which pack runs first) judges the names as the archive's reader will, so nothing is written.
    const lint = runHub(['lint', copy]);
    expect(lint.code).toBe(1);
    expect(lint.stdout).toMatch(
      /^tiny-plugin\/readme\.md: zip\.case-collision: .*differs from "README\.md" only in case/m,
    );
    const r = runHub(['pack', copy]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/zip\.case-collision/);
    expect(r.stderr).toContain('✖ not packed: 1 error');
    expect(readdirSync(dirname(copy))).toEqual(['tiny-plugin']);
  });

  it('hub lint passes on the packed archive and on the dir', () => {
    const onArchive = runHub(['lint', archive]);
    expect(onArchive.code, onArchive.stdout).toBe(0);
    expect(onArchive.stderr).toContain('tiny-plugin 0.3.0');
    expect(runHub(['lint', dir]).code).toBe(0);
  });
});

describe('hub lint: YAML that reads otherwise than it is written', () => {
  /** Lints the fixture plugin with its manifest changed; `quotes` counts "quote it" and "(quoted)" in the output. */
  function lintWith(change: (manifest: string) => string) {
    const dir = writeFixturePlugin(tmp('yaml-'));
    const manifest = join(dir, 'manifest.yaml');
    const text = change(readFileSync(manifest, 'utf8'));
    writeFileSync(manifest, text);
    const r = runHub(['lint', dir]);
    const line = (needle: string) => text.split('\n').findIndex((l) => l.startsWith(needle)) + 1;
    return { ...r, line, quotes: (r.stdout + r.stderr).match(/quote it|\(quoted\)/g)?.length ?? 0 };
  }

  it('restart_policy: no is a YAML 1.1 boolean: one warning with the value as written, saying "quote it" once', () => {
    const r = lintWith((t) => `${t}lifecycle:\n  restart_policy: no\n`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `tiny-plugin/manifest.yaml:${r.line('  restart_policy')}:19: warning lint.unquoted-boolean: \`no\` is read as a boolean; quote it: restart_policy: "no"\n`,
    );
    expect(r.quotes).toBe(1);
    expect(lintWith((t) => `${t}lifecycle:\n  restart_policy: "no"\n`).stdout).toBe('');
  });

  it('a boolean where only a string will do is an error, with the value as written and "quote it" once', () => {
    const r = lintWith((t) => t.replace('author: "Hub tests"', 'author: Off'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `tiny-plugin/manifest.yaml:${r.line('author:')}:9: manifest.invalid-type: \`Off\` is read as a boolean; quote it: author: "Off"\n`,
    );
    expect(r.quotes).toBe(1);
  });

  it('version: 1.0 is a number: one error with the value as written and what a version must be', () => {
    const r = lintWith((t) => t.replace('version: 0.3.0', 'version: 1.0'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `tiny-plugin/manifest.yaml:${r.line('version:')}:10: manifest.invalid-semver: \`1.0\` is read as a number; a version must be SemVer such as "1.0.0" (quoted)\n`,
    );
    expect(r.quotes).toBe(1);
  });
});

describe('hub lint on hostile archives', () => {
  let entries: RawEntry[];
  let manifestText: string;

  beforeAll(async () => {
    const dir = writeFixturePlugin(tmp('pack-'));
    expect(runHub(['pack', dir]).code).toBe(0);
    const archive = join(dirname(dir), 'tiny-plugin-0.3.0.mpn');
    entries = [];
    for (const d of await hashZip(archive)) {
      entries.push({
        name: d.name,
        data: await readZipEntry(archive, d.name, 1 << 20),
        method: 'deflate',
        mode: 0o100644,
      });
    }
    manifestText = entries.find((e) => e.name === 'manifest.yaml')!.data!.toString('utf8');
  });

  const cases: Array<[string, () => RawEntry[], RegExp]> = [
    [
      'zip-slip',
      () => [...entries, { name: '../evil.py', data: Buffer.from('owned') }],
      /zip\.path-traversal: entry "\.\.\/evil\.py"/,
    ],
    [
      'absolute path',
      () => [...entries, { name: '/tmp/evil.py', data: Buffer.from('owned') }],
      /zip\.absolute-path/,
    ],
    [
      'symlink',
      () => [...entries, { name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 }],
      /zip\.symlink: entry "link"/,
    ],
    [
      'compression bomb',
      () => [...entries, { name: 'bomb.bin', data: Buffer.alloc(64 * 1024 * 1024), method: 'deflate' }],
      /zip\.compression-ratio/,
    ],
    ['duplicate names', () => [...entries, { ...entries[0]! }], /zip\.duplicate-entry/],
    [
      'unlisted file',
      () => [...entries, { name: 'extra.py', data: Buffer.from('print(1)\n') }],
      /archive\.unlisted-file: "extra\.py"/,
    ],
    [
      'changed file',
      () =>
        entries.map((e) => (e.name === 'main.py' ? { ...e, data: Buffer.from('print("changed")\n') } : e)),
      /archive\.checksum-mismatch: "main\.py"/,
    ],
    [
      'plugin.yaml differs',
      () =>
        entries.map((e) =>
          e.name === 'plugin.yaml' ? { ...e, data: Buffer.from(manifestText.replace('Tiny', 'Tiny!')) } : e,
        ),
      /archive\.plugin-yaml-differs/,
    ],
    ['no manifest', () => entries.filter((e) => e.name !== 'manifest.yaml'), /archive\.no-manifest/],
  ];

  for (const [label, make, reason] of cases) {
    // (lint never extracts, so there is nothing to check on disk: extraction is tested in the zip tests.)
    it(`${label}: fails with a named reason, exit 1`, () => {
      const sandbox = tmp('hostile-');
      const file = join(sandbox, 'pkg', 'hostile.mpn');
      cpSync(writeZipTo(make()), file);
      const r = runHub(['lint', file], join(sandbox, 'pkg'));
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(reason);
    });
  }
});

function writeZipTo(entries: RawEntry[]): string {
  const file = join(tmp('zip-'), 'x.mpn');
  writeFileSync(file, buildZip(entries));
  return file;
}
