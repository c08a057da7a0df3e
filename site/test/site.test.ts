// The catalog site, built from the repo's catalog and served by `hub serve --site` on 127.0.0.1,
// driven in headless Chromium (Debian's, through playwright-core): search, filters in the URL,
// plugin pages against the catalog, feeds and badges, accessibility (axe-core), screenshots at
// phone and desktop widths, and a link check over every built page.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { FINDING_CODES } from '@magellon/hub-core';
import { loadCatalog, locateArchive } from '@magellon/hub-core/node';
import { generateCatalog, skipLoudly } from '@magellon/hub-core/test-support';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactSize, humanSize } from '../src/lib/words';

const REPO = join(import.meta.dirname, '..', '..');
const HUB = join(REPO, 'packages', 'cli', 'bin', 'hub.js');
const SHOTS = join(REPO, 'site', 'test-output');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

let out = '';
let server: ChildProcess | undefined;
/** `http://127.0.0.1:<port>`: the hub, with the site under /plugins/. */
let origin = '';
let base = '';
let browser: Browser | undefined;

/** Builds the site from `catalog` into `dir` with the project's build script. */
export function buildSite(catalog: string, dir: string): void {
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'build-site.mjs')], {
    env: { ...process.env, HUB_SITE_CATALOG: catalog, HUB_SITE_OUT: dir },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`the site build failed:\n${r.stdout}\n${r.stderr}`);
}

/** `hub serve --site` on a free loopback port; resolves to its URL once it listens. */
function serve(siteDir: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [HUB, 'serve', join(REPO, 'catalog'), '--port', '0', '--workers', '1', '--site', siteDir],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    let text = '';
    const timer = setTimeout(() => reject(new Error(`hub serve did not start: ${text}`)), 60_000);
    const onData = (c: Buffer) => {
      text += c;
      const m = /serving the hub at (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]! });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub serve exited ${code}: ${text}`));
    });
  });
}

function chromiumPath(): string | undefined {
  const r = spawnSync(join(REPO, 'infra', 'chromium', 'chromium.sh'), ['path'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) {
    skipLoudly(
      'the site browser tests',
      `headless Chromium is not available: ${(r.stderr || '').trim().split('\n').at(-1)}`,
    );
    return undefined;
  }
  return r.stdout.trim();
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'hub-site-'));
  buildSite(join(REPO, 'catalog'), out);
  const served = await serve(out);
  server = served.child;
  origin = served.url;
  base = `${served.url}/plugins/`;
  const exe = chromiumPath();
  if (exe) {
    browser = await chromium.launch({
      executablePath: exe,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }
  mkdirSync(SHOTS, { recursive: true });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  if (server?.pid) process.kill(server.pid, 'SIGTERM');
  rmSync(out, { recursive: true, force: true });
});

async function page(
  opts: { viewport?: { width: number; height: number }; js?: boolean; dark?: boolean } = {},
): Promise<Page> {
  const context = await browser!.newContext({
    viewport: opts.viewport ?? DESKTOP,
    javaScriptEnabled: opts.js ?? true,
    colorScheme: opts.dark ? 'dark' : 'light',
  });
  return context.newPage();
}

const cardNames = (p: Page, list: string) => p.locator(`${list} .card h2 a`).allTextContents();
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Form controls a reader cannot fully see: a control outside the viewport (or, inside a box that
 * scrolls or clips, outside what that box can show), and a select too narrow for its longest
 * option (measured in the select's own font, with room for Chromium's arrow).
 */
function clippedControls(p: Page): Promise<string[]> {
  return p.evaluate(() => {
    const ARROW = 20;
    const problems: string[] = [];
    const pen = document.createElement('canvas').getContext('2d')!;
    const name = (e: Element) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}`;
    for (const el of document.querySelectorAll<HTMLElement>('input, select, button, textarea')) {
      const box = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if ((box.width === 0 && box.height === 0) || style.visibility === 'hidden') continue;
      let holder = el.parentElement;
      while (holder && holder !== document.body && getComputedStyle(holder).overflowX === 'visible')
        holder = holder.parentElement;
      if (holder && holder !== document.body) {
        const h = holder.getBoundingClientRect();
        const scrolls = ['auto', 'scroll'].includes(getComputedStyle(holder).overflowX);
        const left = scrolls ? h.left - holder.scrollLeft : h.left;
        const right = scrolls ? left + holder.scrollWidth : h.right;
        if (box.left < left - 0.5 || box.right > right + 0.5)
          problems.push(`${name(el)} runs out of its ${name(holder)}`);
        if (h.left < -0.5 || h.right > innerWidth + 0.5)
          problems.push(`the ${name(holder)} holding ${name(el)} runs out of the viewport`);
      } else if (box.left < -0.5 || box.right > innerWidth + 0.5) {
        problems.push(`${name(el)} runs out of the viewport (${box.left}–${box.right} of ${innerWidth})`);
      }
      if (el instanceof HTMLSelectElement) {
        pen.font = style.font;
        const widest = Math.max(...[...el.options].map((o) => pen.measureText(o.text).width));
        const room =
          el.clientWidth -
          Number.parseFloat(style.paddingLeft) -
          Number.parseFloat(style.paddingRight) -
          ARROW;
        if (widest > room)
          problems.push(
            `${name(el)} clips its options (${widest.toFixed(0)} px of text in ${room.toFixed(0)} px)`,
          );
      }
    }
    return problems;
  });
}

