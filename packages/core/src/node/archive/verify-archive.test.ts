import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildYazlZip, hashZip, makeTempDir } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPlugin } from '../pack';
import { readZipEntry } from '../zip';
import { verifyArchive } from './verify-archive';

let root: string;
/** The files of a real packed plugin, to rebuild variants of it. */
let files: { name: string; data: Buffer }[];

beforeAll(async () => {
  root = await makeTempDir();
  const plugin = path.join(root, 'fft');
  await cp(path.resolve(__dirname, '../../../../../examples/plugins/fft'), plugin, {
    recursive: true,
    dereference: true,
  });
  const packed = await packPlugin(plugin, { out: path.join(root, 'fft.mpn') });
  files = [];
  for (const digest of await hashZip(packed.file)) {
    files.push({ name: digest.name, data: await readZipEntry(packed.file, digest.name, 1 << 20) });
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let counter = 0;
async function archiveOf(change: (name: string, data: Buffer) => Buffer): Promise<string> {
  counter += 1;
  const file = path.join(root, `variant-${counter}.mpn`);
  await writeFile(
    file,
    await buildYazlZip(files.map(({ name, data }) => ({ name, data: change(name, data) }))),
  );
  return file;
}

/**
 * An archive with `changed` files (added or replaced) listed correctly in file_checksums, and the
 * manifest (both copies) changed by `manifest`: only what the test means is wrong with it.
 */
async function listedArchive(
  changed: Record<string, string>,
  manifest = (t: string) => t,
  unlisted: Record<string, string> = {},
): Promise<string> {
  const digest = (text: string) => createHash('sha256').update(text).digest('hex');
  let text = manifest(files.find((f) => f.name === 'manifest.yaml')!.data.toString('utf8'));
  for (const [name, data] of Object.entries(changed)) {
    const line = `  ${name}: ${digest(data)}`;
    const listed = new RegExp(`^  ${name.replace(/[.]/g, '\\.')}: [0-9a-f]{64}$`, 'm');
    text = listed.test(text)
      ? text.replace(listed, line)
      : text.replace('file_checksums:\n', `file_checksums:\n${line}\n`);
  }
  const all = new Map(files.map(({ name, data }) => [name, data]));
  for (const [name, data] of Object.entries({ ...changed, ...unlisted })) all.set(name, Buffer.from(data));
  all.set('manifest.yaml', Buffer.from(text));
  all.set('plugin.yaml', Buffer.from(text));
  counter += 1;
  const file = path.join(root, `variant-${counter}.mpn`);
  await writeFile(file, await buildYazlZip([...all].map(([name, data]) => ({ name, data }))));
  return file;
}

const UNSAFE_PYPROJECT = '[project]\nname = "fft"\ndependencies = [\n  "numpy",\n  "-r /etc/passwd",\n]\n';

const variants: [string, string, (name: string, data: Buffer) => Buffer][] = [
  [
    'a file differs from its checksum',
    'archive.checksum-mismatch',
    (name, data) => (name === 'main.py' ? Buffer.from('import os; os.system("evil")\n') : data),
  ],
  [
    'manifest.yaml is not valid YAML',
    'yaml.syntax',
    (name, data) =>
      name === 'manifest.yaml' || name === 'plugin.yaml' ? Buffer.from('plugin_id: [unclosed\n') : data,
  ],
  [
    'plugin.yaml differs from manifest.yaml',
    'archive.plugin-yaml-differs',
    (name, data) => (name === 'plugin.yaml' ? Buffer.concat([data, Buffer.from('# changed\n')]) : data),
  ],
];

describe('verifyArchive({ extractTo }) leaves nothing behind when it refuses an archive', () => {
  it('extracts an archive that passes every check', async () => {
    const file = await archiveOf((_name, data) => data);
    const dest = path.join(root, 'ok', 'out');
    const verified = await verifyArchive(file, { extractTo: dest });
    expect(verified.findings).toEqual([]);
    expect(verified.ok).toBe(true);
    expect((await readdir(dest)).sort()).toContain('main.py');
  });

  it.each(variants)('%s: a created destination is removed with its new parents', async (_t, code, change) => {
    const file = await archiveOf(change);
    const parent = path.join(root, `fresh-${counter}`);
    const verified = await verifyArchive(file, { extractTo: path.join(parent, 'deep', 'out') });
    expect(verified.ok).toBe(false);
    expect(verified.findings.map((f) => f.code)).toContain(code);
    await expect(readdir(parent)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.each(variants)(
    '%s: an empty destination given by the caller is left empty',
    async (_t, code, change) => {
      const file = await archiveOf(change);
      const dest = path.join(root, `empty-${counter}`);
      await mkdir(dest);
      const verified = await verifyArchive(file, { extractTo: dest });
      expect(verified.findings.map((f) => f.code)).toContain(code);
      expect(await readdir(dest)).toEqual([]);
    },
  );

  it('an unsafe dependency in the uv pyproject: refused, and nothing extracted is left', async () => {
    const file = await listedArchive({ 'pyproject.toml': UNSAFE_PYPROJECT });
    const dest = path.join(root, 'unsafe-dependency');
    const verified = await verifyArchive(file, { extractTo: dest, label: 'fft.mpn' });
    expect(verified.ok).toBe(false);
    expect(verified.findings.map((f) => [f.code, f.file, f.line])).toEqual([
      ['archive.unsafe-dependency', 'fft.mpn!pyproject.toml', 5],
    ]);
    expect(verified.findings[0]!.message).toMatch(/"-r \/etc\/passwd" is a pip option/);
    await expect(readdir(dest)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a zip-level refusal leaves the destination as it was too', async () => {
    const file = path.join(root, 'prepended.mpn');
    const good = await archiveOf((_name, data) => data);
    await writeFile(file, Buffer.concat([Buffer.from('#!/bin/sh\n'), await readFile(good)]));
    const dest = path.join(root, 'zip-level');
    await mkdir(dest);
    const verified = await verifyArchive(file, { extractTo: dest });
    expect(verified.findings.map((f) => f.code)).toEqual(['zip.bad-directory']);
    expect(await readdir(dest)).toEqual([]);
  });
});

describe('verifyArchive keeps small files from its one pass', () => {
  it('returns manifest.yaml and, when asked, small files with their exact bytes', async () => {
    const file = await archiveOf((_name, data) => data);
    const verified = await verifyArchive(file, { keep: { maxFileBytes: 1 << 20, maxTotalBytes: 1 << 20 } });
    expect(verified.ok).toBe(true);
    for (const { name, data } of files) expect(verified.files.get(name)).toEqual(data);
  });

  it('keeps nothing beyond its budget but the manifest and the .toml files it checks', async () => {
    const file = await archiveOf((_name, data) => data);
    const verified = await verifyArchive(file, { keep: { maxFileBytes: 1 << 20, maxTotalBytes: 0 } });
    const nonEmpty = [...verified.files].filter(([, bytes]) => bytes.length > 0).map(([name]) => name);
    expect(nonEmpty.sort()).toEqual(['manifest.yaml', 'pyproject.toml']);
  });
});

describe('file names that are also Object.prototype members are judged like any other', () => {
  const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];

  it('accepted when listed with the right sha256', async () => {
    const files = Object.fromEntries(NAMES.map((n) => [n, `contents of ${n}\n`]));
    const verified = await verifyArchive(await listedArchive(files));
    expect(verified.findings).toEqual([]);
    expect(verified.ok).toBe(true);
  });

  it.each(NAMES)('"%s": unlisted, listed wrong, or listed but absent', async (name) => {
    const unlisted = await verifyArchive(await listedArchive({}, (t) => t, { [name]: 'x\n' }));
    expect(unlisted.findings.map((f) => [f.code, f.message])).toEqual([
      ['archive.unlisted-file', `"${name}" is in the archive but not in file_checksums`],
    ]);
    const wrong = await listedArchive({ [name]: 'x\n' }, (t) => t, { [name]: 'y\n' });
    expect((await verifyArchive(wrong)).findings.map((f) => f.code)).toEqual(['archive.checksum-mismatch']);
    const absent = await listedArchive({}, (t) =>
      t.replace('file_checksums:\n', `file_checksums:\n  ${name}: ${'a'.repeat(64)}\n`),
    );
    expect((await verifyArchive(absent)).findings.map((f) => [f.code, f.line])).toEqual([
      ['archive.missing-file', expect.any(Number)],
    ]);
  });
});

describe('verifyArchive judges the dependencies a uv install entry hands to pip', () => {
  it('accepts real dependencies, and judges only the pyproject a uv entry names', async () => {
    const pyproject =
      '[project]\nname = "fft"\ndependencies = ["fastapi>=0.110", "numpy", \'pydantic[email]>=2; python_version>="3.11"\']\n';
    const other = '[project]\ndependencies = ["--index-url=http://evil.example"]\n';
    const verified = await verifyArchive(
      await listedArchive({ 'pyproject.toml': pyproject, 'docs/other.toml': other }),
    );
    expect(verified.findings).toEqual([]);
  });

  it('reads a pyproject in a sub-folder under any name, even one not kept from the first pass', async () => {
    const file = await listedArchive({ 'py/deps.cfg': UNSAFE_PYPROJECT }, (t) =>
      t.replace('pyproject: pyproject.toml', 'pyproject: py/deps.cfg'),
    );
    const verified = await verifyArchive(file, { label: 'fft.mpn' });
    expect(verified.findings.map((f) => [f.code, f.file, f.line])).toEqual([
      ['archive.unsafe-dependency', 'fft.mpn!py/deps.cfg', 5],
    ]);
  });

  it('refuses [tool.uv] index settings and a pyproject that is not TOML', async () => {
    const index = `${UNSAFE_PYPROJECT.replace('  "-r /etc/passwd",\n', '')}[tool.uv]\nextra-index-url = ["http://evil.example/simple"]\n`;
    const refused = await verifyArchive(await listedArchive({ 'pyproject.toml': index }), {
      label: 'fft.mpn',
    });
    expect(refused.findings.map((f) => [f.code, f.line, f.message.split(':')[0]])).toEqual([
      ['archive.unsafe-dependency', 7, '[tool.uv] sets extra-index-url'],
    ]);
    const broken = await verifyArchive(await listedArchive({ 'pyproject.toml': '[project\n' }), {
      label: 'fft.mpn',
    });
    expect(broken.findings.map((f) => [f.code, f.line])).toEqual([['archive.unsafe-dependency', 1]]);
    expect(broken.ok).toBe(false);
  });
});
