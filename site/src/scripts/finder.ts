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

export function startFinder(): void {
  const form = document.getElementById('finder') as HTMLFormElement | null;
  if (!form) return;
  const base = form.dataset.base ?? '/plugins/';
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const inputs = Object.fromEntries(
    FIELDS.map((f) => [f, $<HTMLInputElement | HTMLSelectElement>(f)]),
  ) as Record<keyof State, HTMLInputElement | HTMLSelectElement>;
  const status = $<HTMLElement>('status');
  const results = $<HTMLElement>('results');
  const cards = $<HTMLUListElement>('result-cards');
  const empty = $<HTMLElement>('empty');
  const more = $<HTMLButtonElement>('more');
  const staticList = $<HTMLElement>('static-list');
  form.hidden = false;

  let pagefind: Promise<Pagefind> | undefined;
  const loadPagefind = () => {
    pagefind ??= import(/* @vite-ignore */ `${base}pagefind/pagefind.js`).then(async (pf: Pagefind) => {
      await pf.options({ baseUrl: base });
      await pf.init();
      return pf;
    });
    return pagefind;
  };

  const read = (): State => Object.fromEntries(FIELDS.map((f) => [f, inputs[f].value.trim()])) as State;
  const fromUrl = (): State => {
    const params = new URLSearchParams(location.search);
    return Object.fromEntries(FIELDS.map((f) => [f, params.get(f) ?? ''])) as State;
  };
  const write = (s: State) => {
    for (const f of FIELDS) inputs[f].value = s[f];
  };
  const toUrl = (s: State) => {
    const params = new URLSearchParams();
    for (const f of FIELDS) if (s[f]) params.set(f, s[f]);
    const qs = params.toString();
    return `${location.pathname}${qs ? `?${qs}` : ''}`;
  };
  const active = (s: State) => FIELDS.some((f) => f !== 'sort' && s[f] !== '') || s.sort !== '';

  let run = 0;
  let pending: PagefindResult[] = [];

  async function apply(s: State): Promise<void> {
    const mine = ++run;
    if (!active(s)) {
      results.hidden = true;
      staticList.hidden = false;
      status.textContent = '';
      return;
    }
    status.textContent = 'Searching…';
    const pf = await loadPagefind();
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
    const found = await pf.search(s.q || null, { filters, sort });
    if (mine !== run || !found) return;
    pending = found.results;
    cards.replaceChildren();
    staticList.hidden = true;
    results.hidden = false;
    const n = pending.length;
    status.textContent = `${plural(n, 'plugin')} found`;
    empty.hidden = n > 0;
    if (n === 0) showEmpty(s);
    await showMore(mine);
  }

  async function showMore(mine: number): Promise<void> {
    const batch = pending.splice(0, BATCH);
    const datas = await Promise.all(batch.map((r) => r.data()));
    if (mine !== run) return;
    for (const d of datas) cards.append(card(d));
    more.hidden = pending.length === 0;
  }

  function card(d: PagefindResultData): HTMLLIElement {
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
    if (tags.length > 0) {
      const ul = document.createElement('ul');
      ul.className = 'tags';
      ul.setAttribute('aria-label', 'Tags');
      for (const t of tags) {
        const item = document.createElement('li');
        item.textContent = t;
        ul.append(item);
      }
      li.append(ul);
    }
    return li;
  }

  function showEmpty(s: State): void {
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
      b.addEventListener('click', () => change({ ...s, [f]: '' }));
      empty.append(b, document.createTextNode(' '));
    }
  }

  function change(s: State, push = true): void {
    write(s);
    const url = toUrl(s);
    if (url !== `${location.pathname}${location.search}`) {
      if (push) history.pushState(s, '', url);
      else history.replaceState(s, '', url);
    }
    void apply(s);
  }

  let typing: ReturnType<typeof setTimeout> | undefined;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    change(read());
  });
  inputs.q.addEventListener('input', () => {
    clearTimeout(typing);
    // Typing replaces the history entry it started; a pause makes it a step of its own.
    typing = setTimeout(() => change(read(), fromUrl().q === ''), 200);
  });
  for (const f of ['category', 'tier', 'sort', 'tag'] as const) {
    inputs[f].addEventListener('change', () => change(read()));
  }
  more.addEventListener('click', () => void showMore(run));
  window.addEventListener('popstate', () => {
    const s = fromUrl();
    write(s);
    void apply(s);
  });
  const initial = fromUrl();
  write(initial);
  if (active(initial)) void apply(initial);
}
