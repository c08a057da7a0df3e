// Feeds and badges are XML documents built from catalog text: whatever that text holds, each one
// must stay well-formed, or feed readers and browsers refuse the whole document.

import type { PluginDocument, PluginVersion } from '@magellon/hub-core';
import { requireTool, xmlProblems } from '@magellon/hub-core/test-support';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SitePlugin } from './catalog';
import { atomFeed, badgeSvg } from './feeds';

const hasPython = requireTool('python3');

/** Any string: every code unit, lone surrogates included, and the characters XML gives meaning to. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({
    unit: fc.constantFrom('<', '>', '&', '"', "'", ']]>', '\u0000', '\r', '\ud800', '\uffff', 'a'),
    maxLength: 12,
  }),
);

const versionArb = fc.record({
  version: anyText,
  sha256: anyText,
  published: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  yanked: fc.option(anyText),
});

const pluginArb = fc.record({
  id: anyText,
  name: anyText,
  description: anyText,
  author: anyText,
  category: anyText,
  tier: fc.constantFrom('verified', 'community') as fc.Arbitrary<'verified' | 'community'>,
  latest: fc.option(anyText),
  versions: fc.array(versionArb, { minLength: 1, maxLength: 3 }),
});

function sitePlugin(p: typeof pluginArb extends fc.Arbitrary<infer T> ? T : never): SitePlugin {
  const versions: PluginVersion[] = p.versions.map((v) => {
    const at = new Date(v.published).toISOString();
    return {
      version: v.version,
      archive_id: '01957f48-4e80-7226-be34-36819bfa9d81',
      url: '/assets/plugins/x.mpn',
      sha256: v.sha256,
      size_bytes: 1,
      requires_sdk: '>=2',
      published_at: at,
      archive: { url: '/assets/plugins/x.mpn', sha256: v.sha256, size_bytes: 1 },
      tier: p.tier,
      ...(v.yanked === null ? {} : { yanked: { reason: v.yanked, at } }),
    };
  });
  const doc: PluginDocument = {
    schema_version: '1',
    generated_at: '2025-01-01T00:00:00.000Z',
    plugin_id: p.id,
    name: p.name,
    description: p.description,
    category: p.category,
    author: p.author,
    license: 'MIT',
    tier: p.tier,
    tags: [],
    latest_version: p.latest,
    versions,
  };
  return { id: p.id, doc, latest: versions[0]!, updated: versions[0]!.published_at, order: 0 };
}

describe('feeds and badges are well-formed XML whatever the catalog text holds', () => {
  it.skipIf(!hasPython)('Atom feeds and SVG badges (property, checked by a strict XML parser)', () => {
    const samples = fc.sample(fc.tuple(fc.array(pluginArb, { minLength: 1, maxLength: 3 }), anyText), {
      numRuns: 400,
      seed: 42,
    });
    const docs: string[] = [];
    for (const [raw, title] of samples) {
      const plugins = raw.map(sitePlugin);
      docs.push(
        atomFeed({
          id: `https://example.org/${title}`,
          title,
          selfUrl: `https://example.org/plugins/${title}/feed.xml`,
          siteUrl: 'https://example.org/plugins/',
          updated: '2025-01-01T00:00:00Z',
          releases: plugins.flatMap((plugin) => plugin.doc.versions.map((version) => ({ plugin, version }))),
        }),
        ...plugins.map(badgeSvg),
      );
    }
    const problems = xmlProblems(docs);
    expect(problems.flatMap((p, i) => (p ? [[p, docs[i]]] : []))).toEqual([]);
  });
});
