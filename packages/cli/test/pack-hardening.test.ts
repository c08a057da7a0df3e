import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PackError, packPlugin, readManifest, readZipEntry } from '@magellon/hub-core/node';
import { scanZip } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFixturePlugin } from './plugin-fixture';
import { runHub } from './run-hub';

// Every temp dir this file makes lives under one root, removed at the end.
const ROOT = mkdtempSync(join(tmpdir(), 'hub-pack-hardening-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
/** Every path under `dir`, recursively, hidden ones included, for before/after comparisons. */
const listTree = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

/** A fresh sandbox holding the fixture plugin at `<sandbox>/tiny-plugin`. */
function sandbox(): { box: string; dir: string } {
  const box = mkdtempSync(join(ROOT, 'box-'));
  return { box, dir: writeFixturePlugin(box) };
}

async function packedManifest(archive: string) {
  const read = readManifest((await readZipEntry(archive, 'manifest.yaml', 1 << 20)).toString('utf8'), 'm');
  if (!read.ok) throw new Error('packed manifest does not parse');
  return read.manifest;
}

describe('hub pack: time stamps', () => {
  it('stamps SOURCE_DATE_EPOCH as the manifest’s updated, and another epoch gives other bytes', async () => {
    const { box, dir } = sandbox();
    const a = join(box, 'a.mpn');
    const b = join(box, 'b.mpn');
    expect(runHub(['pack', dir, '--out', a], box, { SOURCE_DATE_EPOCH: '1750000000' }).code).toBe(0);
    expect(runHub(['pack', dir, '--out', b], box, { SOURCE_DATE_EPOCH: '1760000000' }).code).toBe(0);
    expect((await packedManifest(a)).updated).toBe('2025-06-15T15:06:40.000Z');
    expect((await packedManifest(b)).updated).toBe(new Date(1_760_000_000_000).toISOString());
    expect(sha256(a)).not.toBe(sha256(b));
  });

  it('gives the same bytes in any time zone, with DOS times that read as the UTC stamp', () => {
    const { box, dir } = sandbox();
    const shas = ['UTC', 'America/New_York', 'Asia/Kolkata'].map((tz) => {
      const out = join(box, `${tz.replace('/', '-')}.mpn`);
      const r = runHub(['pack', dir, '--out', out], box, { TZ: tz, SOURCE_DATE_EPOCH: '1750000000' });
      expect(r.code, r.stderr).toBe(0);
      return sha256(out);
    });
    expect(new Set(shas).size).toBe(1);
    // The first local header's DOS time and date: 2025-06-15 15:06:40 (UTC).
    const bytes = readFileSync(join(box, 'America-New_York.mpn'));
    const time = bytes.readUInt16LE(10);
    const date = bytes.readUInt16LE(12);
    expect([(date >> 9) + 1980, (date >> 5) & 15, date & 31]).toEqual([2025, 6, 15]);
    expect([time >> 11, (time >> 5) & 63, (time & 31) * 2]).toEqual([15, 6, 40]);
  });
});

describe('hub pack: links, FIFOs and loops', () => {
  it('refuses a symlink leaving the plugin dir, naming it, and writes nothing', () => {
    const { box, dir } = sandbox();
    writeFileSync(join(box, 'host-secret.txt'), 'SECRET=1\n');
    symlinkSync('../host-secret.txt', join(dir, 'config.txt'));
    const before = listTree(box);
    const r = runHub(['pack', dir], box);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(
      /pack\.link-outside: config\.txt is a symbolic link to \.\.\/host-secret\.txt/,
    );
    expect(listTree(box)).toEqual(before);
    // lint sees the same files pack sees, so it refuses the link too.
    const lint = runHub(['lint', dir], box);
    expect(lint.code).toBe(1);
    expect(lint.stdout).toMatch(/tiny-plugin\/config\.txt: pack\.link-outside/);
  });

  it('a manifest.yaml linked from outside the dir is refused too', () => {
    const { box, dir } = sandbox();
    mkdirSync(join(box, 'elsewhere'));
    cpSync(join(dir, 'manifest.yaml'), join(box, 'elsewhere', 'manifest.yaml'));
    rmSync(join(dir, 'manifest.yaml'));
    symlinkSync('../elsewhere/manifest.yaml', join(dir, 'manifest.yaml'));
    const r = runHub(['pack', dir], box);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/pack\.link-outside: manifest\.yaml is a symbolic link/);
    expect(existsSync(join(box, 'tiny-plugin-0.3.0.mpn'))).toBe(false);
    const followed = runHub(['pack', dir, '--follow-links'], box);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stderr).toContain('note: followed link manifest.yaml →');
  });

  it('--follow-links packs the target and lists every link it followed', async () => {
    const { box, dir } = sandbox();
    writeFileSync(join(box, 'shared.py'), 'SHARED = 1\n');
    mkdirSync(join(box, 'shared-dir'));
    writeFileSync(join(box, 'shared-dir', 'util.py'), 'UTIL = 2\n');
    symlinkSync('../shared.py', join(dir, 'shared.py'));
    symlinkSync(join(box, 'shared-dir'), join(dir, 'lib'));
    const out = join(box, 'out.mpn');
    const r = runHub(['pack', dir, '--follow-links', '--out', out], box);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain(`note: followed link lib → ${join(box, 'shared-dir')}`);
    expect(r.stderr).toContain(`note: followed link shared.py → ${join(box, 'shared.py')}`);
    expect((await readZipEntry(out, 'shared.py', 1024)).toString()).toBe('SHARED = 1\n');
    expect((await readZipEntry(out, 'lib/util.py', 1024)).toString()).toBe('UTIL = 2\n');
    expect(runHub(['lint', dir, '--follow-links'], box).code).toBe(0);
  });

  it('never opens a FIFO in the plugin dir (or behind a link): it is skipped with a note, no hang', async () => {
    const { box, dir } = sandbox();
    if (spawnSync('mkfifo', [join(dir, 'pipe')]).status !== 0) throw new Error('mkfifo failed');
    symlinkSync('pipe', join(dir, 'to-pipe'));
    const out = join(box, 'out.mpn');
    const r = runHub(['pack', dir, '--out', out], box);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: skipped pipe \(a FIFO, socket or device/);
    expect(r.stderr).toMatch(/note: skipped to-pipe \(links to a FIFO/);
    const names = (await scanZip(out)).map((e) => e.name);
    expect(names).not.toContain('pipe');
    expect(names).not.toContain('to-pipe');
  });

  it('a symlink loop is a clean error, and so is a followed link back into its own folder', () => {
    const { box, dir } = sandbox();
    symlinkSync('b', join(dir, 'a'));
    symlinkSync('a', join(dir, 'b'));
    const r = runHub(['pack', dir], box);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/pack\.link-loop: a is a loop of symbolic links/);

    const other = sandbox();
    symlinkSync('..', join(other.dir, 'plugin', 'up'));
    const plain = runHub(['pack', other.dir, '--out', join(other.box, 'x.mpn')], other.box);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/note: skipped plugin\/up \(symlinked folder\)/);
    const followed = runHub(
      ['pack', other.dir, '--follow-links', '--out', join(other.box, 'y.mpn')],
      other.box,
    );
    expect(followed.code).toBe(1);
    expect(followed.stdout + followed.stderr).toMatch(
      /pack\.link-loop: plugin\/up links to .*, a folder that contains it/,
    );
    expect(existsSync(join(other.box, 'y.mpn'))).toBe(false);
  });
});