/** Versions-table cells that wrapped: a date, a size or a download link on more than one line. */
function wrappedCells(p: Page): Promise<string[]> {
  return p.locator('tr[data-version]').evaluateAll((rows) =>
    rows.flatMap((tr) => {
      const v = tr.getAttribute('data-version');
      const parts = {
        date: tr.querySelector('time'),
        download: tr.querySelector('a.download'),
        size: tr.querySelector('.size'),
      };
      const bad = Object.entries(parts)
        .filter(([, el]) => el?.getClientRects().length !== 1)
        .map(([what]) => `${v}: the ${what} wraps`);
      const [a, size] = [parts.download, parts.size];
      if (a && size && Math.abs(a.getBoundingClientRect().top - size.getBoundingClientRect().top) > 1)
        bad.push(`${v}: the size is not on the download link's line`);
      return bad;
    }),
  );
}

describe('the catalog site in Chromium', () => {
  it('search finds a plugin by one of its tags', async (ctx) => {
    if (!browser) return ctx.skip();
    const p = await page();
    await p.goto(base);
    await p.fill('#q', 'defocus');
    await expect.poll(() => cardNames(p, '#result-cards')).toContain('CTFFIND4 — CTF estimation');
    expect(await p.locator('#static-list').isHidden()).toBe(true);
    expect(new URL(p.url()).searchParams.get('q')).toBe('defocus');
    await p.context().close();
  });

  it('filters narrow the list, live in the URL, survive a reload and the back button', async (ctx) => {
    if (!browser) return ctx.skip();
    const catalog = await loadCatalog(join(REPO, 'catalog'));
    const live = new Map<string, { category: string; tier: string; name: string }>();
    for (const { entry } of catalog.entries) if (!entry.yanked) live.set(entry.plugin_id, entry);
    const names = (f: (e: { category: string; tier: string }) => boolean) =>
      [...live.values()]
        .filter(f)
        .map((e) => e.name)
        .sort();

    const p = await page();
    await p.goto(base);
    await p.selectOption('#tier', 'verified');
    await expect
      .poll(async () => (await cardNames(p, '#result-cards')).sort())
      .toEqual(names((e) => e.tier === 'verified'));
    await p.selectOption('#category', 'ctf');
    const both = names((e) => e.tier === 'verified' && e.category === 'ctf');
    await expect.poll(async () => (await cardNames(p, '#result-cards')).sort()).toEqual(both);
    const url = new URL(p.url());
    expect(url.searchParams.get('tier')).toBe('verified');
    expect(url.searchParams.get('category')).toBe('ctf');

    await p.reload();
    await expect.poll(async () => (await cardNames(p, '#result-cards')).sort()).toEqual(both);
    expect(await p.inputValue('#category')).toBe('ctf');
    expect(await p.inputValue('#tier')).toBe('verified');

    await p.goBack();
    await expect.poll(() => p.inputValue('#category')).toBe('');
    await expect
      .poll(async () => (await cardNames(p, '#result-cards')).sort())
      .toEqual(names((e) => e.tier === 'verified'));

    // A combination nothing matches says what to change.
    await p.selectOption('#category', 'fft');
    await p.selectOption('#tier', 'community');
    await expect.poll(() => p.locator('#empty').textContent()).toContain('Remove category fft');
    await p.context().close();
  });

  it('each plugin page lists every version with its sha256; a yanked one is marked with its reason', async (ctx) => {
    if (!browser) return ctx.skip();
    const catalog = await loadCatalog(join(REPO, 'catalog'));
    const byPlugin = new Map<string, Array<(typeof catalog.entries)[number]['entry']>>();
    for (const { entry } of catalog.entries)
      byPlugin.set(entry.plugin_id, [...(byPlugin.get(entry.plugin_id) ?? []), entry]);
    const p = await page();
    for (const [id, entries] of byPlugin) {
      await p.goto(`${base}${id}/`);
      const rows = await p.locator('tr[data-version]').evaluateAll((trs) =>
        trs.map((tr) => ({
          version: tr.getAttribute('data-version'),
          sha: tr.querySelector('code.sha')?.textContent,
          status: tr.lastElementChild?.textContent ?? '',
        })),
      );
      expect(rows.map((r) => r.version).sort()).toEqual(entries.map((e) => e.version).sort());
      for (const e of entries) {
        const row = rows.find((r) => r.version === e.version)!;
        expect(row.sha, `${id} ${e.version}`).toBe(e.archive.sha256);
        if (e.yanked) {
          expect(row.status).toContain('yanked');
          expect(row.status).toContain(e.yanked.reason);
        } else {
          expect(row.status).not.toContain('yanked');
        }
      }
    }
    await p.context().close();
  });

  it('every version links to its archive: the bytes hash to its sha256, the size shown is its size', async (ctx) => {
    if (!browser) return ctx.skip();
    const catalog = await loadCatalog(join(REPO, 'catalog'));
    const p = await page();
    for (const id of new Set(catalog.entries.map((e) => e.entry.plugin_id))) {
      await p.goto(`${base}${id}/`);
      // Followed as the browser follows it: the link resolved against the page, fetched, hashed.
      const rows = await p.locator('tr[data-version]').evaluateAll((trs) =>
        Promise.all(
          trs.map(async (tr) => {
            const a = tr.querySelector<HTMLAnchorElement>('a.download')!;
            const size = tr.querySelector<HTMLElement>('.size')!;
            const res = await fetch(a.href);
            const bytes = await res.arrayBuffer();
            const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
            return {
              version: tr.getAttribute('data-version'),
              href: a.getAttribute('href'),
              download: a.getAttribute('download'),
              status: res.status,
              sha: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''),
              length: bytes.byteLength,
              shown: size.textContent,
              title: size.title,
            };
          }),
        ),
      );
      const entries = catalog.entries.filter((x) => x.entry.plugin_id === id);
      expect(rows.length, id).toBe(entries.length);
      for (const { entry: e } of entries) {
        const row = rows.find((r) => r.version === e.version)!;
        const what = `${id} ${e.version}`;
        // Hub-relative, as in the /v1 documents: the hub serving the site serves the archive too.
        expect(row.href, what).toBe(e.archive.url);
        expect(row.status, what).toBe(200);
        expect(row.sha, what).toBe(e.archive.sha256);
        expect(row.length, what).toBe(e.archive.size_bytes);
        expect(row.shown, what).toBe(humanSize(e.archive.size_bytes));
        expect(row.title, what).toBe(exactSize(e.archive.size_bytes));
        expect(row.download, what).toBe(`${id}-${e.version}.mpn`);
      }
    }
    // And as a person does it: a click saves the file under its name, and the file checks out.
    const ctf = catalog.entries.find((e) => e.entry.plugin_id === 'ctf' && e.entry.version === '1.0.0')!;
    await p.goto(`${base}ctf/`);
    const [download] = await Promise.all([
      p.waitForEvent('download'),
      p.locator('tr[data-version="1.0.0"] a.download').click(),
    ]);
    expect(download.suggestedFilename()).toBe('ctf-1.0.0.mpn');
    expect(sha256(readFileSync(await download.path()))).toBe(ctf.entry.archive.sha256);
    await p.context().close();
  });

  it('an unknown page is the site’s own 404 page; / lands on the catalog; every icon the pages name loads', async (ctx) => {
    if (!browser) return ctx.skip();
    const p = await page();
    const missing = await p.goto(`${base}nope/`);
    expect(missing!.status()).toBe(404);
    expect(await p.locator('h1').textContent()).toBe('Page not found');
    expect(await p.locator('header.top a.brand').isVisible()).toBe(true);
    // Styled: the site's stylesheet applies (main is the layout's centred column).
    expect(await p.locator('main').evaluate((m) => getComputedStyle(m).maxWidth)).toBe('1152px');
    await p.locator('main a', { hasText: 'Back to the catalog' }).click();
    await expect.poll(() => p.url()).toBe(base);
    // Its search box searches the catalog.
    await p.goto(`${base}no/such/page/`);
    await p.fill('#q', 'defocus');
    await p.press('#q', 'Enter');
    await expect.poll(() => cardNames(p, '#result-cards')).toContain('CTFFIND4 — CTF estimation');
    expect(new URL(p.url()).pathname).toBe('/plugins/');

    const root = await p.goto(`${origin}/`);
    expect(p.url()).toBe(base);
    expect(root!.status()).toBe(200);

    const icons = await p
      .locator('link[rel~="icon"]')
      .evaluateAll((links) => links.map((l) => (l as HTMLLinkElement).href));
    expect(icons.length).toBeGreaterThan(0);
    for (const url of [...icons, `${origin}/favicon.ico`]) {
      const loaded = await p.evaluate(async (u) => {
        const res = await fetch(u);
        const img = new Image();
        img.src = u;
        await img.decode().catch(() => undefined);
        return { status: res.status, type: res.headers.get('content-type'), width: img.naturalWidth };
      }, url);
      expect(loaded.status, url).toBe(200);
      expect(loaded.type, url).toMatch(/^image\//);
      expect(loaded.width, `${url} decodes as an image`).toBeGreaterThan(0);
    }
    await p.context().close();
  });

  it('cards link to plugin pages, and the install instructions name the latest version', async (ctx) => {
    if (!browser) return ctx.skip();
    const p = await page();
    await p.goto(base);
    const first = p.locator('#static-list .card h2 a').first();
    const name = await first.textContent();
    await first.click();
    await expect.poll(() => p.locator('h1').textContent()).toBe(name);
    const latest = await p
      .locator('tr[data-version]')
      .evaluateAll((trs) =>
        trs.find((tr) => tr.textContent?.includes('latest'))?.getAttribute('data-version'),
      );
    expect(await p.locator('#install-cli').textContent()).toMatch(
      new RegExp(`^coreservice install [a-z0-9._-]+@${latest!.replaceAll('.', '\\.')}$`),
    );
    await p.context().close();
  });

  it('the feeds and the badges parse', async (ctx) => {
    if (!browser) return ctx.skip();
    const p = await page();
    await p.goto(base);
    const check = (path: string) =>
      p.evaluate(async (url) => {
        const text = await (await fetch(url)).text();
        const doc = new DOMParser().parseFromString(text, 'application/xml');
        return {
          error: doc.getElementsByTagName('parsererror').length > 0,
          root: doc.documentElement.nodeName,
          entries: doc.getElementsByTagName('entry').length,
          titles: [...doc.getElementsByTagName('title')].map((t) => t.textContent),
          label: doc.documentElement.getAttribute('aria-label'),
        };
      }, `${base}${path}`);
    const all = await check('feed.xml');
    expect(all).toMatchObject({ error: false, root: 'feed', entries: 15 });
    const ctf = await check('ctf/feed.xml');
    expect(ctf).toMatchObject({ error: false, root: 'feed', entries: 2 });
    expect(ctf.titles).toContain('CTFFIND4 — CTF estimation 1.1.0 (yanked)');
    const badge = await check('ctf/badge.svg');
    expect(badge).toMatchObject({ error: false, root: 'svg', label: 'magellon: ctf 1.0.0 · verified' });
    await p.context().close();
  });

  it('works without JavaScript: the list, plugin pages and categories are all there', async (ctx) => {
    if (!browser) return ctx.skip();
    const p = await page({ js: false });
    await p.goto(base);
    expect(await p.locator('#finder').isHidden()).toBe(true);
    expect((await cardNames(p, '#static-list')).length).toBe(9);
    await p.goto(`${base}categories/ctf/`);
    expect(await p.locator('table.compare tbody tr').count()).toBeGreaterThan(0);
    await p.context().close();
  });

  it('has no serious or critical accessibility violations (axe-core), light and dark', async (ctx) => {
    if (!browser) return ctx.skip();
    for (const dark of [false, true]) {
      const p = await page({ dark });
      for (const path of ['', 'ctf/', 'categories/ctf/', 'publish/', 'categories/', 'nope/']) {
        await p.goto(`${base}${path}`);
        const result = await new AxeBuilder({ page: p })
          .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
          .analyze();
        const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        expect(
          bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
          `${dark ? 'dark' : 'light'} /plugins/${path}`,
        ).toEqual([]);
      }
      await p.context().close();
    }
  });

  it('screenshots at phone and desktop widths: nothing overflows, no control is clipped, no date or size wraps', async (ctx) => {
    if (!browser) return ctx.skip();
    const ids = [
      ...new Set((await loadCatalog(join(REPO, 'catalog'))).entries.map((e) => e.entry.plugin_id)),
    ];
    const overflow = (p: Page) => p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    for (const [label, viewport] of [
      ['phone', PHONE],
      ['desktop', DESKTOP],
    ] as const) {
      const p = await page({ viewport });
      await p.goto(base);
      await expect.poll(() => p.locator('#finder').isVisible()).toBe(true);
      await p.screenshot({ path: join(SHOTS, `catalog-${label}.png`), fullPage: true });
      // Nothing runs off the side of a phone screen; every control of the finder shows whole.
      expect(await overflow(p), `${label} catalog: horizontal overflow`).toBeLessThanOrEqual(0);
      expect(await clippedControls(p), `${label} catalog`).toEqual([]);
      expect(await p.locator('#sort').isVisible()).toBe(true);
      await p.goto(`${base}ctf/`);
      await p.screenshot({ path: join(SHOTS, `plugin-ctf-${label}.png`), fullPage: true });
      await p
        .locator('#versions + .table-wrap')
        .screenshot({ path: join(SHOTS, `versions-ctf-${label}.png`) });
      await p.goto(`${base}nope/`);
      await p.screenshot({ path: join(SHOTS, `not-found-${label}.png`), fullPage: true });
      expect(await clippedControls(p), `${label} 404 page`).toEqual([]);
      for (const id of ids) {
        await p.goto(`${base}${id}/`);
        expect(await overflow(p), `${label} ${id}: horizontal overflow`).toBeLessThanOrEqual(0);
        expect(await clippedControls(p), `${label} ${id}`).toEqual([]);
        expect(await wrappedCells(p), `${label} ${id}`).toEqual([]);
      }
      await p.context().close();
    }
    for (const f of [
      'catalog-phone.png',
      'catalog-desktop.png',
      'plugin-ctf-phone.png',
      'plugin-ctf-desktop.png',
      'not-found-phone.png',
      'not-found-desktop.png',
    ]) {
      expect(statSync(join(SHOTS, f)).size).toBeGreaterThan(5_000);
    }
  });
});

