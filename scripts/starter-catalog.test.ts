import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildStarterCatalog, STARTER_OWNERS, STARTER_RELEASES } from '@magellon/hub-core/test-support';
import { load } from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..');
const ROOT = mkdtempSync(join(tmpdir(), 'hub-starter-test-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

describe('the starter catalog', () => {
  it('is exactly what hub pack builds from examples/plugins (run `npm run starter-catalog` after changing them)', async () => {
    const out = join(ROOT, 'catalog');
    // The tiers are judged by the catalog's maintainers, as hub publish judges them on the base branch.
    cpSync(join(REPO, 'catalog', 'maintainers.yaml'), join(out, 'maintainers.yaml'));
    await buildStarterCatalog(join(REPO, 'examples', 'plugins'), out, join(ROOT, 'work'));
    for (const sub of ['plugins', 'assets/plugins']) {
      const committed = readdirSync(join(REPO, 'catalog', sub), { recursive: true, encoding: 'utf8' }).sort();
      const rebuilt = readdirSync(join(out, sub), { recursive: true, encoding: 'utf8' }).sort();
      expect(rebuilt).toEqual(committed);
      for (const f of rebuilt.filter((p) => p.endsWith('.yaml') || p.endsWith('.mpn'))) {
        expect(
          readFileSync(join(out, sub, f)).equals(readFileSync(join(REPO, 'catalog', sub, f))),
          `${sub}/${f}`,
        ).toBe(true);
      }
    }
  });

  it('refuses a verified release when maintainers.yaml does not list its publisher, as hub publish does', async () => {
    const out = join(ROOT, 'no-maintainers');
    await expect(
      buildStarterCatalog(join(REPO, 'examples', 'plugins'), out, join(ROOT, 'work-2')),
    ).rejects.toThrow(
      /fft 1\.0\.0: tier verified is not allowed for @sstagg by .*maintainers\.yaml \(not-a-maintainer\)/,
    );
  });

  it('has all nine Magellon plugins, several versions for some, a yanked one and both tiers', () => {
    const ids = new Set(STARTER_RELEASES.map((r) => r.id));
    expect([...ids].sort()).toEqual([
      'can-classifier',
      'ctf',
      'fft',
      'magellon-sample-plugin',
      'motioncor',
      'ptolemy',
      'stack-maker',
      'template-picker',
      'topaz',
    ]);
    expect(STARTER_RELEASES.filter((r) => r.id === 'fft').length).toBeGreaterThan(1);
    expect(STARTER_RELEASES.some((r) => r.yanked)).toBe(true);
    expect(new Set(STARTER_RELEASES.map((r) => r.tier))).toEqual(new Set(['verified', 'community']));
  });

  it('every starter plugin is owned by the hub maintainers who published it', () => {
    const { maintainers } = load(readFileSync(join(REPO, 'catalog', 'maintainers.yaml'), 'utf8')) as {
      maintainers: Array<{ github: string }>;
    };
    expect([...STARTER_OWNERS]).toEqual(maintainers.map((m) => m.github));
    for (const id of new Set(STARTER_RELEASES.map((r) => r.id))) {
      const { owners } = load(readFileSync(join(REPO, 'catalog', 'plugins', id, 'owners.yaml'), 'utf8')) as {
        owners: Array<{ github: string }>;
      };
      expect(
        owners.map((o) => o.github),
        id,
      ).toEqual([...STARTER_OWNERS]);
    }
  });
});
