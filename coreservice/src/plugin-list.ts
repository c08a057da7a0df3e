// The admin listing, GET /admin/plugins: every installed plugin with its identity (category and
// backend, as categories.ts reads them), where it is, what it is doing (a summary of the status
// document lifecycle.ts answers, never recomputed) and Magellon's "Update available" chip (the
// rule in upgrade.ts, over the registries asked with a short bound and a cache, concurrently). The
// response's shape is the zod schema here; docs/schemas/admin-plugins.schema.json is generated from
// it (`npm run schemas`) and a test keeps the two equal.
import { z } from 'zod';
import { backendOf } from './categories';
import type { Registry } from './config';
import { InstallError } from './errors';
import { listInstalled, listUnreadable, type RunOptions } from './install';
import { pluginHome, versionDir } from './layout';
import { pluginStatus } from './lifecycle';
import { receiptSchema } from './records';
import { DocumentCache } from './registries';
import { listUpgrades, updateOffer } from './upgrade';

/** The chip when the registries were asked: the version offered (null: none) and the newer ones passed over. */
const updateOfferSchema = z
  .object({
    available: z.string().nullable().describe('The newest newer version the platform can take (null: none)'),
    hub: z.string().describe('The registry the versions come from (the first that knows the plugin)'),
    skipped: z.array(
      z
        .object({
          version: z.string(),
          reason: z
            .enum(['yanked', 'requires_sdk', 'trust', 'prerelease'])
            .describe('Why this newer version is not the one offered'),
          detail: z.string(),
        })
        .strict(),
    ),
  })
  .strict();

/** The chip when they were not (update=0, no registry reached in time, none knows the plugin). */
const updateUnknownSchema = z
  .object({ available: z.null(), unknown: z.string().describe('Why no registry could be asked') })
  .strict();

export const listedPluginSchema = receiptSchema
  .extend({
    /** The manifest's name, category and backend identity (null: its manifest no longer reads). */
    name: z.string().nullable(),
    category: z.string().nullable(),
    backend_id: z.string().nullable(),
    install_method: z.string().describe('The backend that runs it'),
    install_dir: z.string().describe("<plugins_dir>/<id>/<version>: the installed version's files"),
    /** From the status document (null when it could not be made; `problems` says why). */
    state: z.enum(['running', 'degraded', 'starting', 'stopped', 'failed']).nullable(),
    status: z.enum(['running', 'stopped', 'paused', 'partial', 'unknown']).nullable(),
    health: z.enum(['healthy', 'degraded', 'down']).nullable(),
    healthy: z.boolean().describe('The status document says health is healthy'),
    scale: z
      .object({
        desired: z.number().int(),
        min: z.number().int(),
        max: z.number().int(),
        live: z.number().int(),
      })
      .strict()
      .nullable(),
    /** Magellon's "N / max" chip: replicas running, and the manifest's bounds. */
    replicas: z
      .object({ current: z.number().int(), min: z.number().int(), max: z.number().int() })
      .strict()
      .nullable()
      .describe('Replicas running, and the manifest bounds (the "N / max" chip)'),
    problems: z.array(z.string()),
    update: z.union([updateOfferSchema, updateUnknownSchema]).describe('The "Update available" chip'),
  })
  .strict();

export const adminPluginsSchema = z
  .object({
    plugins: z.array(listedPluginSchema),
    /** Plugins whose receipt cannot be read (every route on one is 500 unreadable-record). */
    unreadable: z.array(z.object({ plugin_id: z.string(), problem: z.string() }).strict()).optional(),
  })
  .strict();

export type ListedPlugin = z.infer<typeof listedPluginSchema>;
export type AdminPlugins = z.infer<typeof adminPluginsSchema>;
type Update = ListedPlugin['update'];

/** How the listing asks the registries: each request bounded, no retries, all of a plugin's within a deadline. */
export const UPDATE_LOOKUP = { timeoutMs: 3_000, retries: 0, deadlineMs: 5_000, cacheMs: 30_000 };

/** The documents the listing asked for, kept for a short while (one per service). */
export const newUpdateCache = () => new DocumentCache(UPDATE_LOOKUP.cacheMs);

async function updateFor(opts: ListOptions & { cache: DocumentCache }, pluginId: string): Promise<Update> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Update>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          available: null,
          unknown: `the registries did not answer within ${UPDATE_LOOKUP.deadlineMs / 1000} s`,
        }),
      UPDATE_LOOKUP.deadlineMs,
    );
  });
  const asked = listUpgrades({
    pluginsDir: opts.pluginsDir,
    hubs: opts.hubs,
    pluginId,
    sdkVersion: opts.sdkVersion,
    lookup: { timeoutMs: UPDATE_LOOKUP.timeoutMs, retries: UPDATE_LOOKUP.retries, cache: opts.cache },
  }).then(
    (choices): Update => updateOffer(choices, opts.sdkVersion),
    (err: unknown): Update => {
      if (err instanceof InstallError) return { available: null, unknown: err.message };
      throw err;
    },
  );
  try {
    return await Promise.race([asked, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ListOptions {
  pluginsDir: string;
  hubs: readonly (string | Registry)[];
  sdkVersion?: string;
  run?: RunOptions;
  heartbeats?: Map<string, number>;
  /** Ask the registries for the chip (false: `update` says it was not asked). */
  update: boolean;
  cache?: DocumentCache;
}

/** The listing: every installed plugin, status and chips made concurrently. */
export async function listPlugins(opts: ListOptions): Promise<AdminPlugins> {
  const cache = opts.cache ?? newUpdateCache();
  const plugins = await Promise.all(
    listInstalled(opts.pluginsDir).map(async (receipt): Promise<ListedPlugin> => {
      const id = receipt.plugin_id;
      const identity = backendOf(opts.pluginsDir, receipt);
      const [status, update] = await Promise.all([
        pluginStatus(opts.pluginsDir, id, { run: opts.run, heartbeats: opts.heartbeats }).catch(
          (err: Error) => err,
        ),
        opts.update
          ? updateFor({ ...opts, cache }, id)
          : Promise.resolve<Update>({ available: null, unknown: 'not asked (update=0)' }),
      ]);
      const s = status instanceof Error ? undefined : status;
      return {
        ...receipt,
        name: identity?.backend.name ?? null,
        category: identity?.category ?? null,
        backend_id: identity?.backend.backend_id ?? null,
        install_method: identity?.backend.install_method ?? receipt.method ?? 'subprocess',
        install_dir: versionDir(pluginHome(opts.pluginsDir, id), receipt.version),
        state: s?.state ?? null,
        status: s?.status ?? null,
        health: s?.health ?? null,
        healthy: s?.healthy ?? false,
        scale: s ? { ...s.scale } : null,
        replicas: s ? { current: s.scale.live, min: s.scale.min, max: s.scale.max } : null,
        problems: s ? s.problems : [(status as Error).message],
        update,
      };
    }),
  );
  const unreadable = listUnreadable(opts.pluginsDir);
  return { plugins, ...(unreadable.length ? { unreadable } : {}) };
}

/** The JSON Schema of the listing, as committed in docs/schemas/admin-plugins.schema.json. */
export function renderAdminPluginsSchema(): string {
  const json = z.toJSONSchema(adminPluginsSchema, {
    io: 'output',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  });
  return `${JSON.stringify(
    {
      ...json,
      $id: 'https://magellon.org/schemas/admin-plugins.schema.json',
      title: 'CoreService GET /admin/plugins',
      description: 'The admin listing of installed plugins: identity, live status and the update chip',
    },
    null,
    2,
  )}\n`;
}
