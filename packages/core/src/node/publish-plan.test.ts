// The publish decisions `hub pack`, `hub publish` and the starter catalog share: lint before pack
// (placeholders block only when publishing), a publishable archive, the tier a publisher may set,
// and the entry an archive gives, checked by the catalog's own rules.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LINT_ME_MANIFEST, writeLintMe } from '../../test/lint-plugin';
import type { Maintainers } from '../catalog/model';
import { TEMPLATE_PLACEHOLDERS } from '../manifest/template-placeholders';
import { DEFAULT_TIER } from '../schema/catalog-entry';
import { checkPublishable, decideTier, lintThenPack, planEntry } from './publish-plan';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-publish-plan-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

const pluginDir = (files: Record<string, string | null> = {}) =>
  writeLintMe(mkdtempSync(join(ROOT, 'p-')), files);

const withPlaceholder = LINT_ME_MANIFEST.replace(
  'description: A plugin for lint tests.',
  `description: >\n  ${TEMPLATE_PLACEHOLDERS.description}\n`,
);

describe('lintThenPack', () => {
  it('packs a plugin with a placeholder for its author, with the warning to show', async () => {
    const dir = pluginDir({ 'manifest.yaml': withPlaceholder });
    const out = join(ROOT, 'author.mpn');
    const result = await lintThenPack(dir, { out, purpose: 'author' });
    expect(result.status).toBe('packed');
    expect(result.lint.findings.map((f) => `${f.severity} ${f.code}`)).toEqual(['warning lint.placeholder']);
    expect(existsSync(out)).toBe(true);
  });

  it('refuses the same plugin for publishing before packing: nothing is written', async () => {
    const dir = pluginDir({ 'manifest.yaml': withPlaceholder });
    const out = join(ROOT, 'publish.mpn');
    let packing = false;
    const result = await lintThenPack(dir, { out, purpose: 'publish', onPacking: () => (packing = true) });
    expect(result.status).toBe('lint-failed');
    expect(result.lint.findings.map((f) => `${f.severity} ${f.code}`)).toEqual(['error lint.placeholder']);
    expect(packing).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it('returns a refused pack with lint’s findings (an existing archive without force)', async () => {
    const dir = pluginDir();
    const out = join(ROOT, 'twice.mpn');
    expect((await lintThenPack(dir, { out })).status).toBe('packed');
    const again = await lintThenPack(dir, { out });
    expect(again.status).toBe('pack-failed');
    expect(again.status === 'pack-failed' && again.error.code).toBe('pack.exists');
  });
});

describe('checkPublishable and planEntry', () => {
  it('an archive hub pack made is publishable; its entry is checked and placed under the catalog', async () => {
    const out = join(ROOT, 'entry.mpn');
    const packed = await lintThenPack(pluginDir(), { out, purpose: 'publish' });
    expect(packed.status).toBe('packed');
    const archive = await checkPublishable(out);
    if (!archive.ok) throw new Error('not publishable');
    expect(archive.archive_id).toMatch(/^[0-9a-f-]{36}$/);
    const m = archive.manifest;
    const plan = planEntry(archive, {
      tier: DEFAULT_TIER,
      published_at: '2025-06-01T00:00:00Z',
      archiveBaseUrl: 'https://cdn.example.org/',
      catalogDir: 'catalog',
    });
    expect(plan.ok).toBe(true);
    expect(plan.entryFile).toBe(`catalog/plugins/${m.plugin_id}/${m.version}.yaml`);
    expect(plan.url).toBe(`https://cdn.example.org/assets/plugins/${m.plugin_id}-${m.version}.mpn`);
    expect(plan.yaml).toContain(`sha256: ${archive.sha256}`);
    expect(plan.entry.tier).toBe('community');

    const refused = planEntry(archive, {
      tier: 'community',
      published_at: '2025-06-01T00:00:00Z',
      yanked: { reason: 'broken', at: 'not a time' },
      catalogDir: 'catalog',
    });
    expect(refused.ok).toBe(false);
    expect(refused.findings.length).toBeGreaterThan(0);
    expect(refused.findings.every((f) => f.file === plan.entryFile)).toBe(true);
  });

  it('a missing archive is not publishable: lint’s finding names it', async () => {
    const result = await checkPublishable(join(ROOT, 'missing.mpn'));
    expect(result.ok).toBe(false);
    expect(result.lint.findings.map((f) => f.code)).toEqual(['lint.not-found']);
  });
});

describe('decideTier', () => {
  const maintainers: Maintainers = { maintainers: [{ github: 'Sstagg' }] };

  it('a maintainer publishes verified unless asking for community', () => {
    expect(decideTier(undefined, 'sstagg', maintainers)).toEqual({ ok: true, tier: 'verified' });
    expect(decideTier('community', 'sstagg', maintainers)).toEqual({ ok: true, tier: 'community' });
  });

  it('anyone else publishes the default tier and may not ask for verified', () => {
    expect(decideTier(undefined, 'someone', maintainers)).toEqual({ ok: true, tier: DEFAULT_TIER });
    expect(decideTier('verified', 'someone', maintainers)).toEqual({ ok: false, reason: 'not-a-maintainer' });
    expect(decideTier('verified', undefined, maintainers)).toEqual({ ok: false, reason: 'unknown-author' });
    expect(decideTier('verified', 'sstagg', undefined)).toEqual({ ok: false, reason: 'not-a-maintainer' });
  });
});
