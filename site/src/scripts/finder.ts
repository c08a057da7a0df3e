// Search and filters on the catalog page, over the Pagefind index built with the site. The state
// lives in the URL (?q=&category=&tier=&tag=&sort=): links can be shared, reloading restores it,
// and the back button steps through earlier searches. Without a query or filter the static,
// server-rendered list shows instead.

import { plural } from '../lib/words';

interface PagefindResultData {
  url: string;
  meta: Record<string, string>;
  filters: Record<string, string[]>;
}
interface PagefindResult {
  id: string;
  data(): Promise<PagefindResultData>;
}
interface Pagefind {
  options(o: Record<string, unknown>): Promise<void>;
  init(): Promise<void>;
  search(
    q: string | null,
    o: { filters?: Record<string, string | string[]>; sort?: Record<string, 'asc' | 'desc'> },
  ): Promise<{ results: PagefindResult[] } | null>;
}

const FIELDS = ['q', 'category', 'tier', 'tag', 'sort'] as const;
type State = Record<(typeof FIELDS)[number], string>;
const BATCH = 48;

/** The catalog page's elements the finder reads and writes. */
interface FinderElements {
  inputs: Record<keyof State, HTMLInputElement | HTMLSelectElement>;
  status: HTMLElement;
  results: HTMLElement;
  cards: HTMLUListElement;
  empty: HTMLElement;
  more: HTMLButtonElement;
  staticList: HTMLElement;
}

export function startFinder(): void {
  const form = document.getElementById('finder') as HTMLFormElement | null;
  if (!form) return;
  const base = form.dataset.base ?? '/plugins/';
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const inputs = Object.fromEntries(
    FIELDS.map((f) => [f, $<HTMLInputElement | HTMLSelectElement>(f)]),
  ) as Record<keyof State, HTMLInputElement | HTMLSelectElement>;
  const finder = new Finder(base, {
    inputs,
    status: $<HTMLElement>('status'),
    results: $<HTMLElement>('results'),
    cards: $<HTMLUListElement>('result-cards'),
    empty: $<HTMLElement>('empty'),
    more: $<HTMLButtonElement>('more'),
    staticList: $<HTMLElement>('static-list'),
  });
  form.hidden = false;
  finder.listen(form);
  const initial = fromUrl();
  finder.write(initial);
  if (active(initial)) void finder.apply(initial);
}

/** The state the URL holds (empty strings for what it does not give). */
function fromUrl(): State {
  const params = new URLSearchParams(location.search);
  return Object.fromEntries(FIELDS.map((f) => [f, params.get(f) ?? ''])) as State;
}

/** This page's URL for a state (only the fields that are set). */
function toUrl(s: State): string {
  const params = new URLSearchParams();
  for (const f of FIELDS) if (s[f]) params.set(f, s[f]);
  const qs = params.toString();
  return `${location.pathname}${qs ? `?${qs}` : ''}`;
}

/** Whether a state asks for anything (else the static list shows). */
function active(s: State): boolean {
  return FIELDS.some((f) => f !== 'sort' && s[f] !== '') || s.sort !== '';
}

/** Pagefind's filters and sort for a state: words rank by relevance, else the catalog's order. */
function searchOptions(s: State): {
  filters: Record<string, string>;
  sort: Record<string, 'asc' | 'desc'>;
} {
  const filters: Record<string, string> = {};
  if (s.category) filters.category = s.category;
  if (s.tier) filters.tier = s.tier;
  if (s.tag) filters.tag = s.tag;
  const sort: Record<string, 'asc' | 'desc'> =
    s.sort === 'updated'
      ? { updated: 'desc' }
      : s.sort === 'name'
        ? { name: 'asc' }
        : s.q
          ? {}
          : { order: 'asc' };
  return { filters, sort };
}

/** One result as a card: title link, tier badge, version, category link, description, tags. */
function card(d: PagefindResultData, base: string): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'card';
  const h = document.createElement('h2');
  const a = document.createElement('a');
  a.href = d.url;
  a.textContent = d.meta.title ?? d.url;
  h.append(a);
  const meta = document.createElement('p');
  meta.className = 'meta';
  const tier = document.createElement('span');
  tier.className = `badge ${d.meta.tier === 'verified' ? 'verified' : 'community'}`;
  tier.textContent = d.meta.tier ?? '';
  const version = document.createElement('span');
  version.textContent = d.meta.version ?? '';
  const category = document.createElement('a');
  category.href = `${base}categories/${encodeURIComponent(d.meta.category ?? '')}/`;
  category.textContent = d.meta.category ?? '';
  meta.append(tier, version, category);
  const desc = document.createElement('p');
  desc.className = 'desc';
  desc.textContent = d.meta.description ?? '';
  li.append(h, meta, desc);
  const tags = d.filters.tag ?? [];
  if (tags.length > 0) li.append(tagList(tags));
  return li;
}

