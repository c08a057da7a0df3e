import type { APIRoute } from 'astro';
import { siteData } from '../lib/catalog';
import { atomFeed } from '../lib/feeds';

export const GET: APIRoute = async ({ site }) => {
  const data = await siteData();
  const siteUrl = new URL('/plugins/', site).href;
  return new Response(
    atomFeed({
      id: siteUrl,
      title: 'Magellon plugins: new releases',
      selfUrl: `${siteUrl}feed.xml`,
      siteUrl,
      updated: data.generatedAt,
      releases: data.releases,
    }),
    { headers: { 'content-type': 'application/atom+xml' } },
  );
};
