// /plugins/favicon.ico: the same icon as a Windows icon file, rasterized at build time. `hub serve
// --site` also answers /favicon.ico with it (browsers ask for that path on their own).
import type { APIRoute } from 'astro';
import { faviconIco } from '../lib/icon';

export const GET: APIRoute = () =>
  new Response(faviconIco(), { headers: { 'content-type': 'image/x-icon' } });
