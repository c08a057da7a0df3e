// Everything the site shows, read once per build from the catalog through the domain library: the
// same loader and rules as `hub validate`, the same documents as the /v1 API. A catalog with errors
// is not built into a site.
import {
  archiveDownloadUrl,
  buildHubDocuments,
  type CategoryDocument,
  formatFinding,
  type PluginDocument,
  type PluginVersion,
  pluginUpdatedAt,
} from '@magellon/hub-core';
import { loadCatalog, locateArchive, verifyArchive } from '@magellon/hub-core/node';

/** What the plugin page shows from the latest version's manifest (hub-relative archives only). */
export interface ManifestSummary {
  resources: Record<string, unknown>;
  install: Array<{ method: string; requires: string[] }>;
  health_timeout_seconds?: number;
  input?: SchemaSummary;
  output?: SchemaSummary;
  requires: string[];
}

export interface SchemaSummary {
  title?: string;
  fields: Array<{ name: string; type: string; required: boolean; description?: string }>;
}

export interface SitePlugin {
  id: string;
  doc: PluginDocument;
  /** The version clients get by default (latest_version), or the newest when all are yanked. */
  latest: PluginVersion;
  /** When the default version was published: the "recently updated" order (pluginUpdatedAt, as the API sorts). */
  updated: string;
  /** Position in the default order (verified first, then by name). */
  order: number;
  manifest?: ManifestSummary;
}

export interface SiteData {
  /** Default order: verified first, then by name. */
  plugins: SitePlugin[];
  byId: Map<string, SitePlugin>;
  categories: CategoryDocument[];
  tags: string[];
  generatedAt: string;
  /** Every version of every plugin, newest first (the feeds). */
  releases: Array<{ plugin: SitePlugin; version: PluginVersion }>;
}

export const PAGE_SIZE = 48;

let cached: Promise<SiteData> | undefined;

/** The site's data, loaded once per build. */
export function siteData(): Promise<SiteData> {
  cached ??= load();
  return cached;
}

async function load(): Promise<SiteData> {
  const dir = process.env.HUB_SITE_CATALOG;
  if (!dir) throw new Error('HUB_SITE_CATALOG is not set (astro.config.mjs sets it)');
  const catalog = await loadCatalog(dir);
  const errors = catalog.findings.filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    throw new Error(
      `the catalog at ${dir} has ${errors.length} error(s); fix them (hub validate) before building the site:\n${errors
        .slice(0, 20)
        .map(formatFinding)
        .join('\n')}`,
    );
  }
  const docs = buildHubDocuments(catalog.entries.map((e) => e.entry));
  const plugins: SitePlugin[] = [];
  for (const [id, doc] of docs.plugins) {
    const latest = doc.versions.find((v) => v.version === doc.latest_version) ?? doc.versions[0]!;
    // Every version yanked: no default version, so the newest one's publication stands in.
    const updated = pluginUpdatedAt(doc) || latest.published_at;
    plugins.push({ id, doc, latest, updated, order: 0, manifest: await manifestOf(catalog.root, latest) });
  }
  plugins.sort(defaultOrder);
  plugins.forEach((p, i) => {
    p.order = i;
  });
  const tags = [...new Set(plugins.flatMap((p) => p.doc.tags))].sort();
  const releases = plugins
    .flatMap((plugin) => plugin.doc.versions.map((version) => ({ plugin, version })))
    .sort((a, b) => Date.parse(b.version.published_at) - Date.parse(a.version.published_at));
  return {
    plugins,
    byId: new Map(plugins.map((p) => [p.id, p])),
    categories: [...docs.category.values()],
    tags,
    generatedAt: docs.index.generated_at,
    releases,
  };
}

/** Verified first, then by name (case-insensitive), then by id. */
export function defaultOrder(a: SitePlugin, b: SitePlugin): number {
  if (a.doc.tier !== b.doc.tier) return a.doc.tier === 'verified' ? -1 : 1;
  const byName = a.doc.name.localeCompare(b.doc.name, 'en', { sensitivity: 'base' });
  return byName !== 0 ? byName : a.id < b.id ? -1 : 1;
}

