import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCatalogArchives } from '../../src/node/check-archives';
import { loadCatalog } from '../../src/node/load-catalog';
import { readKeyFile, signPluginTargets } from '../../src/node/tuf';
import { authorKey, makeAuthorSigned } from '../author-signed';
import { edit, type Fixture, type FixtureTable, lineOf, starterCopy, tempDir } from './fixture';

/** Loads a catalog and checks its archives, the way `hub validate` does; findings name catalog-relative paths. */
async function validate(dir: string) {
  const catalog = await loadCatalog(dir, { displayFrom: dir });
  const archives = await checkCatalogArchives(dir, catalog.entries, { displayFrom: dir });
  return [...catalog.findings, ...archives];
}

const FFT = 'plugins/fft/1.0.0.yaml';

/** Changes one starter entry and expects the finding on the line holding `needle` afterwards. */
function entryCase(change: (text: string) => string, needle: string, file = FFT): Fixture {
  return async () => {
    const dir = starterCopy();
    edit(join(dir, file), change);
    return { findings: await validate(dir), expected: { file, line: lineOf(join(dir, file), needle) } };
  };
}

/** Writes a new file into a starter copy and expects the finding at `line` (or without a line). */
function newFileCase(file: string, text: string, line?: number): Fixture {
  return async () => {
    const dir = starterCopy();
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
    return { findings: await validate(dir), expected: { file, line } };
  };
}

function maintainersCase(text: string, needle?: string): Fixture {
  return async () => {
    const dir = starterCopy();
    writeFileSync(join(dir, 'maintainers.yaml'), text);
    const line = needle ? lineOf(join(dir, 'maintainers.yaml'), needle) : undefined;
    return { findings: await validate(dir), expected: { file: 'maintainers.yaml', line } };
  };
}

export const yamlFixtures: FixtureTable<'yaml'> = {
  'yaml.syntax': newFileCase('plugins/fft/9.9.9.yaml', 'plugin_id: fft\nversion: [9.9.9\n', 3),
  'yaml.duplicate-key': entryCase((t) => `${t}author: Someone Else\n`, 'author: Someone Else'),
  'yaml.alias': newFileCase('plugins/fft/9.9.9.yaml', 'a: &x [1, 2]\nb: *x\n', 1),
  'yaml.not-mapping': newFileCase('plugins/fft/9.9.9.yaml', '- plugin_id\n- version\n', 1),
  'yaml.too-large': newFileCase('plugins/fft/9.9.9.yaml', `description: "${'x'.repeat(70_000)}"\n`),
};

export const entryFixtures: FixtureTable<'entry'> = {
  'entry.unknown-field': entryCase((t) => `${t}colour: red\n`, 'colour:'),
  'entry.missing-field': entryCase((t) => t.replace(/^author: .*\n/m, ''), 'plugin_id:'),
  'entry.invalid-type': entryCase((t) => t.replace(/^name: .*$/m, 'name: [a, b]'), 'name:'),
  'entry.invalid-value': entryCase((t) => t.replace(/^name: .*$/m, `name: ${'n'.repeat(201)}`), 'name:'),
  // A right-to-left override that would show "Lab" with the rest of the line reversed.
  'entry.control-character': entryCase(
    (t) => t.replace(/^author: .*$/m, 'author: "Lab \\u202Eevil"'),
    'author:',
  ),
  'entry.invalid-slug': entryCase((t) => t.replace('category: fft', 'category: Fast Fourier'), 'category:'),
  'entry.invalid-semver': async () => {
    const dir = starterCopy();
    const file = 'plugins/fft/1.0.yaml';
    cpSync(join(dir, FFT), join(dir, file));
    edit(join(dir, file), (t) => t.replace('version: 1.0.0', 'version: "1.0"'));
    return { findings: await validate(dir), expected: { file, line: lineOf(join(dir, file), 'version:') } };
  },
  'entry.invalid-sha256': entryCase((t) => t.replace(/sha256: \w+/, 'sha256: ABC'), 'sha256:'),
  'entry.invalid-tier': entryCase((t) => t.replace('tier: verified', 'tier: gold'), 'tier:'),
  'entry.invalid-archive-id': entryCase(
    (t) => t.replace(/archive_id: .*/, 'archive_id: 0195-not-a-uuid'),
    'archive_id:',
  ),
  'entry.invalid-sdk-range': entryCase(
    (t) => t.replace(/requires_sdk: .*/, 'requires_sdk: "~~2"'),
    'requires_sdk:',
  ),
  'entry.invalid-license': entryCase((t) => t.replace('license: MIT', 'license: Mine'), 'license:'),
  'entry.invalid-date': entryCase(
    (t) => t.replace(/published_at: .*/, 'published_at: "last tuesday"'),
    'published_at:',
  ),
  'entry.invalid-url': entryCase(
    (t) => t.replace(/homepage: .*/, 'homepage: http://insecure.example.org'),
    'homepage:',
  ),
  'entry.yanked-before-published': entryCase(
    (t) => `${t}yanked:\n  reason: broken\n  at: "2020-01-01T00:00:00Z"\n`,
    'at: "2020',
  ),
  'entry.unknown-replacement': entryCase(
    (t) => `${t}deprecated:\n  reason: superseded\n  replacement: no-such-plugin\n`,
    'replacement:',
  ),
  'entry.reserved-id': async () => {
    const dir = starterCopy();
    const file = 'plugins/publish/1.0.0.yaml';
    mkdirSync(join(dir, 'plugins', 'publish'));
    writeFileSync(
      join(dir, file),
      readFileSync(join(dir, FFT), 'utf8')
        .replace('plugin_id: fft', 'plugin_id: publish')
        .replace(/url: .*/, 'url: https://archives.example.org/publish-1.0.0.mpn')
        .replace(/^archive_id: .*$/m, 'archive_id: 019a0000-0000-7000-8000-00000000000a'),
    );
    return { findings: await validate(dir), expected: { file, line: lineOf(join(dir, file), 'plugin_id:') } };
  },
};