describe('the built site', () => {
  it('the publish page lists every finding code the checks can report', () => {
    const html = readFileSync(join(out, 'publish', 'index.html'), 'utf8');
    for (const code of Object.keys(FINDING_CODES)) expect(html, code).toContain(`<code>${code}</code>`);
  });

  it('the publish page says who owns a plugin and how to hand it on', () => {
    const html = readFileSync(join(out, 'publish', 'index.html'), 'utf8');
    expect(html).toContain('<h2>Who owns a plugin</h2>');
    expect(html).toContain('catalog/plugins/&lt;plugin_id&gt;/owners.yaml');
    expect(html).toMatch(/owners:\n\s+- github: your-login/);
    expect(html).toContain('To share or hand on a plugin, an owner changes its <code>owners.yaml</code>');
  });

  it('has no broken internal link or asset', () => {
    const broken = brokenLinks(out, join(REPO, 'catalog'));
    expect(broken).toEqual([]);
  });

  it('served by hub serve --site: unknown pages get the 404 page, / redirects to the site, /favicon.ico is its icon', async () => {
    for (const path of ['nope/', 'nope', 'ctf/nope/', 'no/such/page.html']) {
      const r = await fetch(`${base}${path}`);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('content-type'), path).toBe('text/html; charset=utf-8');
      const html = await r.text();
      expect(html, path).toContain('<h1>Page not found</h1>');
      expect(html, path).toContain('<header class="top"');
      expect(html, path).toContain('<a href="/plugins/">Back to the catalog</a>');
    }
    for (const method of ['GET', 'HEAD']) {
      const root = await fetch(`${origin}/`, { method, redirect: 'manual' });
      expect(root.status, method).toBe(302);
      expect(root.headers.get('location'), method).toBe('/plugins/');
    }
    const ico = await fetch(`${origin}/favicon.ico`);
    expect(ico.status).toBe(200);
    expect(ico.headers.get('content-type')).toBe('image/x-icon');
    const bytes = new Uint8Array(await ico.arrayBuffer());
    expect([...bytes.subarray(0, 4)]).toEqual([0, 0, 1, 0]);
    expect(bytes).toEqual(new Uint8Array(readFileSync(join(out, 'favicon.ico'))));
    // The API is still the API beside the site.
    expect((await fetch(`${origin}/v1/nope`)).headers.get('content-type')).toContain('application/json');
  });

  it('counts read as English: 1 backend serves, 2 backends serve; no "1 plugins" anywhere', async () => {
    const catalog = await loadCatalog(join(REPO, 'catalog'));
    const perCategory = new Map<string, Set<string>>();
    for (const { entry } of catalog.entries)
      perCategory.set(entry.category, (perCategory.get(entry.category) ?? new Set()).add(entry.plugin_id));
    const counts = new Set<number>();
    for (const [category, plugins] of perCategory) {
      const n = plugins.size;
      counts.add(n);
      const html = readFileSync(join(out, 'categories', category, 'index.html'), 'utf8');
      expect(html, category).toContain(
        n === 1 ? '1 backend serves this category.' : `${n} backends serve this category.`,
      );
    }
    expect([...counts].some((n) => n === 1) && [...counts].some((n) => n > 1)).toBe(true);
    for (const file of htmlFiles(out)) {
      const text = readFileSync(file, 'utf8').replace(/<[^>]+>/g, ' ');
      expect(text, relative(out, file)).not.toMatch(/(?<![\d.,])1 (plugins|backends|categories|versions)\b/);
      expect(text, relative(out, file)).not.toMatch(/\b1 backend serve\b/);
    }
  });

  it('shows the npm install lines, and never `npx hub` (an unrelated npm package)', () => {
    const publish = readFileSync(join(out, 'publish', 'index.html'), 'utf8');
    for (const line of [
      'npm install -g @magellon/hub',
      'npm install -g ./magellon-hub-&lt;version&gt;.tgz',
      'npx @magellon/hub scaffold my-plugin --category ctf',
      'npm install -g @magellon/coreservice',
    ])
      expect(publish).toContain(`<code>${line}</code>`);
    const ctf = readFileSync(join(out, 'ctf', 'index.html'), 'utf8');
    expect(ctf).toContain('<code>npm install -g @magellon/coreservice</code>');
    expect(ctf).toContain('<code>coreservice install-file ctf-1.0.0.mpn</code>');
    expect(ctf).toMatch(/<code id="install-cli">coreservice install ctf@1\.0\.0<\/code>/);
    for (const file of htmlFiles(out)) {
      const html = readFileSync(file, 'utf8');
      expect(html, relative(out, file)).not.toMatch(/npx hub\b/);
      expect(html, relative(out, file)).not.toContain('--plugins-dir');
    }
  });

  it('pages a large catalog instead of growing one page: every plugin is reachable, each page stays small', () => {
    const work = mkdtempSync(join(tmpdir(), 'hub-site-large-'));
    try {
      generateCatalog(join(work, 'catalog'), 150, 1);
      const dir = join(work, 'dist');
      buildSite(join(work, 'catalog'), dir);
      const cards = (html: string) => [...html.matchAll(/<li class="card"/g)].length;
      const first = readFileSync(join(dir, 'index.html'), 'utf8');
      expect(cards(first)).toBe(48);
      expect(first).toContain('href="/plugins/page/2/"');
      expect(first.length).toBeLessThan(120_000);
      let total = cards(first);
      for (const n of [2, 3, 4])
        total += cards(readFileSync(join(dir, 'page', String(n), 'index.html'), 'utf8'));
      expect(total).toBe(150);
      expect(brokenLinks(dir)).toEqual([]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 300_000);
});

/** Every built page of the site in `dir`. */
function htmlFiles(dir: string): string[] {
  const pages: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.html')) pages.push(p);
    }
  };
  walk(dir);
  return pages;
}