/** The latest version's manifest, read with the safe archive reader, when the archive is in the catalog. */
async function manifestOf(root: string, v: PluginVersion): Promise<ManifestSummary | undefined> {
  const where = locateArchive(root, v.archive.url);
  if (where.kind !== 'local') return undefined;
  const verified = await verifyArchive(where.path, {
    label: where.rel,
    keep: { maxFileBytes: 256 * 1024, maxTotalBytes: 1024 * 1024 },
  });
  const m = verified.manifest;
  if (!m) return undefined;
  const schema = (name: string | undefined) => {
    const bytes = name ? verified.files.get(name) : undefined;
    return bytes ? summarizeSchema(bytes) : undefined;
  };
  return {
    resources: { ...m.resources },
    install: m.install.map((i) => ({
      method: i.method,
      requires: (i.requires ?? []).map((r) =>
        Object.entries(r)
          .map(([k, val]) => `${k} ${typeof val === 'string' ? val : JSON.stringify(val)}`)
          .join(', '),
      ),
    })),
    health_timeout_seconds: m.health_check?.timeout_seconds,
    input: schema(m.input_schema ?? undefined),
    output: schema(m.output_schema ?? undefined),
    requires: [...(m.requires ?? [])],
  };
}

/** The top-level fields of a JSON Schema: name, type, required, description. */
export function summarizeSchema(bytes: Uint8Array): SchemaSummary | undefined {
  let schema: unknown;
  try {
    schema = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof schema !== 'object' || schema === null) return undefined;
  const s = schema as { title?: unknown; properties?: Record<string, unknown>; required?: unknown };
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  const fields = Object.entries(s.properties ?? {}).map(([name, raw]) => {
    const p = (typeof raw === 'object' && raw !== null ? raw : {}) as {
      type?: unknown;
      description?: unknown;
      enum?: unknown;
    };
    const type = Array.isArray(p.type)
      ? p.type.join(' | ')
      : typeof p.type === 'string'
        ? p.type
        : Array.isArray(p.enum)
          ? 'enum'
          : 'any';
    return {
      name,
      type,
      required: required.has(name),
      ...(typeof p.description === 'string' ? { description: p.description } : {}),
    };
  });
  return { ...(typeof s.title === 'string' ? { title: s.title } : {}), fields };
}

export { exactSize, humanSize, pick, plural } from './words';

/**
 * The hub the download links point at. Unset (the default), they are the hub-relative URLs
 * themselves, right when the hub serves the site beside its archives (`hub serve --site`, `npm
 * start`); HUB_SITE_HUB_URL names the hub's origin for a site served from elsewhere.
 */
function hubUrl(): string | undefined {
  const hub = process.env.HUB_SITE_HUB_URL;
  if (!hub) return undefined;
  if (!URL.canParse(hub) || !/^https?:$/.test(new URL(hub).protocol))
    throw new Error(`HUB_SITE_HUB_URL must be an http(s) URL, got ${JSON.stringify(hub)}`);
  return hub;
}

/** Where a version's archive downloads from: the rule CoreService and /v1 clients follow. */
export const downloadUrl = (v: PluginVersion) => archiveDownloadUrl(v.archive.url, hubUrl());

/** A date as YYYY-MM-DD (UTC). */
export const day = (iso: string) => new Date(iso).toISOString().slice(0, 10);

/** The site's URL for a path under /plugins/ (the base the site is served at). */
export const href = (path = '') => `/plugins/${path}`;

export const TIER_MEANING: Record<string, string> = {
  verified:
    'Published by a maintainer of the Magellon catalog (listed in maintainers.yaml), or with a maintainer’s approval.',
  community:
    'Published by a community author. Every version passed the hub’s checks (schema, archive integrity, a real install), but no maintainer vouches for it.',
};
