// `hub publish` and `hub yank` end to end: a bare repo stands in for the GitHub repository (the
// push really happens), a local server speaks GitHub's REST wire format for the pull request, and
// what lands on the branch is checked with `hub verify`, exactly as CI would.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Finding, renderOwnersYaml } from '@magellon/hub-core';
import { entryForArchive, packPlugin, renderEntryYaml } from '@magellon/hub-core/node';
import { load } from 'js-yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeAuthorSigned } from '../../core/test/author-signed';
import { CATALOG_REFUSALS, setField } from '../../core/test/catalog-refusals';
import { STARTER_CATALOG } from '../../core/test/pr-repo';
import { FakeGitHub } from './fake-github';
import { runHubAsync } from './run-hub';

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples', 'plugins');
const TOKEN = 'ghp_test_author';
const MAINTAINER_TOKEN = 'ghp_test_maintainer';

let root: string;
let bare: string;
let clone: string;
let github: FakeGitHub;

const git = (dir: string, ...args: string[]) =>
  execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** hub as a child, never inheriting a token from the environment running the tests. */
const hub = (args: string[], env: Record<string, string | undefined> = {}) =>
  runHubAsync(args, { GITHUB_TOKEN: undefined, GH_TOKEN: undefined, ...env });

/** A copy of examples/plugins/<id> (links resolved) at `version`; `as` renames it (a new plugin). */
function pluginAt(id: string, version: string, as = id): string {
  const dir = join(mkdtempSync(join(root, 'plugin-')), as);
  cpSync(join(EXAMPLES, id), dir, { recursive: true, dereference: true });
  const manifest = join(dir, 'manifest.yaml');
  writeFileSync(
    manifest,
    readFileSync(manifest, 'utf8')
      .replace(/^version:.*$/m, `version: ${version}`)
      .replace(/^plugin_id:.*$/m, `plugin_id: ${as}`),
  );
  return dir;
}

const repoArgs = () => ['--repo-dir', clone, '--github', 'magellon/catalog', '--github-api', github.url];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hub-publish-test-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeEach(async () => {
  // "GitHub": a bare repo whose main holds the starter catalog; the author's clone of it.
  const seed = mkdtempSync(join(root, 'seed-'));
  git(seed, 'init', '-q', '-b', 'main');
  cpSync(STARTER_CATALOG, join(seed, 'catalog'), { recursive: true });
  // plugin-author co-owns fft and topaz (the starter's owners are the maintainers, sstagg among them).
  for (const id of ['fft', 'topaz']) {
    const owners = join(seed, 'catalog', 'plugins', id, 'owners.yaml');
    writeFileSync(owners, `${readFileSync(owners, 'utf8')}  - github: plugin-author\n`);
  }
  git(seed, 'add', '-A');
  git(seed, '-c', 'user.email=s@example.org', '-c', 'user.name=Seed', 'commit', '-q', '-m', 'catalog');
  bare = join(mkdtempSync(join(root, 'github-')), 'catalog.git');
  execFileSync('git', ['clone', '-q', '--bare', seed, bare]);
  clone = join(mkdtempSync(join(root, 'clone-')), 'catalog');
  execFileSync('git', ['clone', '-q', bare, clone]);
  git(clone, 'config', 'user.email', 'author@example.org');
  git(clone, 'config', 'user.name', 'Plugin Author');
  github = new FakeGitHub(bare, { [TOKEN]: 'plugin-author', [MAINTAINER_TOKEN]: 'sstagg' });
  await github.start();
});
afterEach(async () => {
  await github.stop();
});

/** `hub verify` of a branch of the bare repo against its main (what CI runs on the PR). */
async function verifyBranch(branch: string, extra: string[] = []) {
  const check = mkdtempSync(join(root, 'verify-'));
  execFileSync('git', ['clone', '-q', '--no-checkout', bare, check]);
  return hub([
    'verify',
    check,
    '--base',
    'origin/main',
    '--head',
    `origin/${branch}`,
    '--author',
    'plugin-author',
    ...extra,
  ]);
}

