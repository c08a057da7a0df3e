// Plugin ownership on real git repositories: main holds the published catalog, where topaz is owned
// by @topaz-dev alone (not a maintainer); the pull request is a branch the test commits to.
import { afterEach, describe, expect, it } from 'vitest';
import { PrRepo } from '../../../test/pr-repo';
import { renderOwnersYaml } from '../../catalog/model';
import { type VerifyOptions, verifyPullRequest } from './verify-pr';

const repos: PrRepo[] = [];
afterEach(() => {
  for (const r of repos.splice(0)) r.cleanup();
});

const TOPAZ = 'catalog/plugins/topaz/0.2.0.yaml';
const TOPAZ_OWNERS = 'catalog/plugins/topaz/owners.yaml';
const OWNER = 'topaz-dev';
/** A hub maintainer (maintainers.yaml on main) who does not own topaz. */
const MAINTAINER = 'sstagg';

/** A repo whose main has topaz owned by @topaz-dev only. */
function repo(): PrRepo {
  const r = new PrRepo('owners');
  repos.push(r);
  r.publish('topaz is owned by topaz-dev', (m) => m.write(TOPAZ_OWNERS, renderOwnersYaml([OWNER])));
  return r;
}

const verify = (r: PrRepo, extra: Partial<VerifyOptions> = {}) =>
  verifyPullRequest({ repo: r.dir, base: 'main', ...extra });

/** The ownership findings, as code@file:line. */
async function ownership(r: PrRepo, extra: Partial<VerifyOptions> = {}): Promise<string[]> {
  const { findings } = await verify(r, extra);
  return findings
    .filter((f) => ['verify.not-owner', 'verify.new-plugin-owner', 'verify.owners-changed'].includes(f.code))
    .map((f) => `${f.severity} ${f.code}@${f.file}${f.line ? `:${f.line}` : ''}`);
}

const yank = (r: PrRepo) =>
  r.edit(TOPAZ, (t) => `${t}yanked:\n  reason: "crashes on K3 movies"\n  at: "2026-01-01T00:00:00Z"\n`);
const deprecate = (r: PrRepo) =>
  r.edit(TOPAZ, (t) => `${t}deprecated:\n  reason: "use template-picker"\n  replacement: template-picker\n`);

