import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archiveTarget, readKeyFile, signPluginTargets } from '../../src/node/tuf';
import { verifyPullRequest } from '../../src/node/verify/verify-pr';
import { authorKey, makeAuthorSigned } from '../author-signed';
import { PrRepo } from '../pr-repo';
import type { Fixture, FixtureTable } from './fixture';

const repos: PrRepo[] = [];
export function cleanUpRepos(): void {
  for (const r of repos.splice(0)) r.cleanup();
}

/** A pull request that reports one `verify.*` code: how it changes the PR branch, where the finding belongs, who asks. */
export interface PrScenario {
  change: (r: PrRepo) => Promise<void> | void;
  expected: (r: PrRepo) => { file: string; line?: number };
  author?: string;
}

/** The scenario's repo: the starter catalog on main, the scenario's change committed on the PR branch. */
export async function scenarioRepo(s: PrScenario): Promise<PrRepo> {
  const r = new PrRepo('fixture');
  repos.push(r);
  await s.change(r);
  r.commit('the pull request');
  return r;
}

const scenario = (
  change: PrScenario['change'],
  expected: PrScenario['expected'],
  author?: string,
): PrScenario => ({ change, expected, author });

/** A PR repo the fixture changes and commits, then `hub verify`'s library run on it. */
function prFixture(s: PrScenario): Fixture {
  return async () => {
    const r = await scenarioRepo(s);
    const result = await verifyPullRequest({ repo: r.dir, base: 'main', author: s.author });
    return { findings: result.findings, expected: s.expected(r) };
  };
}

/** Makes fft author-signed on main (the base), as its author would have; the PR branch follows. */
async function signFftOnMain(r: PrRepo): Promise<void> {
  r.git('checkout', '-q', 'main');
  await makeAuthorSigned(r.path('catalog'), 'fft');
  r.commit('fft is author-signed');
  r.git('checkout', '-q', 'pr');
  r.git('merge', '-q', '--ff-only', 'main');
}

const FFT_SIGNED = 'catalog/plugins/fft/signed-targets.json';
const TOPAZ = 'catalog/plugins/topaz/0.2.0.yaml';
const TOPAZ_OWNERS = 'catalog/plugins/topaz/owners.yaml';
const MAINTAINERS = 'catalog/maintainers.yaml';
const NEW_PLUGIN = 'catalog/plugins/fft-fast/1.0.0.yaml';

/** A new plugin fft-fast: a copy of fft 1.1.0's entry under a new id (its archive is not the point here). */
function addNewPlugin(r: PrRepo): void {
  r.write(
    NEW_PLUGIN,
    r
      .read('catalog/plugins/fft/1.1.0.yaml')
      .replace(/^plugin_id: .*$/m, 'plugin_id: fft-fast')
      .replace(/^version: .*$/m, 'version: 1.0.0'),
  );
}

type VerifyCode = keyof FixtureTable<'verify'>;

