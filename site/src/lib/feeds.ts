// Atom feeds of new releases and the SVG badge, rendered from the site's data. Every string from
// the catalog goes through the core's xmlText: escaped, and stripped of what XML 1.0 cannot hold.
import { type PluginVersion, xmlText as xml } from '@magellon/hub-core';
import type { SitePlugin } from './catalog';

/** When a release's feed entry last changed: its yank, else its publication. */
const releaseUpdatedAt = (version: PluginVersion): string => version.yanked?.at ?? version.published_at;

/** An Atom document: the newest `limit` releases. */
export function atomFeed(opts: {
  id: string;
  title: string;
  selfUrl: string;
  siteUrl: string;
  updated: string;
  releases: Array<{ plugin: SitePlugin; version: PluginVersion }>;
  limit?: number;
}): string {
  const items = opts.releases.slice(0, opts.limit ?? 50);
  // A feed is as new as its newest entry (a yank updates its release's entry).
  const updated = Math.max(
    Date.parse(opts.updated),
    ...items.map(({ version }) => Date.parse(releaseUpdatedAt(version))),
  );
  const entries = items.map(({ plugin, version }) => {
    const url = `${opts.siteUrl}${plugin.id}/#v-${version.version}`;
    const status = version.yanked ? ` (yanked: ${version.yanked.reason})` : '';
    return `  <entry>
    <id>${xml(`${opts.siteUrl}${plugin.id}/${version.version}`)}</id>
    <title>${xml(`${plugin.doc.name} ${version.version}${version.yanked ? ' (yanked)' : ''}`)}</title>
    <link rel="alternate" type="text/html" href="${xml(url)}"/>
    <updated>${new Date(releaseUpdatedAt(version)).toISOString()}</updated>
    <published>${new Date(version.published_at).toISOString()}</published>
    <author><name>${xml(plugin.doc.author)}</name></author>
    <category term="${xml(plugin.doc.category)}"/>
    <summary type="text">${xml(`${plugin.doc.description}${status} · ${version.version} · ${plugin.doc.tier} · sha256 ${version.archive.sha256}`)}</summary>
  </entry>`;
  });
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>${xml(opts.id)}</id>
  <title>${xml(opts.title)}</title>
  <link rel="self" type="application/atom+xml" href="${xml(opts.selfUrl)}"/>
  <link rel="alternate" type="text/html" href="${xml(opts.siteUrl)}"/>
  <updated>${new Date(updated).toISOString()}</updated>
${entries.join('\n')}
</feed>
`;
}

/** Width of text in the badge's 11px sans font, roughly (enough to size the boxes). */
function textWidth(s: string): number {
  let w = 0;
  for (const c of s)
    w += /[ilj.,:;|!'`]/.test(c) ? 3.5 : /[mwMW@]/.test(c) ? 10 : /[A-Z0-9]/.test(c) ? 7.5 : 6.5;
  return Math.ceil(w);
}

/** A README badge: "magellon | <id> <latest> · <tier>", coloured by tier. */
export function badgeSvg(plugin: SitePlugin): string {
  const left = 'magellon';
  const right = `${plugin.id} ${plugin.doc.latest_version ?? 'yanked'} · ${plugin.doc.tier}`;
  const lw = textWidth(left) + 12;
  const rw = textWidth(right) + 12;
  const colour = plugin.doc.tier === 'verified' ? '#1a7f37' : '#4a5561';
  const label = `${left}: ${right}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${lw + rw}" height="20" role="img" aria-label="${xml(label)}">
  <title>${xml(label)}</title>
  <rect width="${lw}" height="20" fill="#24292f"/>
  <rect x="${lw}" width="${rw}" height="20" fill="${colour}"/>
  <g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">
    <text x="6" y="14">${xml(left)}</text>
    <text x="${lw + 6}" y="14">${xml(right)}</text>
  </g>
</svg>
`;
}