describe('plugin ownership: who may change a published plugin', () => {
  it('a non-owner adding a version, yanking or deprecating gets verify.not-owner on the line of the change', async () => {
    const r = repo();
    const { entry } = await r.addVersion('topaz', '0.4.0');
    yank(r);
    r.edit('catalog/plugins/topaz/0.3.0.yaml', (t) => `${t}deprecated:\n  reason: "use 0.4.0"\n`);
    r.commit('someone else’s plugin');
    const found = await ownership(r, { author: 'mallory' });
    expect(found).toEqual([
      `error verify.not-owner@catalog/plugins/topaz/0.2.0.yaml:${r.lineOf(TOPAZ, 'yanked:')}`,
      `error verify.not-owner@catalog/plugins/topaz/0.3.0.yaml:${r.lineOf('catalog/plugins/topaz/0.3.0.yaml', 'deprecated:')}`,
      `error verify.not-owner@${entry}:${r.lineOf(entry, 'version:')}`,
    ]);
    const { findings } = await verify(r, { author: 'mallory' });
    const message = findings.find((f) => f.code === 'verify.not-owner')!.message;
    expect(message).toContain('@mallory is not an owner of plugin topaz');
    expect(message).toContain('@topaz-dev');
  });

  it('a deprecation alone by a non-owner, and any change by an unknown author, are refused', async () => {
    const r = repo();
    deprecate(r);
    r.commit('deprecate topaz 0.2.0');
    expect(await ownership(r, { author: 'mallory' })).toEqual([
      `error verify.not-owner@${TOPAZ}:${r.lineOf(TOPAZ, 'deprecated:')}`,
    ]);
    const { findings } = await verify(r);
    expect(findings.find((f) => f.code === 'verify.not-owner')!.message).toContain('an unknown author');
  });

  it('the owner (in any letter case) may; so may anyone an owner or a maintainer approved', async () => {
    const r = repo();
    await r.addVersion('topaz', '0.4.0');
    yank(r);
    r.commit('topaz 0.4.0, and 0.2.0 yanked');
    expect(await ownership(r, { author: OWNER })).toEqual([]);
    expect(await ownership(r, { author: 'Topaz-Dev' })).toEqual([]);
    expect(await ownership(r, { author: 'mallory', approvedBy: ['someone', 'TOPAZ-DEV'] })).toEqual([]);
    expect(await ownership(r, { author: 'mallory', approvedBy: [MAINTAINER] })).toEqual([]);
    expect(await ownership(r, { author: MAINTAINER })).toEqual([]);
    // The whole check passes, not only the ownership rule.
    const { findings } = await verify(r, { author: OWNER });
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('owners are those of the BASE branch: a pull request cannot add its author and then publish', async () => {
    const r = repo();
    r.edit(TOPAZ_OWNERS, (t) => `${t}  - github: mallory\n`);
    await r.addVersion('topaz', '0.4.0');
    r.commit('make me an owner');
    const found = await ownership(r, { author: 'mallory' });
    expect(found).toEqual([
      `error verify.not-owner@catalog/plugins/topaz/0.4.0.yaml:${r.lineOf('catalog/plugins/topaz/0.4.0.yaml', 'version:')}`,
      `error verify.not-owner@${TOPAZ_OWNERS}:${r.lineOf(TOPAZ_OWNERS, 'mallory')}`,
    ]);
  });
});

describe('plugin ownership: handing a plugin on (changing owners.yaml)', () => {
  const handOver = (r: PrRepo) => {
    r.write(TOPAZ_OWNERS, renderOwnersYaml(['new-keeper']));
    r.commit('topaz goes to new-keeper');
  };

  it('by a non-owner, or with only a maintainer’s approval, it is refused', async () => {
    const r = repo();
    handOver(r);
    const refused = [`error verify.not-owner@${TOPAZ_OWNERS}:${r.lineOf(TOPAZ_OWNERS, 'new-keeper')}`];
    expect(await ownership(r, { author: 'mallory' })).toEqual(refused);
    expect(await ownership(r, { author: 'mallory', approvedBy: [MAINTAINER] })).toEqual(refused);
    expect(await ownership(r, { author: MAINTAINER })).toEqual(refused);
    expect(await ownership(r)).toEqual(refused);
  });

  it('by an owner, or with an owner’s approval, it passes with a warning for the reviewer', async () => {
    const r = repo();
    handOver(r);
    const warned = [`warning verify.owners-changed@${TOPAZ_OWNERS}:${r.lineOf(TOPAZ_OWNERS, 'new-keeper')}`];
    expect(await ownership(r, { author: OWNER })).toEqual(warned);
    expect(await ownership(r, { author: 'new-keeper', approvedBy: [OWNER] })).toEqual(warned);
    const { findings } = await verify(r, { author: OWNER });
    const warning = findings.find((f) => f.code === 'verify.owners-changed')!;
    expect(warning.message).toContain(
      'adds @new-keeper and removes @topaz-dev (the author removes themself)',
    );
    expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('a plugin with no owners.yaml on the base: a maintainer may give it one, nobody else may', async () => {
    const r = new PrRepo('owners');
    repos.push(r);
    r.publish('topaz has no owners', (m) => m.remove(TOPAZ_OWNERS));
    r.write(TOPAZ_OWNERS, renderOwnersYaml(['topaz-dev']));
    r.commit('give topaz an owner');
    expect(await ownership(r, { author: MAINTAINER })).toEqual([
      `warning verify.owners-changed@${TOPAZ_OWNERS}:${r.lineOf(TOPAZ_OWNERS, 'topaz-dev')}`,
    ]);
    expect((await ownership(r, { author: 'topaz-dev' }))[0]).toMatch(/^error verify\.not-owner@/);
  });
});

describe('plugin ownership: a brand-new plugin', () => {
  const NEW = 'catalog/plugins/fft-fast/1.0.0.yaml';
  const NEW_OWNERS = 'catalog/plugins/fft-fast/owners.yaml';

  it('with owners.yaml naming its author it passes: the author becomes the owner', async () => {
    const r = repo();
    await r.addVersion('fft-fast', '1.0.0', { from: 'fft' });
    r.write(NEW_OWNERS, renderOwnersYaml(['newcomer']));
    r.commit('a new plugin');
    const { findings } = await verify(r, { author: 'NewComer' });
    expect(findings).toEqual([]);
  });

  it('without owners.yaml, or with one that does not name the author, it fails', async () => {
    const r = repo();
    await r.addVersion('fft-fast', '1.0.0', { from: 'fft' });
    r.commit('a new plugin, no owners');
    expect(await ownership(r, { author: 'newcomer' })).toEqual([
      `error verify.new-plugin-owner@${NEW}:${r.lineOf(NEW, 'version:')}`,
    ]);
    const { findings } = await verify(r, { author: 'newcomer' });
    expect(findings.find((f) => f.code === 'verify.new-plugin-owner')!.message).toContain(
      'add catalog/plugins/fft-fast/owners.yaml naming its author',
    );

    r.write(NEW_OWNERS, renderOwnersYaml(['someone-else']));
    r.commit('owned by someone else');
    const notNamed = [`error verify.new-plugin-owner@${NEW_OWNERS}:${r.lineOf(NEW_OWNERS, 'owners:')}`];
    expect(await ownership(r, { author: 'newcomer' })).toEqual(notNamed);
    // An unknown author can never be named.
    expect(await ownership(r)).toEqual(notNamed);
  });

  it('co-owners besides the author are flagged for the reviewer', async () => {
    const r = repo();
    await r.addVersion('fft-fast', '1.0.0', { from: 'fft' });
    r.write(NEW_OWNERS, renderOwnersYaml(['newcomer', 'friend']));
    r.commit('a new plugin with a co-owner');
    expect(await ownership(r, { author: 'newcomer' })).toEqual([
      `warning verify.owners-changed@${NEW_OWNERS}:${r.lineOf(NEW_OWNERS, 'friend')}`,
    ]);
  });
});

describe('a catalog pull request that changes files outside the catalog', () => {
  it('is an error on each such file, named by its repo-relative path', async () => {
    const r = repo();
    r.write('.github/workflows/x.yml', 'on: push\n');
    r.write('scripts/y.mjs', 'process.exit(0)\n');
    yank(r);
    r.commit('yank, and a workflow');
    const { findings } = await verify(r, { author: OWNER });
    const outside = findings.filter((f) => f.code === 'verify.outside-catalog');
    expect(outside.map((f) => [f.severity, f.file])).toEqual([
      ['error', '.github/workflows/x.yml'],
      ['error', 'scripts/y.mjs'],
    ]);
    expect(outside[0]!.message).toContain('needs a maintainer');
  });

  it('names the first twenty and counts the rest', async () => {
    const r = repo();
    for (let i = 0; i < 25; i++) r.write(`scripts/s${String(i).padStart(2, '0')}.mjs`, `// ${i}\n`);
    r.commit('many scripts');
    const outside = (await verify(r, { author: OWNER })).findings.filter(
      (f) => f.code === 'verify.outside-catalog',
    );
    expect(outside.length).toBe(20);
    expect(outside.at(-1)).toMatchObject({ file: 'scripts/s19.mjs' });
    expect(outside.at(-1)!.message).toContain('and 5 more files outside catalog/');
  });
});