/** A card's tags as a list. */
function tagList(tags: string[]): HTMLUListElement {
  const ul = document.createElement('ul');
  ul.className = 'tags';
  ul.setAttribute('aria-label', 'Tags');
  for (const t of tags) {
    const item = document.createElement('li');
    item.textContent = t;
    ul.append(item);
  }
  return ul;
}

/** The finder's state between events: the search running, the results not shown yet. */
class Finder {
  private run = 0;
  private pending: PagefindResult[] = [];
  private pagefind: Promise<Pagefind> | undefined;
  private readonly base: string;
  private readonly els: FinderElements;

  constructor(base: string, els: FinderElements) {
    this.base = base;
    this.els = els;
  }

  /** Pagefind, loaded once (on the first search). */
  private loadPagefind(): Promise<Pagefind> {
    this.pagefind ??= import(/* @vite-ignore */ `${this.base}pagefind/pagefind.js`).then(
      async (pf: Pagefind) => {
        await pf.options({ baseUrl: this.base });
        await pf.init();
        return pf;
      },
    );
    return this.pagefind;
  }

  /** The state the form's fields hold. */
  read(): State {
    return Object.fromEntries(FIELDS.map((f) => [f, this.els.inputs[f].value.trim()])) as State;
  }

  /** Puts a state into the form's fields. */
  write(s: State): void {
    for (const f of FIELDS) this.els.inputs[f].value = s[f];
  }

  /** Shows what a state asks for: the static list, or the first batch of search results. */
  async apply(s: State): Promise<void> {
    const { status, results, cards, empty, staticList } = this.els;
    const mine = ++this.run;
    if (!active(s)) {
      results.hidden = true;
      staticList.hidden = false;
      status.textContent = '';
      return;
    }
    status.textContent = 'Searching…';
    const pf = await this.loadPagefind();
    const found = await pf.search(s.q || null, searchOptions(s));
    if (mine !== this.run || !found) return;
    this.pending = found.results;
    cards.replaceChildren();
    staticList.hidden = true;
    results.hidden = false;
    const n = this.pending.length;
    status.textContent = `${plural(n, 'plugin')} found`;
    empty.hidden = n > 0;
    if (n === 0) this.showEmpty(s);
    await this.showMore(mine);
  }

  /** The next batch of results as cards, unless a newer search started meanwhile. */
  async showMore(mine: number): Promise<void> {
    const batch = this.pending.splice(0, BATCH);
    const datas = await Promise.all(batch.map((r) => r.data()));
    if (mine !== this.run) return;
    for (const d of datas) this.els.cards.append(card(d, this.base));
    this.els.more.hidden = this.pending.length === 0;
  }

  /** Nothing found: what was asked, and one button per search word or filter to drop it. */
  private showEmpty(s: State): void {
    const { empty } = this.els;
    const parts: string[] = [];
    if (s.q) parts.push(`“${s.q}”`);
    for (const f of ['category', 'tier', 'tag'] as const) if (s[f]) parts.push(`${f} ${s[f]}`);
    empty.replaceChildren();
    const p = document.createElement('p');
    p.textContent = `No plugin matches ${parts.join(', ')}. Try fewer words or remove a filter:`;
    empty.append(p);
    for (const f of ['q', 'category', 'tier', 'tag'] as const) {
      if (!s[f]) continue;
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = f === 'q' ? 'Clear the search words' : `Remove ${f} ${s[f]}`;
      b.addEventListener('click', () => this.change({ ...s, [f]: '' }));
      empty.append(b, document.createTextNode(' '));
    }
  }

  /** A new state: into the form, the URL (a history step, or replacing the current one) and the page. */
  change(s: State, push = true): void {
    this.write(s);
    const url = toUrl(s);
    if (url !== `${location.pathname}${location.search}`) {
      if (push) history.pushState(s, '', url);
      else history.replaceState(s, '', url);
    }
    void this.apply(s);
  }

  /** Wires the form, its fields, the "more" button and the back button. */
  listen(form: HTMLFormElement): void {
    const { inputs, more } = this.els;
    let typing: ReturnType<typeof setTimeout> | undefined;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.change(this.read());
    });
    inputs.q.addEventListener('input', () => {
      clearTimeout(typing);
      // Typing replaces the history entry it started; a pause makes it a step of its own.
      typing = setTimeout(() => this.change(this.read(), fromUrl().q === ''), 200);
    });
    for (const f of ['category', 'tier', 'sort', 'tag'] as const) {
      inputs[f].addEventListener('change', () => this.change(this.read()));
    }
    more.addEventListener('click', () => void this.showMore(this.run));
    window.addEventListener('popstate', () => {
      const s = fromUrl();
      this.write(s);
      void this.apply(s);
    });
  }
}
