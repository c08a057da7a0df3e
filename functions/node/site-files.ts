// The built catalog site (site/dist) served under /plugins/ beside the API, by `hub serve --site`.
// Paths are decoded once, must stay inside the site dir (links leaving it are refused), and only
// regular files are sent; a folder answers with its index.html, and a folder asked for without its
// trailing slash is redirected to it (the site's links all end in /). Anything else under /plugins/
// gets the site's own 404 page (404.html) with status 404. Outside /plugins/ the site claims two
// paths: / redirects to /plugins/, and /favicon.ico is the site's icon.
import type { ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { FileTree } from '@magellon/hub-core/node';

export const SITE_PREFIX = '/plugins';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.xml': 'application/atom+xml; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
/** No file of the site is anywhere near this; a bigger one is not sent. */
const MAX_SITE_FILE = 64 * 1024 * 1024;
/** The site's 404 page is a few KiB; a bigger one is not sent. */
const MAX_NOT_FOUND_PAGE = 1024 * 1024;
const FALLBACK_NOT_FOUND =
  '<!doctype html><title>Not found</title><p>No such page. <a href="/plugins/">Back to the catalog</a></p>\n';

/**
 * Whether a request target (path and query, as received) may be the site's: anything under
 * /plugins, the root and /favicon.ico. A cheap test on the raw target, before any parsing.
 */
export function isSiteTarget(target: string): boolean {
  return (
    target.startsWith(SITE_PREFIX) ||
    target === '/' ||
    target.startsWith('/?') ||
    target.startsWith('/favicon.ico')
  );
}

export interface SiteFiles {
  /**
   * Answers a request under /plugins, a GET or HEAD of / (302 to /plugins/) and /favicon.ico;
   * false when the path is not the site's (the API answers it).
   */
  serve(method: string, pathname: string, res: ServerResponse): boolean;
}

export function siteFiles(dir: string): SiteFiles {
  const tree = new FileTree(dir);
  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Uint8Array,
    extra: Record<string, string> = {},
    method = 'GET',
  ) => {
    res.writeHead(status, {
      'content-type': type,
      'content-length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.length),
      'x-content-type-options': 'nosniff',
      ...extra,
    });
    res.end(method === 'HEAD' ? undefined : body);
  };
  const notFound = (res: ServerResponse, method: string) => {
    // The site's own page (Astro's 404.html), read like any file of the site; a plain line without it.
    const page = tree.read(join(tree.real, '404.html'), MAX_NOT_FOUND_PAGE);
    send(
      res,
      404,
      'text/html; charset=utf-8',
      page.ok ? page.bytes : FALLBACK_NOT_FOUND,
      { 'cache-control': 'no-cache' },
      method,
    );
  };
  return {
    serve(method, pathname, res) {
      if (pathname === '/') {
        if (method !== 'GET' && method !== 'HEAD') return false;
        send(res, 302, 'text/plain; charset=utf-8', '', { location: `${SITE_PREFIX}/` });
        return true;
      }
      if (pathname === '/favicon.ico') pathname = `${SITE_PREFIX}/favicon.ico`;
      if (pathname !== SITE_PREFIX && !pathname.startsWith(`${SITE_PREFIX}/`)) return false;
      if (method !== 'GET' && method !== 'HEAD') {
        send(res, 405, 'text/plain; charset=utf-8', 'the site is read-only\n', { allow: 'GET, HEAD' });
        return true;
      }
      let rel: string;
      try {
        rel = decodeURIComponent(pathname.slice(SITE_PREFIX.length));
      } catch {
        notFound(res, method);
        return true;
      }
      const parts = rel.split('/').filter((p) => p !== '');
      if (parts.some((p) => p === '.' || p === '..' || /[\\\0]/.test(p))) {
        notFound(res, method);
        return true;
      }
      let abs = join(tree.real, ...parts);
      if (tree.resolve(abs, 'dir').ok) {
        if (!pathname.endsWith('/')) {
          send(res, 301, 'text/plain; charset=utf-8', '', { location: `${pathname}/` });
          return true;
        }
        abs = join(abs, 'index.html');
      }
      // The tree's read: a regular file inside the site (links out refused), never a FIFO, bounded.
      const read = tree.read(abs, MAX_SITE_FILE);
      if (!read.ok) {
        notFound(res, method);
        return true;
      }
      const body = read.bytes;
      const type = TYPES[extname(read.real)] ?? 'application/octet-stream';
      // Astro's hashed assets never change under one name; pages may change with every build.
      const cache = parts[0] === '_astro' ? 'public, max-age=31536000, immutable' : 'public, max-age=300';
      res.writeHead(200, {
        'content-type': type,
        'content-length': String(body.length),
        'cache-control': cache,
        'x-content-type-options': 'nosniff',
      });
      res.end(method === 'HEAD' ? undefined : body);
      return true;
    },
  };
}
