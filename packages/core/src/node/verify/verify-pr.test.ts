import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { authorKey, makeAuthorSigned } from '../../../test/author-signed';
import { PrRepo } from '../../../test/pr-repo';
import { archiveTarget, readKeyFile, signPluginTargets } from '../tuf';
import { renderVerifyMarkdown } from './report';
import { type VerifyOptions, verifyPullRequest } from './verify-pr';

const repos: PrRepo[] = [];
afterEach(() => {
  for (const r of repos.splice(0)) r.cleanup();
});
function repo(): PrRepo {
  const r = new PrRepo('verify');
  repos.push(r);
  return r;
}
const verify = (r: PrRepo, extra: Partial<VerifyOptions> = {}) =>
  verifyPullRequest({ repo: r.dir, base: 'main', ...extra });
const codes = (fs: ReadonlyArray<{ code: string; severity: string }>) =>
  fs.filter((f) => f.severity === 'error').map((f) => f.code);
/** Owns every starter plugin (owners.yaml is seeded from maintainers.yaml). */
const OWNER = 'sstagg';

describe('hub verify (library): a pull request against a real git repo', () => {
  it('a clean new version passes, its archive is checked, and only it is checked', async () => {
    const r = repo();
    const { entry } = await r.addVersion('fft', '1.3.0');
    r.commit('fft 1.3.0');
    const installs: string[] = [];
    const result = await verify(r, {
      author: OWNER,
      install: async (_archive, loaded) => {
        installs.push(`${loaded.entry.plugin_id}@${loaded.entry.version}`);
        return undefined;
      },
    });
    expect(codes(result.findings)).toEqual([]);
    expect(result.changes).toEqual([
      { kind: 'added', file: entry, pluginId: 'fft', version: '1.3.0', tier: 'community' },
    ]);
    expect(result.archivesChecked).toBe(1);
    expect(installs).toEqual(['fft@1.3.0']);
    expect(result.entries).toBe(16);
    expect(result.label).toBe('tier:community');
    // the work tree was never touched: the branch is still checked out, nothing staged
    expect(r.git('status', '--porcelain')).toBe('');
  });

  it('a yank of a published version passes', async () => {
    const r = repo();
    r.edit(
      'catalog/plugins/topaz/0.2.0.yaml',
      (t) => `${t}yanked:\n  reason: "memory leak"\n  at: "2026-01-01T00:00:00Z"\n`,
    );
    r.commit('yank topaz 0.2.0');
    const result = await verify(r, { author: OWNER });
    expect(codes(result.findings)).toEqual([]);
    expect(result.changes.map((c) => c.kind)).toEqual(['yanked']);
    expect(result.archivesChecked).toBe(0);
  });

  it('a changed published sha256 fails on its line; the report names it', async () => {
    const r = repo();
    const file = 'catalog/plugins/topaz/0.2.0.yaml';
    r.edit(file, (t) => t.replace(/sha256: [0-9a-f]{64}/, `sha256: ${'a'.repeat(64)}`));
    r.commit('change sha');
    const result = await verify(r);
    const hit = result.findings.find((f) => f.code === 'verify.published-changed');
    expect(hit).toMatchObject({ file, line: r.lineOf(file, 'sha256:') });
    expect(hit!.message).toContain('archive.sha256');
    const md = renderVerifyMarkdown(result);
    expect(md).toContain('Catalog check failed');
    expect(md).toContain('verify.published-changed');
  });

  it('a deleted published version fails', async () => {
    const r = repo();
    r.remove('catalog/plugins/topaz/0.2.0.yaml');
    r.commit('delete');
    const result = await verify(r);
    expect(result.findings.find((f) => f.code === 'verify.version-deleted')).toMatchObject({
      file: 'catalog/plugins/topaz/0.2.0.yaml',
    });
  });

  it('verified set by a non-maintainer fails, by a maintainer or with a maintainer approval passes', async () => {
    const r = repo();
    const { entry } = await r.addVersion('fft', '1.3.0', { tier: 'verified' });
    r.commit('fft 1.3.0 verified');
    const stranger = await verify(r, { author: 'mallory' });
    expect(stranger.findings.find((f) => f.code === 'verify.tier-not-allowed')).toMatchObject({
      file: entry,
      line: r.lineOf(entry, 'tier:'),
    });
    expect(stranger.label).toBe('tier:verified-request');
    const maintainer = r.read('catalog/maintainers.yaml').match(/github: (\S+)/)![1]!;
    expect(codes((await verify(r, { author: maintainer })).findings)).toEqual([]);
    expect(codes((await verify(r, { author: 'mallory', approvedBy: [maintainer] })).findings)).toEqual([]);
    expect(codes((await verify(r)).findings)).toContain('verify.tier-not-allowed');
  });

  it('a PR that adds its author to the maintainers and sets verified fails twice', async () => {
    const r = repo();
    r.edit('catalog/maintainers.yaml', (t) => `${t}  - github: mallory\n`);
    await r.addVersion('fft', '1.3.0', { tier: 'verified' });
    r.commit('make me a maintainer');
    const result = await verify(r, { author: 'mallory' });
    expect(codes(result.findings).sort()).toEqual([
      'verify.maintainers-not-allowed',
      'verify.not-owner',
      'verify.tier-not-allowed',
    ]);
    expect(result.findings.find((f) => f.code === 'verify.maintainers-not-allowed')).toMatchObject({
      file: 'catalog/maintainers.yaml',
      line: r.lineOf('catalog/maintainers.yaml', 'mallory'),
    });
  });

  it('a replaced published archive fails', async () => {
    const r = repo();
    r.edit('catalog/assets/plugins/topaz-0.2.0.mpn', (t) => `${t}x`);
    r.commit('replace');
    const result = await verify(r);
    expect(result.findings.find((f) => f.code === 'verify.archive-replaced')).toMatchObject({
      file: 'catalog/assets/plugins/topaz-0.2.0.mpn',
    });
  });

  it('a failed install is an error on the entry', async () => {
    const r = repo();
    const { entry } = await r.addVersion('fft', '1.3.0');
    r.commit('fft 1.3.0');
    const result = await verify(r, { install: async () => 'unhealthy: no READY line within 30 s' });
    expect(result.findings.find((f) => f.code === 'verify.install-failed')).toMatchObject({
      file: entry,
      line: r.lineOf(entry, 'url:'),
    });
  });

  it('a base ref that does not exist is a clear error', async () => {
    const r = repo();
    await expect(verify(r, { base: 'no-such-branch' })).rejects.toThrow(/"no-such-branch" is not a commit/);
    await expect(verify(r, { base: '--output=/tmp/x' })).rejects.toThrow(/is not a commit/);
  });

  // Each rule a new version can break: the PR adds fft 1.3.0 (packed and described correctly), then
  // breaks one thing; the finding must carry the right code, file and line.
  const NEW = 'catalog/plugins/fft/1.3.0.yaml';
  const ARCHIVE = 'catalog/assets/plugins/fft-1.3.0.mpn';
  const cases: Array<
    [string, string, (r: PrRepo) => void | Promise<void>, (r: PrRepo) => { file: string; line?: number }]
  > = [
    [
      'schema',
      'entry.missing-field',
      (r) => r.edit(NEW, (t) => t.replace(/^license: .*\n/m, '')),
      () => ({ file: NEW, line: 1 }),
    ],
    [
      'sha256',
      'archive.sha256-mismatch',
      (r) => r.edit(NEW, (t) => t.replace(/sha256: [0-9a-f]{64}/, `sha256: ${'b'.repeat(64)}`)),
      (r) => ({ file: NEW, line: r.lineOf(NEW, 'sha256:') }),
    ],
    [
      'size',
      'archive.size-mismatch',
      (r) => r.edit(NEW, (t) => t.replace(/size_bytes: (\d+)/, (_m, n) => `size_bytes: ${Number(n) + 1}`)),
      (r) => ({ file: NEW, line: r.lineOf(NEW, 'size_bytes:') }),
    ],
    [
      'manifest category',
      'archive.entry-mismatch',
      (r) => r.edit(NEW, (t) => t.replace(/^category: .*$/m, 'category: ctf')),
      (r) => ({ file: NEW, line: r.lineOf(NEW, 'category:') }),
    ],
    [
      'manifest requires_sdk',
      'archive.entry-mismatch',
      (r) => r.edit(NEW, (t) => t.replace(/^requires_sdk: .*$/m, 'requires_sdk: ">=2.2,<3.0"')),
      (r) => ({ file: NEW, line: r.lineOf(NEW, 'requires_sdk:') }),
    ],
    [
      'manifest archive_id',
      'archive.entry-mismatch',
      (r) =>
        r.edit(NEW, (t) =>
          t.replace(/^archive_id: .*$/m, 'archive_id: 019a0000-0000-7000-8000-000000000001'),
        ),
      (r) => ({ file: NEW, line: r.lineOf(NEW, 'archive_id:') }),
    ],
    [
      'manifest version',
      'archive.entry-mismatch',
      (r) => {
        const moved = 'catalog/plugins/fft/1.3.1.yaml';
        r.write(moved, r.read(NEW).replace(/^version: .*$/m, 'version: 1.3.1'));
        r.remove(NEW);
      },
      (r) => ({
        file: 'catalog/plugins/fft/1.3.1.yaml',
        line: r.lineOf('catalog/plugins/fft/1.3.1.yaml', 'version:'),
      }),
    ],
    [
      'manifest plugin_id',
      'archive.entry-mismatch',
      (r) => {
        const moved = 'catalog/plugins/ctf/1.3.0.yaml';
        r.write(
          moved,
          r
            .read(NEW)
            .replace(/^plugin_id: .*$/m, 'plugin_id: ctf')
            .replace(/^archive_id: .*$/m, 'archive_id: 019a0000-0000-7000-8000-000000000002'),
        );
        r.remove(NEW);
      },
      (r) => ({
        file: 'catalog/plugins/ctf/1.3.0.yaml',
        line: r.lineOf('catalog/plugins/ctf/1.3.0.yaml', 'plugin_id:'),
      }),
    ],
    [
      'duplicate version',
      'catalog.duplicate-version',
      (r) => {
        r.write(
          'catalog/plugins/fft/1.1.0+rebuild.yaml',
          r
            .read(NEW)
            .replace(/^version: .*$/m, 'version: 1.1.0+rebuild')
            .replace(/^archive_id: .*$/m, 'archive_id: 019a0000-0000-7000-8000-000000000003')
            .replace('fft-1.3.0.mpn', 'fft-1.1.0.mpn'),
        );
        r.remove(NEW);
      },
      (r) => ({
        file: 'catalog/plugins/fft/1.1.0+rebuild.yaml',
        line: r.lineOf('catalog/plugins/fft/1.1.0+rebuild.yaml', 'version:'),
      }),
    ],
    [
      'missing archive',
      'archive.missing',
      (r) => r.remove(ARCHIVE),
      (r) => ({ file: NEW, line: r.lineOf(NEW, 'url:') }),
    ],
    [
      'hostile archive (a prepended script)',
      'zip.bad-directory',
      (r) => r.rewriteArchive(NEW, ARCHIVE, (b) => Buffer.concat([Buffer.from('#!/bin/sh\nrm -rf ~\n'), b])),
      () => ({ file: ARCHIVE }),
    ],
    [
      'unlisted file',
      'archive.unlisted-file',
      (r) => {
        r.addUnlistedFile(ARCHIVE);
        r.rewriteArchive(NEW, ARCHIVE, (b) => b);
      },
      () => ({ file: `${ARCHIVE}!manifest.yaml` }),
    ],
  ];
  for (const [name, code, breakIt, where] of cases) {
    it(`a new version with a bad ${name} fails with ${code}`, async () => {
      const r = repo();
      await r.addVersion('fft', '1.3.0');
      await breakIt(r);
      r.commit(`bad ${name}`);
      let installed = 0;
      const result = await verify(r, {
        author: OWNER,
        install: async () => {
          installed++;
          return undefined;
        },
      });
      const hits = result.findings.filter((f) => f.code === code);
      expect(hits.length, JSON.stringify(result.findings)).toBeGreaterThan(0);
      const expected = where(r);
      if (expected.line === undefined) expect(hits.map((h) => h.file)).toContain(expected.file);
      else
        expect(hits.map((h) => ({ file: h.file, line: h.line }))).toContainEqual({
          file: expected.file,
          line: expected.line,
        });
      expect(installed, 'a broken archive is never installed').toBe(0);
    });
  }
});