/**
 * Every href/src in every built page that points inside the site and finds no file. With the
 * `catalog` the site was built from, links to its hub-relative archives (/assets/…, which the hub
 * serves beside the site) must name an archive of that catalog.
 */
export function brokenLinks(dir: string, catalog?: string): string[] {
  const broken: string[] = [];
  for (const file of htmlFiles(dir)) {
    const html = readFileSync(file, 'utf8');
    const here = `/plugins/${relative(dir, file).replace(/index\.html$/, '')}`;
    for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
      const link = m[1]!.replaceAll('&amp;', '&');
      if (/^(?:[a-z]+:|#|\/\/)/i.test(link)) continue;
      const url = new URL(link, `http://site.invalid${here}`);
      if (catalog && url.pathname.startsWith('/assets/')) {
        const where = locateArchive(catalog, url.pathname);
        if (where.kind !== 'local' || !statSync(where.path, { throwIfNoEntry: false })?.isFile())
          broken.push(`${relative(dir, file)}: ${link} is no archive of the catalog`);
        continue;
      }
      if (!url.pathname.startsWith('/plugins/')) {
        broken.push(`${relative(dir, file)}: ${link} leaves the site`);
        continue;
      }
      const target = join(dir, decodeURIComponent(url.pathname.slice('/plugins/'.length)));
      const exists = (() => {
        try {
          const s = statSync(target);
          return s.isFile() || statSync(join(target, 'index.html')).isFile();
        } catch {
          return false;
        }
      })();
      if (!exists) broken.push(`${relative(dir, file)}: ${link}`);
    }
  }
  return broken;
}
