import type { IndexDocument, IndexPlugin } from '../schema/documents';

export interface ListingQuery {
  category?: string;
  tier?: string;
  tag?: string;
  /** Free text, matched case-insensitively against id, name, description, author and tags. */
  q?: string;
  page?: number;
  per_page?: number;
}

export interface ListingPage {
  items: IndexPlugin[];
  total: number;
  page: number;
  per_page: number;
  pages: number;
}

export const MAX_PER_PAGE = 100;
export const DEFAULT_PER_PAGE = 20;

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

/** Filters and pages the default listing; pages are 1-based and clamped to sane bounds. */
export function listPlugins(index: IndexDocument, query: ListingQuery): ListingPage {
  const per_page = Math.min(Math.max(Math.trunc(query.per_page ?? DEFAULT_PER_PAGE), 1), MAX_PER_PAGE);
  const matched = index.plugins.filter((p) => matchesListing(p, query));
  const pages = Math.max(1, Math.ceil(matched.length / per_page));
  const page = Math.min(Math.max(Math.trunc(query.page ?? 1), 1), pages);
  return {
    items: matched.slice((page - 1) * per_page, page * per_page),
    total: matched.length,
    page,
    per_page,
    pages,
  };
}
