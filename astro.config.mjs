// The catalog site (magellon.org/plugins): an Astro project in site/, built fully static from the
// catalog through the domain library. `npm run build:site` builds it into site/dist and indexes it
// with Pagefind; HUB_SITE_CATALOG picks another catalog dir (default: catalog/).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'astro/config';

const here = fileURLToPath(new URL('.', import.meta.url));
process.env.HUB_SITE_CATALOG = resolve(process.env.HUB_SITE_CATALOG ?? resolve(here, 'catalog'));

export default defineConfig({
  root: resolve(here, 'site'),
  // Given with root: Astro resolves these against the config file's folder, not root.
  srcDir: resolve(here, 'site/src'),
  publicDir: resolve(here, 'site/public'),
  cacheDir: resolve(here, 'site/node_modules/.astro'),
  outDir: resolve(here, process.env.HUB_SITE_OUT ?? 'site/dist'),
  base: '/plugins',
  trailingSlash: 'always',
  site: process.env.HUB_SITE_URL ?? 'https://magellon.org',
  build: { format: 'directory', inlineStylesheets: 'always' },
  compressHTML: true,
  devToolbar: { enabled: false },
  vite: { logLevel: 'warn' },
});