describe('hub pack: output paths', () => {
  for (const version of ['../../x', '1.0.0/evil', '.hidden', '1.0..0']) {
    it(`refuses version ${JSON.stringify(version)} before building any path from it`, async () => {
      const { box, dir } = sandbox();
      const manifest = join(dir, 'manifest.yaml');
      writeFileSync(
        manifest,
        readFileSync(manifest, 'utf8').replace('version: 0.3.0', `version: "${version}"`),
      );
      const before = listTree(dirname(box));
      // Lint, which pack runs first, refuses it as the catalog would (not SemVer)…
      const r = runHub(['pack', dir, '--force'], box);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^tiny-plugin\/manifest\.yaml:\d+:\d+: entry\.invalid-semver: /m);
      expect(r.stderr).toContain('✖ not packed: 1 error');
      expect(listTree(dirname(box))).toEqual(before);
      // …and pack's own guard refuses it before building a path, whoever calls it.
      const packed = await packPlugin(dir, { force: true }).catch((err: unknown) => err);
      expect(packed).toBeInstanceOf(PackError);
      expect((packed as PackError).code).toBe('pack.unsafe-name');
      expect(listTree(dirname(box))).toEqual(before);
    });
  }

  const cases: Array<[string, (box: string, dir: string) => string, string]> = [
    ['a directory', (box) => box, 'pack.out-is-dir'],
    ['the plugin dir itself', (_box, dir) => dir, 'pack.out-is-dir'],
    ['a file in a missing folder', (box) => join(box, 'no', 'such', 'x.mpn'), 'pack.out-parent-missing'],
    ['a file under a regular file', (_box, dir) => join(dir, 'main.py', 'x.mpn'), 'pack.out-parent-missing'],
    ['a file inside the plugin dir', (_box, dir) => join(dir, 'dist', '..', 'x.mpn'), 'pack.out-in-source'],
  ];
  for (const [label, target, code] of cases) {
    it(`--out onto ${label} fails with ${code} and writes nothing`, () => {
      const { box, dir } = sandbox();
      const before = listTree(box);
      const r = runHub(['pack', dir, '--out', target(box, dir), '--force'], box);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${code}:`);
      expect(listTree(box)).toEqual(before);
    });
  }

  it('--force that fails keeps the old archive byte for byte, and leaves no temp file', () => {
    const { box, dir } = sandbox();
    const out = join(box, 'out', 'tiny.mpn');
    mkdirSync(dirname(out));
    expect(runHub(['pack', dir, '--out', out], box).code).toBe(0);
    const old = sha256(out);
    // 4 MiB of zeros deflate over the ratio limit: the archive pack writes fails its own check.
    writeFileSync(join(dir, 'zeros.bin'), Buffer.alloc(4 * 1024 * 1024));
    const r = runHub(['pack', dir, '--out', out, '--force'], box);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('pack.unsafe-archive');
    expect(sha256(out)).toBe(old);
    expect(readdirSync(dirname(out))).toEqual(['tiny.mpn']);
  });

  it('--force replaces the archive when the pack succeeds', () => {
    const { box, dir } = sandbox();
    const out = join(box, 'tiny.mpn');
    writeFileSync(out, 'an old archive');
    const r = runHub(['pack', dir, '--out', out, '--force'], box);
    expect(r.code).toBe(0);
    expect(readFileSync(out).subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    expect(readdirSync(box).sort()).toEqual(['tiny-plugin', 'tiny.mpn']);
  });
});

describe('hub pack: stored or deflated, by content', () => {
  it('stores what does not compress, deflates text, and stays reproducible', async () => {
    const { box, dir } = sandbox();
    writeFileSync(join(dir, 'weights.bin'), randomBytes(600 * 1024));
    writeFileSync(join(dir, 'model.pt'), Buffer.concat([Buffer.alloc(2048), randomBytes(1024 * 1024)]));
    writeFileSync(join(dir, 'notes.txt'), 'the same line of notes, again and again\n'.repeat(20_000));
    writeFileSync(join(dir, 'not-really.png'), 'text in a file named like an image\n'.repeat(1000));
    const out = join(box, 'a.mpn');
    const r = runHub(['pack', dir, '--out', out], box);
    expect(r.code, r.stderr).toBe(0);
    const entries = new Map((await scanZip(out)).map((e) => [e.name, e]));
    const stored = (name: string) => entries.get(name)!.compressedSize === entries.get(name)!.size;
    expect(stored('weights.bin')).toBe(true);
    expect(stored('model.pt')).toBe(true); // a compressible header does not decide for the whole file
    expect(stored('not-really.png')).toBe(true); // a compressed type is not tried
    expect(stored('notes.txt')).toBe(false);
    expect(entries.get('notes.txt')!.compressedSize).toBeLessThan(entries.get('notes.txt')!.size / 10);
    expect(stored('main.py')).toBe(true); // 14 bytes: deflate would not save anything
    expect(stored('plugin/compute.py')).toBe(true);

    // The same tree elsewhere packs to the same bytes.
    const copy = join(mkdtempSync(join(ROOT, 'copy-')), 'tiny-plugin');
    cpSync(dir, copy, { recursive: true });
    expect(runHub(['pack', copy, '--out', join(box, 'b.mpn')], box).code).toBe(0);
    expect(sha256(join(box, 'b.mpn'))).toBe(sha256(out));
  });
});

describe('hub lint: misspelled manifest keys', () => {
  it('warns "did you mean" at the key’s line; --strict makes it fail', () => {
    const { box, dir } = sandbox();
    const manifest = join(dir, 'manifest.yaml');
    writeFileSync(
      manifest,
      readFileSync(manifest, 'utf8').replace('ui: null', 'ui: null\nrequirs: [broker]'),
    );
    const r = runHub(['lint', dir], box);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /tiny-plugin\/manifest\.yaml:20:1: warning lint\.misspelled-key: unknown key "requirs": did you mean "requires"\?/,
    );
    expect(runHub(['lint', dir, '--strict'], box).code).toBe(1);
  });
});
