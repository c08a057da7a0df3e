import type { APIRoute, GetStaticPaths } from 'astro';
import { siteData } from '../../lib/catalog';
import { atomFeed } from '../../lib/feeds';

export const getStaticPaths: GetStaticPaths = async () =>
  (await siteData()).plugins.map((p) => ({ params: { id: p.id } }));

export const GET: APIRoute = async ({ params, site }) => {
  const data = await siteData();
  const plugin = data.byId.get(params.id!)!;
  const siteUrl = new URL('/plugins/', site).href;
  const releases = plugin.doc.versions
    .map((version) => ({ plugin, version }))
    .sort((a, b) => Date.parse(b.version.published_at) - Date.parse(a.version.published_at));
  return new Response(
    atomFeed({
      id: `${siteUrl}${plugin.id}/`,
      title: `${plugin.doc.name}: releases`,
      selfUrl: `${siteUrl}${plugin.id}/feed.xml`,
      siteUrl,
      updated: plugin.updated,
      releases,
    }),
    { headers: { 'content-type': 'application/atom+xml' } },
  );
};
