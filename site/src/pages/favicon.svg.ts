// /plugins/favicon.svg: the site's icon (site/src/lib/icon.ts), linked from every page.
import type { APIRoute } from 'astro';
import { faviconSvg } from '../lib/icon';

export const GET: APIRoute = () =>
  new Response(faviconSvg(), { headers: { 'content-type': 'image/svg+xml' } });