describe('hub verify: author-signed plugins (owners.yaml signing on the base)', () => {
  const FFT_SIGNED = 'catalog/plugins/fft/signed-targets.json';
  /** fft author-signed on main (the base); returns the author's key file. */
  async function signedFft(r: PrRepo): Promise<string> {
    r.git('checkout', '-q', 'main');
    const key = await makeAuthorSigned(r.path('catalog'), 'fft');
    r.commit('fft is author-signed');
    r.git('checkout', '-q', 'pr');
    r.git('merge', '-q', '--ff-only', 'main');
    return key.file;
  }
  /** What hub publish --sign adds: the new archive's target, signed with `key`. */
  function signVersion(
    r: PrRepo,
    archive: string,
    key: string,
    previous: Uint8Array = readFileSync(r.path(FFT_SIGNED)),
  ) {
    const target = archiveTarget('fft', '1.3.0', readFileSync(r.path(archive)));
    r.write(FFT_SIGNED, signPluginTargets('fft', previous, [target], readKeyFile(key)));
  }

  it('accepts a new version signed by the author, refuses it unsigned or signed by another key', async () => {
    const r = repo();
    const key = await signedFft(r);
    const { archive } = await r.addVersion('fft', '1.3.0');
    r.commit('fft 1.3.0, unsigned');
    expect(codes((await verify(r, { author: OWNER })).findings).sort()).toEqual([
      'catalog.unsigned-version',
      'verify.unsigned-version',
    ]);
    signVersion(r, archive, authorKey().file);
    r.commit('fft 1.3.0, signed by a key owners.yaml does not list');
    expect(codes((await verify(r, { author: OWNER })).findings)).toContain('verify.bad-author-signature');
    signVersion(r, archive, key, Buffer.from(r.git('show', `main:${FFT_SIGNED}`)));
    r.commit('fft 1.3.0, signed by its author');
    const ok = await verify(r, { author: OWNER });
    expect(codes(ok.findings)).toEqual([]);
    expect(ok.archivesChecked).toBe(1);
  });

  it('refuses an old signed-targets.json replayed, and a new key swapped in with the version', async () => {
    const r = repo();
    await signedFft(r);
    const { archive } = await r.addVersion('fft', '1.3.0');
    // The author's own file, but only as old as the base's: it does not list the new archive.
    r.commit('fft 1.3.0 without a new signature');
    const replay = await verify(r, { author: OWNER });
    expect(replay.findings.find((f) => f.code === 'verify.unsigned-version')?.message).toContain(
      'not newer than the base',
    );
    // A PR that replaces owners.yaml's key and signs with the new one: the base keys still decide.
    const mallory = authorKey();
    r.edit('catalog/plugins/fft/owners.yaml', (t) =>
      t
        .replace(/keyid: [0-9a-f]{64}/, `keyid: ${mallory.keyid}`)
        .replace(/public: [0-9a-f]{64}/, `public: ${mallory.public}`),
    );
    signVersion(r, archive, mallory.file);
    r.commit('swap the key');
    const swapped = await verify(r, { author: OWNER });
    expect(codes(swapped.findings)).toContain('verify.bad-author-signature');
  });

  it('a signing key change is an owners.yaml change: refused from a non-owner, flagged from an owner', async () => {
    const r = repo();
    await signedFft(r);
    const other = authorKey();
    r.edit('catalog/plugins/fft/owners.yaml', (t) =>
      t
        .replace(/keyid: [0-9a-f]{64}/, `keyid: ${other.keyid}`)
        .replace(/public: [0-9a-f]{64}/, `public: ${other.public}`),
    );
    // A rotation re-signs the role with the new key in the same pull request (hub keys sign-plugin).
    r.write(
      FFT_SIGNED,
      signPluginTargets('fft', readFileSync(r.path(FFT_SIGNED)), [], readKeyFile(other.file)),
    );
    r.commit('new author key');
    expect(codes((await verify(r, { author: 'mallory' })).findings)).toContain('verify.not-owner');
    // From an owner it passes, flagged for the reviewer.
    const owner = await verify(r, { author: OWNER });
    expect(codes(owner.findings)).toEqual([]);
    expect(owner.findings.find((f) => f.code === 'verify.owners-changed')?.message).toContain(
      'changes the author signing keys of plugin fft',
    );
  });
});
