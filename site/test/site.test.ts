// The catalog site, built from the repo's catalog and served by `hub serve --site` on 127.0.0.1,
// driven in headless Chromium (Debian's, through playwright-core): search, filters in the URL,
// plugin pages against the catalog, feeds and badges, accessibility (axe-core), screenshots at
// phone and desktop widths, and a link check over every built page.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCatalog } from '../../bench/generate-catalog';
import { FINDING_CODES } from '../../packages/core/src';
import { loadCatalog } from '../../packages/core/src/node';
import { skipLoudly } from '../../scripts/require-tool';

const REPO = join(import.meta.dirname, '..', '..');
const HUB = join(REPO, 'packages', 'cli', 'bin', 'hub.js');
const SHOTS = join(REPO, 'site', 'test-output');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

let out = '';
let server: ChildProcess | undefined;
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
      for (const path of ['', 'ctf/', 'categories/ctf/', 'publish/', 'categories/']) {
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

  it('screenshots of the catalog and a plugin page at phone and desktop widths', async (ctx) => {
    if (!browser) return ctx.skip();
    for (const [label, viewport] of [
      ['phone', PHONE],
      ['desktop', DESKTOP],
    ] as const) {
      const p = await page({ viewport });
      await p.goto(base);
      await p.screenshot({ path: join(SHOTS, `catalog-${label}.png`), fullPage: true });
      await p.goto(`${base}ctf/`);
      await p.screenshot({ path: join(SHOTS, `plugin-ctf-${label}.png`), fullPage: true });
      // Nothing runs off the side of a phone screen.
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${label} horizontal overflow`).toBeLessThanOrEqual(0);
      await p.context().close();
    }
    for (const f of [
      'catalog-phone.png',
      'catalog-desktop.png',
      'plugin-ctf-phone.png',
      'plugin-ctf-desktop.png',
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
    const broken = brokenLinks(out);
    expect(broken).toEqual([]);
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

/** Every href/src in every built page that points inside the site and finds no file. */
export function brokenLinks(dir: string): string[] {
  const pages: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.html')) pages.push(p);
    }
  };
  walk(dir);
  const broken: string[] = [];
  for (const file of pages) {
    const html = readFileSync(file, 'utf8');
    const here = `/plugins/${relative(dir, file).replace(/index\.html$/, '')}`;
    for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
      const link = m[1]!.replaceAll('&amp;', '&');
      if (/^(?:[a-z]+:|#|\/\/)/i.test(link)) continue;
      const url = new URL(link, `http://site.invalid${here}`);
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