export const maintainersFixtures: FixtureTable<'maintainers'> = {
  'maintainers.unknown-field': maintainersCase('maintainers:\n  - github: a\n    email: a@b.c\n', 'email:'),
  'maintainers.missing-field': maintainersCase('maintainers:\n  - name: Nobody\n', 'name:'),
  'maintainers.invalid-type': maintainersCase('maintainers: sstagg\n', 'maintainers:'),
  'maintainers.invalid-value': maintainersCase('maintainers:\n  - github: "not a login!"\n', 'github:'),
  'maintainers.control-character': maintainersCase(
    'maintainers:\n  - github: octocat\n    name: "Octo\\e[31mcat"\n',
    'name:',
  ),
};

const FFT_OWNERS = 'plugins/fft/owners.yaml';

/** Writes fft's owners.yaml and expects the finding there, on the line holding `needle`. */
function ownersCase(text: string, needle: string): Fixture {
  return async () => {
    const dir = starterCopy();
    writeFileSync(join(dir, FFT_OWNERS), text);
    const line = lineOf(join(dir, FFT_OWNERS), needle);
    return { findings: await validate(dir), expected: { file: FFT_OWNERS, line } };
  };
}

export const ownersFixtures: FixtureTable<'owners'> = {
  'owners.unknown-field': ownersCase('owners:\n  - github: a\n    role: admin\n', 'role:'),
  'owners.missing-field': ownersCase('owners:\n  - name: Nobody\n', 'name:'),
  'owners.invalid-type': ownersCase('owners: sstagg\n', 'owners:'),
  'owners.invalid-value': ownersCase('owners:\n  - github: sstagg\n  - github: SStagg\n', 'SStagg'),
  'owners.control-character': ownersCase(
    'owners:\n  - github: sstagg\n    name: "Scott\u202eggatS"\n',
    'name:',
  ),
  'owners.bad-signing-key': ownersCase(
    `owners:\n  - github: sstagg\nsigning:\n  threshold: 1\n  keys:\n    - keyid: ${'a'.repeat(64)}\n      public: ${'b'.repeat(64)}\n`,
    'keyid:',
  ),
};

export const pathFixtures: FixtureTable<'path'> = {
  'path.plugin-id-mismatch': async () => {
    const dir = starterCopy();
    const file = 'plugins/other/1.0.0.yaml';
    mkdirSync(join(dir, 'plugins/other'));
    cpSync(join(dir, FFT), join(dir, file));
    unlinkSync(join(dir, FFT));
    return { findings: await validate(dir), expected: { file, line: lineOf(join(dir, file), 'plugin_id:') } };
  },
  'path.version-mismatch': async () => {
    const dir = starterCopy();
    const file = 'plugins/fft/9.9.9.yaml';
    cpSync(join(dir, FFT), join(dir, file));
    unlinkSync(join(dir, FFT));
    return { findings: await validate(dir), expected: { file, line: lineOf(join(dir, file), 'version:') } };
  },
  'path.bad-layout': newFileCase('plugins/fft/notes.txt', 'hello\n'),
  'path.not-regular-file': async () => {
    const dir = starterCopy();
    execFileSync('mkfifo', [join(dir, 'plugins/fft/9.9.9.yaml')]);
    return { findings: await validate(dir), expected: { file: 'plugins/fft/9.9.9.yaml' } };
  },
  'path.outside-tree': async () => {
    const dir = starterCopy();
    const outside = tempDir('outside');
    cpSync(join(dir, FFT), join(outside, 'entry.yaml'));
    symlinkSync(join(outside, 'entry.yaml'), join(dir, 'plugins/fft/9.9.9.yaml'));
    return { findings: await validate(dir), expected: { file: 'plugins/fft/9.9.9.yaml' } };
  },
};