/** Every `verify.*` code's pull request but the install's (which needs an installer: see verifyFixtures). */
export const verifyScenarios: Record<Exclude<VerifyCode, 'verify.install-failed'>, PrScenario> = {
  'verify.version-deleted': scenario(
    (r) => r.remove(TOPAZ),
    () => ({ file: TOPAZ }),
  ),
  'verify.published-changed': scenario(
    (r) => r.edit(TOPAZ, (t) => t.replace(/size_bytes: (\d+)/, (_m, n) => `size_bytes: ${Number(n) + 1}`)),
    (r) => ({ file: TOPAZ, line: r.lineOf(TOPAZ, 'size_bytes:') }),
  ),
  'verify.archive-replaced': scenario(
    (r) => r.remove('catalog/assets/plugins/topaz-0.2.0.mpn'),
    () => ({ file: 'catalog/assets/plugins/topaz-0.2.0.mpn' }),
  ),
  'verify.tier-not-allowed': scenario(
    (r) => r.edit(TOPAZ, (t) => t.replace('tier: community', 'tier: verified')),
    (r) => ({ file: TOPAZ, line: r.lineOf(TOPAZ, 'tier:') }),
    'someone',
  ),
  'verify.maintainers-not-allowed': scenario(
    (r) => r.edit(MAINTAINERS, (t) => `${t}  - github: someone\n`),
    (r) => ({ file: MAINTAINERS, line: r.lineOf(MAINTAINERS, 'someone') }),
    'someone',
  ),
  'verify.maintainers-changed': scenario(
    (r) => r.edit(MAINTAINERS, (t) => `${t}  - github: newcomer\n`),
    (r) => ({ file: MAINTAINERS, line: r.lineOf(MAINTAINERS, 'newcomer') }),
    'sstagg',
  ),
  'verify.not-owner': scenario(
    (r) => r.edit(TOPAZ, (t) => `${t}yanked:\n  reason: "not mine to yank"\n  at: "2026-01-01T00:00:00Z"\n`),
    (r) => ({ file: TOPAZ, line: r.lineOf(TOPAZ, 'yanked:') }),
    'mallory',
  ),
  'verify.new-plugin-owner': scenario(
    (r) => addNewPlugin(r),
    (r) => ({ file: NEW_PLUGIN, line: r.lineOf(NEW_PLUGIN, 'version:') }),
    'newcomer',
  ),
  'verify.owners-changed': scenario(
    (r) => r.edit(TOPAZ_OWNERS, (t) => `${t}  - github: newcomer\n`),
    (r) => ({ file: TOPAZ_OWNERS, line: r.lineOf(TOPAZ_OWNERS, 'newcomer') }),
    'sstagg',
  ),
  'verify.unsigned-version': scenario(
    async (r) => {
      await signFftOnMain(r);
      await r.addVersion('fft', '1.3.0');
    },
    (r) => ({
      file: 'catalog/plugins/fft/1.3.0.yaml',
      line: r.lineOf('catalog/plugins/fft/1.3.0.yaml', 'version:'),
    }),
    'sstagg',
  ),
  'verify.bad-author-signature': scenario(
    async (r) => {
      await signFftOnMain(r);
      const { archive } = await r.addVersion('fft', '1.3.0');
      // Signed by a key the base's owners.yaml does not list (what a compromised hub could do).
      const bytes = readFileSync(r.path(archive));
      const text = signPluginTargets(
        'fft',
        readFileSync(r.path(FFT_SIGNED)),
        [archiveTarget('fft', '1.3.0', bytes)],
        readKeyFile(authorKey().file),
      );
      r.write(FFT_SIGNED, text);
    },
    () => ({ file: FFT_SIGNED }),
    'sstagg',
  ),
  'verify.outside-catalog': scenario(
    (r) => r.write('.github/workflows/x.yml', 'on: push\n'),
    () => ({ file: '.github/workflows/x.yml' }),
    'sstagg',
  ),
  'verify.download-failed': scenario(
    async (r) => {
      const { entry, archive } = await r.addVersion('fft', '1.3.0');
      r.remove(archive);
      // Nothing listens on port 9 of loopback: the download is refused at once.
      r.edit(entry, (t) => t.replace(/url: .*/, 'url: https://127.0.0.1:9/fft-1.3.0.mpn'));
    },
    (r) => ({
      file: 'catalog/plugins/fft/1.3.0.yaml',
      line: r.lineOf('catalog/plugins/fft/1.3.0.yaml', 'url:'),
    }),
  ),
};

export const verifyFixtures: FixtureTable<'verify'> = {
  ...(Object.fromEntries(Object.entries(verifyScenarios).map(([code, s]) => [code, prFixture(s)])) as Record<
    keyof typeof verifyScenarios,
    Fixture
  >),
  // The real thing: `hub verify` installs the new version with this repo's coreservice, and the
  // plugin exits before it is ever healthy.
  'verify.install-failed': async () => {
    const r = new PrRepo('fixture');
    repos.push(r);
    const { entry } = await r.addVersion('fft', '1.3.0', {
      pack: (dir) =>
        writeFileSync(
          join(dir, 'main.py'),
          'import sys\nprint("cannot start: no detector attached", file=sys.stderr)\nsys.exit(3)\n',
        ),
    });
    r.commit('fft 1.3.0 that cannot start');
    const { findings } = r.hubVerify();
    return { findings, expected: { file: entry, line: r.lineOf(entry, 'url:') } };
  },
};
