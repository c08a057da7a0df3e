import type { APIRoute, GetStaticPaths } from 'astro';
import { siteData } from '../../lib/catalog';
import { badgeSvg } from '../../lib/feeds';

export const getStaticPaths: GetStaticPaths = async () =>
  (await siteData()).plugins.map((p) => ({ params: { id: p.id } }));

export const GET: APIRoute = async ({ params }) => {
  const plugin = (await siteData()).byId.get(params.id!)!;
  return new Response(badgeSvg(plugin), { headers: { 'content-type': 'image/svg+xml' } });
};
