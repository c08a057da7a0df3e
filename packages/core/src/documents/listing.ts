import type { z } from 'zod';
import { DEFAULT_PER_PAGE, type LISTING_SORTS, type listingQuerySchema, MAX_PER_PAGE } from '../schema/api';
import type { IndexDocument, IndexPlugin } from '../schema/documents';

export type ListingSort = (typeof LISTING_SORTS)[number] | `-${(typeof LISTING_SORTS)[number]}`;

/**
 * A listing query as its schema reads it: filters (`q`: every word must appear, case-insensitively,
 * in id, name, description, author, category or tags), `sort` (default `plugin_id`, `-` for
 * descending, ties always broken by plugin_id), `page` and `per_page`.
 */
export type ListingQuery = z.output<typeof listingQuerySchema>;

export interface ListingPage {
  items: IndexPlugin[];
  total: number;
  page: number;
  per_page: number;
  pages: number;
}

/** True when a plugin matches every filter in the query. */
export function matchesListing(p: IndexPlugin, query: ListingQuery): boolean {
  if (query.category && p.category !== query.category) return false;
  if (query.tier && p.tier !== query.tier) return false;
  if (query.tag && !p.tags.includes(query.tag)) return false;
  const q = query.q?.trim().toLowerCase();
  if (q) {
    const haystack = [p.plugin_id, p.name, p.description, p.author, p.category, ...p.tags]
      .join('\n')
      .toLowerCase();
    return q.split(/\s+/).every((word) => haystack.includes(word));
  }
  return true;
}

/**
 * When a plugin was last updated, as "recently updated" means it everywhere (the API listing's
 * `sort=updated`, the site's order and its plugin pages): when its default version (latest_version)
 * was published. A yank or a deprecation does not make a plugin recent; a plugin with no default
 * version (every version yanked) has none ('').
 */
export function pluginUpdatedAt(p: {
  latest_version?: string | null;
  versions: ReadonlyArray<{ version: string; published_at: string }>;
}): string {
  return p.versions.find((v) => v.version === p.latest_version)?.published_at ?? '';
}

const byId = (a: IndexPlugin, b: IndexPlugin) =>
  a.plugin_id < b.plugin_id ? -1 : a.plugin_id > b.plugin_id ? 1 : 0;
const KEYS: Record<(typeof LISTING_SORTS)[number], (p: IndexPlugin) => string> = {
  plugin_id: (p) => p.plugin_id,
  name: (p) => p.name.toLowerCase(),
  updated: pluginUpdatedAt,
  category: (p) => p.category,
};

/** Sorts a copy of `plugins` by `sort`; the order is total, so equal keys never swap between pages. */
export function sortListing(plugins: readonly IndexPlugin[], sort: ListingSort = 'plugin_id'): IndexPlugin[] {
  const desc = sort.startsWith('-');
  const key = KEYS[(desc ? sort.slice(1) : sort) as (typeof LISTING_SORTS)[number]];
  const keyed = plugins.map((p) => ({ p, k: key(p) }));
  keyed.sort((a, b) => {
    const c = a.k < b.k ? -1 : a.k > b.k ? 1 : 0;
    return (desc ? -c : c) || byId(a.p, b.p);
  });
  return keyed.map((x) => x.p);
}

/** Filters, sorts and pages the default listing. Pages are 1-based; a page past the end is empty. */
export function listPlugins(index: IndexDocument, query: ListingQuery): ListingPage {
  const per_page = Math.min(Math.max(Math.trunc(query.per_page ?? DEFAULT_PER_PAGE), 1), MAX_PER_PAGE);
  const matched = sortListing(
    index.plugins.filter((p) => matchesListing(p, query)),
    query.sort,
  );
  const pages = Math.max(1, Math.ceil(matched.length / per_page));
  const page = Math.max(Math.trunc(query.page ?? 1), 1);
  return {
    items: matched.slice((page - 1) * per_page, page * per_page),
    total: matched.length,
    page,
    per_page,
    pages,
  };
}
