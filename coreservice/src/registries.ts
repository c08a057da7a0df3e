// The one walk over the configured registries, in order (a private mirror before the public hub).
// Install, upgrade and the list of upgrades all go through it, so a registry's trust mode applies
// to every path that can put a plugin on this host: a registry that cannot be reached is passed
// over with a warning, one that lacks the plugin or the version is passed over, and one whose trust
// mode refuses the version is passed over too (the refusal is what the caller hears when nothing
// else has it).
import type { PluginDocument } from '@magellon/hub-core';
import { asRegistry, type Registry, registryAuthorization, trustRefusal } from './config';
import { InstallError } from './errors';
import { fetchPluginDocument, type ResolvedVersion, resolveVersion } from './hub-client';

export interface WalkEvents {
  onEvent?: (e: { stage: 'resolve'; hub: string } | { stage: 'warning'; message: string }) => void;
}

/** How the documents are asked for: a bound on each request, and a cache (the admin listing's). */
export interface LookupOptions {
  /** Whole-request timeout per registry (default: the hub client's). */
  timeoutMs?: number;
  /** Retries after a 5xx or a reset (default: the hub client's). */
  retries?: number;
  cache?: DocumentCache;
}

/**
 * Registry documents kept for a short while, per registry and plugin, so a page that lists every
 * plugin does not ask every registry again on each load. What a registry answered is kept, a
 * failure too (a dead registry is not asked again at once); concurrent askers share one request.
 */
export class DocumentCache {
  private readonly entries = new Map<string, { at: number; doc: Promise<PluginDocument | undefined> }>();
  constructor(private readonly ttlMs = 30_000) {}

  get(reg: Registry, pluginId: string, ask: () => Promise<PluginDocument | undefined>) {
    const key = `${reg.url}\0${pluginId}`;
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.doc;
    const doc = ask();
    doc.catch(() => {}); // kept as it failed; each asker hears the failure
    this.entries.set(key, { at: now, doc });
    for (const [k, e] of this.entries) if (now - e.at >= this.ttlMs) this.entries.delete(k);
    return doc;
  }
}

/** Calls `visit` with each registry's document of the plugin, in order, until it returns a value. */
async function eachDocument<T>(
  registries: readonly (string | Registry)[],
  pluginId: string,
  events: WalkEvents,
  visit: (doc: PluginDocument, reg: Registry) => T | undefined,
  lookup: LookupOptions = {},
): Promise<{ found?: T; unreachable: string[] }> {
  if (registries.length === 0)
    throw new InstallError('hub-unreachable', 'no hub configured (--hub or MAGELLON_HUB_URL)');
  const unreachable: string[] = [];
  for (const reg of registries.map(asRegistry)) {
    events.onEvent?.({ stage: 'resolve', hub: reg.url });
    let doc: PluginDocument | undefined;
    try {
      const ask = () =>
        fetchPluginDocument(reg.url, pluginId, {
          authorization: registryAuthorization(reg),
          timeoutMs: lookup.timeoutMs,
          retries: lookup.retries,
        });
      doc = await (lookup.cache ? lookup.cache.get(reg, pluginId, ask) : ask());
    } catch (err) {
      if (!(err instanceof InstallError) || err.code !== 'hub-unreachable') throw err;
      unreachable.push(err.message);
      events.onEvent?.({ stage: 'warning', message: `${err.message}; trying the next registry` });
      continue;
    }
    if (!doc) continue;
    const found = visit(doc, reg);
    if (found !== undefined) return { found, unreachable };
  }
  return { unreachable };
}

function nothingFound(
  registries: readonly (string | Registry)[],
  pluginId: string,
  unreachable: string[],
): never {
  if (unreachable.length > 0) {
    throw new InstallError(
      'hub-unreachable',
      unreachable.length === 1 ? unreachable[0]! : `no registry could be reached: ${unreachable.join('; ')}`,
    );
  }
  throw new InstallError(
    'not-found',
    `no hub has a plugin "${pluginId}" (asked ${registries.map((h) => asRegistry(h).url).join(', ')})`,
  );
}

/**
 * The version to install: `version` exactly, or the latest, from the first registry that has it
 * and whose trust mode admits it. Refused everywhere it exists: `untrusted` (403) with each reason.
 */
export async function resolveInRegistries(
  opts: { registries: readonly (string | Registry)[]; pluginId: string; version?: string } & WalkEvents,
): Promise<ResolvedVersion> {
  const refused: string[] = [];
  const missing: InstallError[] = [];
  const { found, unreachable } = await eachDocument(opts.registries, opts.pluginId, opts, (doc, reg) => {
    let resolved: ResolvedVersion;
    try {
      resolved = resolveVersion(doc, reg.url, opts.version);
    } catch (err) {
      // This registry has the plugin but not that version (or none it would install): the next may.
      if (err instanceof InstallError && err.code === 'not-found') {
        missing.push(err);
        return undefined;
      }
      throw err;
    }
    const why = trustRefusal(reg, opts.pluginId, resolved.tier);
    if (why) {
      refused.push(why);
      return undefined;
    }
    // The registry's token goes with the archive only when the registry serves it itself.
    const authorization = registryAuthorization(reg);
    const sameOrigin = new URL(resolved.archiveUrl).origin === new URL(reg.url).origin;
    return authorization && sameOrigin ? { ...resolved, authorization } : resolved;
  });
  if (found) return found;
  if (refused.length > 0) {
    throw new InstallError(
      'untrusted',
      `no registry trusted to serve ${opts.pluginId}${opts.version ? ` ${opts.version}` : ''} has it`,
      refused,
    );
  }
  if (missing.length > 0) throw missing[0]!;
  return nothingFound(opts.registries, opts.pluginId, unreachable);
}

/** The first registry that knows the plugin, with its document (for listing versions). */
export async function firstDocument(
  registries: readonly (string | Registry)[],
  pluginId: string,
  lookup: LookupOptions = {},
): Promise<{ doc: PluginDocument; registry: Registry }> {
  const { found, unreachable } = await eachDocument(
    registries,
    pluginId,
    {},
    (doc, registry) => ({ doc, registry }),
    lookup,
  );
  return found ?? nothingFound(registries, pluginId, unreachable);
}

/** A URL's identity for comparison: origin and path, without a trailing slash. */
function urlKey(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.username || u.password || u.search || u.hash) return undefined;
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return undefined;
  }
}

/**
 * The configured registry a request's `hub_url` names. A request may choose among the registries
 * the operator configured, never add one: anything else is refused (403 untrusted).
 */
export function configuredRegistry(
  registries: readonly (string | Registry)[],
  hubUrl: string,
  /** How the message names what gave the URL. */
  what = 'hub_url',
): Registry {
  const key = urlKey(hubUrl);
  const reg = key ? registries.map(asRegistry).find((r) => urlKey(r.url) === key) : undefined;
  if (!reg) {
    throw new InstallError(
      'untrusted',
      `${what} ${JSON.stringify(hubUrl.slice(0, 200))} is not one of the registries this CoreService is configured with (${registries.map((r) => asRegistry(r).url).join(', ')})`,
    );
  }
  return reg;
}