describe('hub publish', () => {
  it('packs, lints, writes the entry, pushes a branch and opens the pull request; hub verify passes it', async () => {
    const headBefore = git(clone, 'rev-parse', 'HEAD');
    const r = await hub(
      ['publish', pluginAt('fft', '1.3.0'), ...repoArgs(), '--published-at', '2026-02-01T12:00:00Z'],
      {
        GITHUB_TOKEN: TOKEN,
      },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('opened pull request #41: https://github.example/magellon/catalog/pull/41');

    // The pull request, as GitHub received it.
    const pr = github.requests.find((q) => q.method === 'POST')!;
    expect(pr.path).toBe('/api/v3/repos/magellon/catalog/pulls');
    expect(pr.authorization).toBe(`token ${TOKEN}`);
    expect(pr.body).toMatchObject({ head: 'publish/fft-1.3.0', base: 'main', title: 'Publish fft 1.3.0' });

    // The branch really is on "GitHub", with exactly the entry and the archive.
    const changed = git(bare, 'diff', '--name-status', 'main', 'publish/fft-1.3.0').split('\n');
    expect(changed).toEqual(['A\tcatalog/assets/plugins/fft-1.3.0.mpn', 'A\tcatalog/plugins/fft/1.3.0.yaml']);
    const entry = load(git(bare, 'show', 'publish/fft-1.3.0:catalog/plugins/fft/1.3.0.yaml')) as Record<
      string,
      unknown
    >;
    const archive = execFileSync('git', [
      '-C',
      bare,
      'show',
      'publish/fft-1.3.0:catalog/assets/plugins/fft-1.3.0.mpn',
    ]);
    const sha = execFileSync('sha256sum', { input: archive }).toString().split(' ')[0];
    expect(entry).toMatchObject({
      plugin_id: 'fft',
      version: '1.3.0',
      tier: 'community',
      published_at: '2026-02-01T12:00:00Z',
      archive: { url: '/assets/plugins/fft-1.3.0.mpn', sha256: sha, size_bytes: archive.length },
    });
    expect(pr.body!.body).toContain(sha);

    // The author's checkout was not touched.
    expect(git(clone, 'rev-parse', 'HEAD')).toBe(headBefore);
    expect(git(clone, 'status', '--porcelain')).toBe('');

    // And the catalog check CI runs on this pull request passes, a real install included.
    const v = await verifyBranch('publish/fft-1.3.0');
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stderr).toContain('1 installed');
  });

  it('a brand-new plugin: owners.yaml names the token’s user, and hub verify accepts it from them', async () => {
    const r = await hub(
      [
        'publish',
        pluginAt('fft', '0.1.0', 'fft-fast'),
        ...repoArgs(),
        '--published-at',
        '2026-02-01T12:00:00Z',
      ],
      { GITHUB_TOKEN: TOKEN },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Who the token belongs to, asked of GitHub with that token.
    expect(github.requests.find((q) => q.method === 'GET' && q.path === '/api/v3/user')).toMatchObject({
      authorization: `token ${TOKEN}`,
    });
    const branch = 'publish/fft-fast-0.1.0';
    expect(git(bare, 'diff', '--name-status', 'main', branch).split('\n')).toEqual([
      'A\tcatalog/assets/plugins/fft-fast-0.1.0.mpn',
      'A\tcatalog/plugins/fft-fast/0.1.0.yaml',
      'A\tcatalog/plugins/fft-fast/owners.yaml',
    ]);
    const owners = load(git(bare, 'show', `${branch}:catalog/plugins/fft-fast/owners.yaml`));
    expect(owners).toEqual({ owners: [{ github: 'plugin-author' }] });
    expect(github.requests.find((q) => q.method === 'POST')!.body!.body).toContain('owned by @plugin-author');
    const v = await verifyBranch(branch, ['--no-install']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    // Someone else opening that same pull request would not be its owner.
    const other = await hub([
      'verify',
      bare,
      '--base',
      'main',
      '--head',
      branch,
      '--author',
      'someone-else',
      '--no-install',
      '--format',
      'json',
    ]);
    expect(other.code).toBe(1);
    expect(JSON.parse(other.stdout).map((f: { code: string }) => f.code)).toEqual([
      'verify.new-plugin-owner',
    ]);
  });

  it('a new plugin without a token needs --author or --owner; a version of an existing plugin never writes owners.yaml', async () => {
    const unknown = await hub([
      'publish',
      pluginAt('fft', '0.1.0', 'fft-fast'),
      '--repo-dir',
      clone,
      '--dry-run',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('fft-fast is a new plugin and you become its owner');
    const named = await hub([
      'publish',
      pluginAt('fft', '0.1.0', 'fft-fast'),
      '--repo-dir',
      clone,
      '--owner',
      'lab-lead',
      '--owner',
      'plugin-author',
      '--dry-run',
      '--json',
    ]);
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout)).toMatchObject({
      ownersPath: 'catalog/plugins/fft-fast/owners.yaml',
      owners: ['lab-lead', 'plugin-author'],
    });
    const bad = await hub([
      'publish',
      pluginAt('fft', '0.1.0', 'fft-fast'),
      '--repo-dir',
      clone,
      '--owner',
      'not a login',
      '--dry-run',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('must be GitHub logins');
    // ctf exists: --owner is refused, and a publisher who does not own it is told before the PR.
    const existing = await hub([
      'publish',
      pluginAt('ctf', '1.3.0'),
      '--repo-dir',
      clone,
      '--owner',
      'x',
      '--dry-run',
    ]);
    expect(existing.code).toBe(2);
    expect(existing.stderr).toContain('--owner is for a new plugin');
    const notOwner = await hub(['publish', pluginAt('ctf', '1.3.0'), ...repoArgs(), '--dry-run'], {
      GITHUB_TOKEN: TOKEN,
    });
    expect(notOwner.code, notOwner.stderr).toBe(0);
    expect(notOwner.stderr).toContain(
      '@plugin-author is not an owner of ctf on main (its owners: @sstagg, @magellon-bot)',
    );
    expect(notOwner.stdout).toContain('# catalog/plugins/ctf/1.3.0.yaml');
    expect(notOwner.stdout).not.toContain('owners.yaml');
  });

  it('a maintainer publishes as verified; --tier verified is refused for anyone else', async () => {
    const mine = await hub(['publish', pluginAt('fft', '1.3.0'), ...repoArgs()], {
      GITHUB_TOKEN: MAINTAINER_TOKEN,
    });
    expect(mine.code, mine.stderr).toBe(0);
    expect(git(bare, 'show', 'publish/fft-1.3.0:catalog/plugins/fft/1.3.0.yaml')).toMatch(
      /^tier: verified$/m,
    );
    const theirs = await hub(['publish', pluginAt('ctf', '1.3.0'), ...repoArgs(), '--tier', 'verified'], {
      GITHUB_TOKEN: TOKEN,
    });
    expect(theirs.code).toBe(2);
    expect(theirs.stderr).toContain('@plugin-author is not one');
  });

  it('--dry-run prints the YAML and the pull request and changes nothing', async () => {
    const r = await hub(['publish', pluginAt('fft', '1.3.0'), ...repoArgs(), '--dry-run'], {
      GITHUB_TOKEN: TOKEN,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('# catalog/plugins/fft/1.3.0.yaml');
    expect(r.stdout).toMatch(/^plugin_id: fft$/m);
    expect(r.stdout).toContain(
      'would open a pull request from publish/fft-1.3.0 into main on magellon/catalog',
    );
    expect(github.requests.filter((q) => q.method === 'POST')).toEqual([]);
    expect(git(clone, 'branch', '--list', 'publish/*')).toBe('');
    expect(git(bare, 'branch', '--list', 'publish/*')).toBe('');
  });

  it('--sign: an author-signed plugin gets its signed-targets.json in the same commit; hub verify passes it', async () => {
    // fft becomes author-signed on main, as its author registered it (hub keys sign-plugin).
    const key = await makeAuthorSigned(join(clone, 'catalog'), 'fft');
    git(clone, 'add', '-A');
    git(clone, 'commit', '-q', '-m', 'fft is author-signed');
    git(clone, 'push', '-q', 'origin', 'HEAD:main');
    const unsigned = await hub(['publish', pluginAt('fft', '1.3.0'), ...repoArgs()], { GITHUB_TOKEN: TOKEN });
    expect(unsigned.code, unsigned.stdout + unsigned.stderr).toBe(0);
    const refused = await verifyBranch('publish/fft-1.3.0', ['--no-install']);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain('verify.unsigned-version');

    const r = await hub(
      [
        'publish',
        pluginAt('fft', '1.3.0'),
        ...repoArgs(),
        '--sign',
        key.file,
        '--branch',
        'signed/fft-1.3.0',
      ],
      { GITHUB_TOKEN: TOKEN },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const changed = git(bare, 'diff', '--name-status', 'main', 'signed/fft-1.3.0').split('\n');
    expect(changed).toEqual([
      'A\tcatalog/assets/plugins/fft-1.3.0.mpn',
      'A\tcatalog/plugins/fft/1.3.0.yaml',
      'M\tcatalog/plugins/fft/signed-targets.json',
    ]);
    const role = JSON.parse(git(bare, 'show', 'signed/fft-1.3.0:catalog/plugins/fft/signed-targets.json'));
    expect(role.signed.version).toBe(2);
    expect(role.signatures.map((s: { keyid: string }) => s.keyid)).toEqual([key.keyid]);
    const v = await verifyBranch('signed/fft-1.3.0', ['--no-install']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('without a token it stops after the local branch and says what to run next', async () => {
    const r = await hub(['publish', pluginAt('fft', '1.3.0'), '--repo-dir', clone, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ branch: 'publish/fft-1.3.0', pushed: false });
    expect(doc.next).toContain(`push origin publish/fft-1.3.0`);
    expect(git(clone, 'branch', '--list', 'publish/fft-1.3.0')).toContain('publish/fft-1.3.0');
    expect(git(bare, 'branch', '--list', 'publish/*')).toBe('');
    expect(github.requests).toEqual([]);
    // Running again does not move the branch it made.
    const again = await hub(['publish', pluginAt('fft', '1.3.0'), '--repo-dir', clone]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('branch publish/fft-1.3.0 already exists');
  });

  it('a version already in the catalog, or a plugin that fails lint, is refused before anything is created', async () => {
    const dup = await hub(['publish', pluginAt('fft', '1.1.0'), ...repoArgs()], { GITHUB_TOKEN: TOKEN });
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('catalog/plugins/fft/1.1.0.yaml is already on main: fft 1.1.0 is published');
    const broken = pluginAt('fft', '1.3.0');
    rmSync(join(broken, 'main.py'));
    writeFileSync(
      join(broken, 'manifest.yaml'),
      readFileSync(join(broken, 'manifest.yaml'), 'utf8').replace(/^category:.*$/m, 'category: "Not A Slug"'),
    );
    const bad = await hub(['publish', broken, ...repoArgs()], { GITHUB_TOKEN: TOKEN });
    expect(bad.code).toBe(1);
    expect(bad.stderr + bad.stdout).toMatch(/manifest|lint/);
    expect(git(bare, 'branch', '--list', 'publish/*')).toBe('');
    expect(github.requests.filter((q) => q.method === 'POST')).toEqual([]);
  });

  it('a token GitHub refuses: the branch is pushed, and the error says how to open the PR by hand', async () => {
    const r = await hub(['publish', pluginAt('fft', '1.3.0'), ...repoArgs()], {
      GITHUB_TOKEN: 'ghp_revoked',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('GitHub refused the pull request (401');
    expect(r.stderr).toContain('compare/main...publish/fft-1.3.0');
  });
});

describe('what the catalog refuses, hub lint refuses first (one row per rule publish enforces)', () => {
  const errorsIn = (stdout: string) =>
    (JSON.parse(stdout) as Finding[]).filter((f) => f.severity === 'error').map((f) => f.code);

  for (const refusal of CATALOG_REFUSALS) {
    it(`${refusal.what}: hub lint exits 1 with ${refusal.code}, and hub publish --dry-run refuses it`, async () => {
      const dir = pluginAt('fft', '1.3.0');
      const manifest = join(dir, 'manifest.yaml');
      if (refusal.field) {
        const { name, yaml } = refusal.field;
        writeFileSync(manifest, setField(readFileSync(manifest, 'utf8'), name, yaml));
      }
      for (const [path, text] of Object.entries(refusal.files ?? {})) writeFileSync(join(dir, path), text);
      const lint = await hub(['lint', dir, '--format', 'json']);
      expect(lint.code, lint.stdout + lint.stderr).toBe(1);
      expect(errorsIn(lint.stdout)).toEqual([refusal.code]);
      const publish = await hub(['publish', dir, ...repoArgs(), '--dry-run', '--json'], {
        GITHUB_TOKEN: TOKEN,
      });
      expect(publish.code, publish.stdout + publish.stderr).toBe(1);
      expect(errorsIn(publish.stdout)).toEqual([refusal.code]);
      expect(publish.stderr).toContain('✖ not published');
    });
  }
});

describe('an untouched hub scaffold', () => {
  it('lints and packs with a lint.placeholder warning; hub publish refuses it, and so does hub verify', async () => {
    const parent = mkdtempSync(join(root, 'scaffold-'));
    const dir = join(parent, 'beam-tilt');
    const made = await hub([
      'scaffold',
      'beam-tilt',
      '--category',
      'ctf',
      '--dir',
      parent,
      '--author',
      'Ada Lab',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const placeholder =
      /beam-tilt\/manifest\.yaml:\d+:\d+: warning lint\.placeholder: description is still the placeholder hub scaffold wrote \("Describe in a sentence or two[^"]*"\); replace it — hub publish and hub verify refuse it/;
    const lint = await hub(['lint', dir]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout).toMatch(placeholder);
    const pack = await hub(['pack', dir]);
    expect(pack.code, pack.stdout + pack.stderr).toBe(0);
    expect(pack.stdout).toMatch(placeholder);

    const publish = await hub(['publish', dir, ...repoArgs(), '--dry-run'], { GITHUB_TOKEN: TOKEN });
    expect(publish.code).toBe(1);
    expect(publish.stdout).toMatch(
      /beam-tilt\/manifest\.yaml:\d+:\d+: lint\.placeholder: description is still/,
    );
    expect(publish.stderr).toContain('✖ not published: hub lint found 1 error(s)');

    // The pull request publish would have opened, made by hand: the catalog check refuses it too.
    git(clone, 'checkout', '-q', '-b', 'add-beam-tilt');
    const packed = await packPlugin(dir, { out: join(clone, 'catalog/assets/plugins/beam-tilt-0.1.0.mpn') });
    const entry = entryForArchive(packed, { tier: 'community', published_at: '2026-02-01T12:00:00Z' });
    mkdirSync(join(clone, 'catalog/plugins/beam-tilt'));
    writeFileSync(join(clone, 'catalog/plugins/beam-tilt/0.1.0.yaml'), renderEntryYaml(entry));
    writeFileSync(join(clone, 'catalog/plugins/beam-tilt/owners.yaml'), renderOwnersYaml(['plugin-author']));
    git(clone, 'add', '-A');
    git(clone, 'commit', '-q', '-m', 'Publish beam-tilt 0.1.0');
    const verify = await hub([
      'verify',
      clone,
      '--base',
      'main',
      '--head',
      'add-beam-tilt',
      '--author',
      'plugin-author',
      '--no-install',
      '--format',
      'json',
    ]);
    expect(verify.code, verify.stderr).toBe(1);
    const findings = JSON.parse(verify.stdout) as Finding[];
    expect(findings.map((f) => [f.severity, f.code, f.file])).toEqual([
      ['error', 'lint.placeholder', 'catalog/assets/plugins/beam-tilt-0.1.0.mpn!manifest.yaml'],
    ]);
  });
});

describe('hub yank', () => {
  it('proposes exactly a yanked: block, which hub verify accepts', async () => {
    const r = await hub(
      [
        'yank',
        'topaz@0.2.0',
        '--reason',
        'Crashes on K3 "super-res" movies: use 0.3.0',
        ...repoArgs(),
        '--at',
        '2026-03-01T00:00:00Z',
      ],
      {
        GITHUB_TOKEN: TOKEN,
      },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(github.requests.find((q) => q.method === 'POST')!.body).toMatchObject({
      head: 'yank/topaz-0.2.0',
      title: 'Yank topaz 0.2.0',
    });
    const diff = git(bare, 'diff', 'main', 'yank/topaz-0.2.0');
    const added = diff.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++'));
    expect(added).toEqual([
      '+yanked:',
      '+  reason: "Crashes on K3 \\"super-res\\" movies: use 0.3.0"',
      '+  at: "2026-03-01T00:00:00Z"',
    ]);
    expect(diff.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---'))).toEqual([]);
    const v = await verifyBranch('yank/topaz-0.2.0');
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('refuses an unknown version, one already yanked, and a missing reason', async () => {
    expect((await hub(['yank', 'topaz@9.9.9', '--reason', 'x', '--repo-dir', clone])).stderr).toContain(
      'is not published',
    );
    expect((await hub(['yank', 'ctf@1.1.0', '--reason', 'x', '--repo-dir', clone])).stderr).toContain(
      'already yanked',
    );
    const noReason = await hub(['yank', 'topaz@0.2.0', '--repo-dir', clone]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason');
  });
});