export const catalogFixtures: Omit<
  FixtureTable<'catalog'>,
  'catalog.unreadable' | 'catalog.plugin-sources'
> = {
  'catalog.not-found': async () => {
    const dir = tempDir('empty');
    return { findings: await validate(dir), expected: { file: dir.split('/').pop()! } };
  },
  'catalog.duplicate-version': async () => {
    const dir = starterCopy();
    const file = 'plugins/fft/1.0.0+rebuild.yaml';
    cpSync(join(dir, FFT), join(dir, file));
    edit(join(dir, file), (t) => t.replace('version: 1.0.0', 'version: 1.0.0+rebuild'));
    return { findings: await validate(dir), expected: { file, line: lineOf(join(dir, file), 'version:') } };
  },
  'catalog.archive-url-reused': async () => {
    const dir = starterCopy();
    const file = 'plugins/fft/9.9.9.yaml';
    cpSync(join(dir, FFT), join(dir, file));
    edit(join(dir, file), (t) => t.replace('version: 1.0.0', 'version: 9.9.9'));
    return { findings: await validate(dir), expected: { file, line: lineOf(join(dir, file), 'url:') } };
  },
  'catalog.archive-id-reused': async () => {
    const dir = starterCopy();
    const file = 'plugins/fft/9.9.9.yaml';
    cpSync(join(dir, FFT), join(dir, file));
    edit(join(dir, file), (t) =>
      t.replace('version: 1.0.0', 'version: 9.9.9').replace('fft-1.0.0.mpn', 'fft-9.9.9.mpn'),
    );
    return {
      findings: await validate(dir),
      expected: { file, line: lineOf(join(dir, file), 'archive_id:') },
    };
  },
  'catalog.asset-name-collision': async () => {
    // A second copy whose name differs only in case: on macOS or Windows one overwrites the other.
    const dir = starterCopy();
    cpSync(join(dir, 'assets/plugins/fft-1.0.0.mpn'), join(dir, 'assets/plugins/FFT-1.0.0.mpn'));
    return { findings: await validate(dir), expected: { file: 'assets/plugins/FFT-1.0.0.mpn' } };
  },
  'catalog.no-maintainers': async () => {
    const dir = starterCopy();
    unlinkSync(join(dir, 'maintainers.yaml'));
    return { findings: await validate(dir), expected: { file: 'maintainers.yaml' } };
  },
  'catalog.unsigned-version': async () => {
    // fft is author-signed, but its signed-targets.json leaves out 1.0.0.
    const dir = starterCopy();
    const key = await makeAuthorSigned(dir, 'fft', { sign: false });
    const text = signPluginTargets(
      'fft',
      undefined,
      [{ path: 'assets/plugins/fft-1.1.0.mpn', length: 1, sha256: 'c'.repeat(64) }],
      readKeyFile(key.file),
    );
    writeFileSync(join(dir, 'plugins/fft/signed-targets.json'), text);
    return {
      findings: await validate(dir),
      expected: { file: FFT, line: lineOf(join(dir, FFT), 'sha256:') },
    };
  },
  'catalog.bad-author-signature': async () => {
    // Signed with a key owners.yaml does not list (as a hub that signed in the author's place).
    const dir = starterCopy();
    await makeAuthorSigned(dir, 'fft', { sign: false });
    const other = authorKey();
    const text = signPluginTargets('fft', undefined, [], readKeyFile(other.file));
    writeFileSync(join(dir, 'plugins/fft/signed-targets.json'), text);
    return { findings: await validate(dir), expected: { file: 'plugins/fft/signed-targets.json' } };
  },
  'catalog.no-owners': async () => {
    const dir = starterCopy();
    unlinkSync(join(dir, FFT_OWNERS));
    return { findings: await validate(dir), expected: { file: FFT_OWNERS } };
  },
};

/** Archive codes found by checking an entry against its archive in the catalog. */
export const catalogArchiveFixtures = {
  'archive.missing': async () => {
    const dir = starterCopy();
    unlinkSync(join(dir, 'assets/plugins/fft-1.0.0.mpn'));
    return { findings: await validate(dir), expected: { file: FFT, line: lineOf(join(dir, FFT), 'url:') } };
  },
  'archive.bad-url': entryCase((t) => t.replace(/url: .*/, 'url: /assets/plugins/%2e%2e/x.mpn'), 'url:'),
  'archive.size-mismatch': entryCase((t) => t.replace(/size_bytes: \d+/, 'size_bytes: 12'), 'size_bytes:'),
  'archive.sha256-mismatch': entryCase(
    (t) => t.replace(/sha256: \w+/, `sha256: ${'a'.repeat(64)}`),
    'sha256:',
  ),
  'archive.entry-mismatch': entryCase((t) => t.replace('category: fft', 'category: ctf'), 'category:'),
} satisfies Record<string, Fixture>;
