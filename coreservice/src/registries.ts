// The one walk over the configured registries, in order (a private mirror before the public hub).
// Install, upgrade and the list of upgrades all go through it, so a registry's trust mode applies
// to every path that can put a plugin on this host: a registry that cannot be reached is passed
// over with a warning, one that lacks the plugin or the version is passed over, and one whose trust
// mode refuses the version is passed over too (the refusal is what the caller hears when nothing
// else has it).
import { type PluginDocument, pluginDocumentPath, versionArchiveKey } from '@magellon/hub-core';
import { asRegistry, type Registry, registryAuthorization, trustRefusal } from './config';
import { InstallError, METADATA_REFUSALS } from './errors';
import { fetchPluginDocument, type ResolvedVersion, resolveVersion } from './hub-client';
import { checkAgainstTarget, type VerifiedRegistry, withVerifiedRegistry } from './trust';

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
  /** The plugins dir, where what each pinned root's client verified is kept (needed for a registry with a root). */
  pluginsDir?: string;
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

/** The target path a plugin document is signed under (docs/tuf.md): its path in the build. */
const documentTarget = pluginDocumentPath;

/**
 * A registry's document of the plugin: for a verified registry, only one its signed targets list
 * (none: it does not offer the plugin), with exactly the signed bytes; undefined when it has none.
 */
async function fetchDocument(
  reg: Registry,
  pluginId: string,
  verified: VerifiedRegistry | undefined,
  lookup: LookupOptions,
): Promise<PluginDocument | undefined> {
  const target = verified ? await verified.target(documentTarget(pluginId)) : undefined;
  if (verified && !target) return undefined;
  return fetchPluginDocument(reg.url, pluginId, {
    authorization: registryAuthorization(reg),
    timeoutMs: lookup.timeoutMs,
    retries: lookup.retries,
    ...(target
      ? { check: (bytes: Buffer) => checkAgainstTarget(reg, `the document of ${pluginId}`, target, bytes) }
      : {}),
  });
}

/**
 * Calls `visit` with each registry's document of the plugin, in order, until it returns a value.
 * A registry with a pinned root is verified first (trust.ts) and `visit` runs while its verified
 * metadata is held, so it can look up the archive's signed target too.
 */
async function eachDocument<T>(
  registries: readonly (string | Registry)[],
  pluginId: string,
  events: WalkEvents,
  visit: (
    doc: PluginDocument,
    reg: Registry,
    verified: VerifiedRegistry | undefined,
  ) => Promise<T | undefined>,
  lookup: LookupOptions = {},
): Promise<{ found?: T; unreachable: string[]; refused: InstallError[] }> {
  if (registries.length === 0)
    throw new InstallError('hub-unreachable', 'no hub configured (--hub or MAGELLON_HUB_URL)');
  const unreachable: string[] = [];
  const refused: InstallError[] = [];
  for (const reg of registries.map(asRegistry)) {
    events.onEvent?.({ stage: 'resolve', hub: reg.url });
    let found: T | undefined;
    try {
      if (lookup.cache) {
        // The listing's path: the verified document is what is kept for a while.
        const doc = await lookup.cache.get(reg, pluginId, () =>
          withVerifiedRegistry(reg, lookup.pluginsDir, (v) => fetchDocument(reg, pluginId, v, lookup)),
        );
        found = doc ? await visit(doc, reg, undefined) : undefined;
      } else {
        found = await withVerifiedRegistry(reg, lookup.pluginsDir, async (v) => {
          const doc = await fetchDocument(reg, pluginId, v, lookup);
          return doc ? visit(doc, reg, v) : undefined;
        });
      }
    } catch (err) {
      if (!(err instanceof InstallError)) throw err;
      if (err.code === 'hub-unreachable') unreachable.push(err.message);
      // A refusal of its signed metadata passes the registry over like an unreachable one, but is
      // what the caller hears when no other registry has the plugin.
      else if (METADATA_REFUSALS.has(err.code)) refused.push(err);
      else throw err;
      events.onEvent?.({ stage: 'warning', message: `${err.message}; trying the next registry` });
      continue;
    }
    if (found !== undefined) return { found, unreachable, refused };
  }
  return { unreachable, refused };
}

function nothingFound(
  registries: readonly (string | Registry)[],
  pluginId: string,
  unreachable: string[],
  refused: InstallError[],
): never {
  // A registry that refused its signed metadata is what the caller must hear first (fail closed, named).
  if (refused.length > 0) throw refused[0]!;
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
 * The archive a verified registry's document names must be its signed target (reached through the
 * delegation when the plugin's authors sign it): the same length and sha256 the document gives,
 * which the download then checks the bytes against.
 */
async function checkArchiveTarget(reg: Registry, resolved: ResolvedVersion, verified: VerifiedRegistry) {
  const path = versionArchiveKey(resolved.pluginId, resolved.version);
  const target = await verified.target(path);
  if (!target) {
    throw new InstallError(
      'target-unsigned',
      `${resolved.pluginId} ${resolved.version}: its archive (${path}) is in none of the signed targets of ${reg.url} (for a plugin its authors sign: they did not sign this version); refusing it`,
    );
  }
  if (target.length !== resolved.sizeBytes || target.hashes.sha256 !== resolved.sha256) {
    throw new InstallError(
      'metadata-mismatch',
      `${resolved.pluginId} ${resolved.version}: the document of ${reg.url} gives its archive ${resolved.sizeBytes} bytes and sha256 ${resolved.sha256.slice(0, 12)}…, but its signed target says ${target.length} bytes and ${String(target.hashes.sha256).slice(0, 12)}…; refusing it`,
    );
  }
}

/**
 * The version to install: `version` exactly, or the latest, from the first registry that has it
 * and whose trust mode admits it. Refused everywhere it exists: `untrusted` (403) with each reason.
 */
export async function resolveInRegistries(
  opts: {
    registries: readonly (string | Registry)[];
    pluginId: string;
    version?: string;
    /** Where verified metadata is kept (LookupOptions.pluginsDir). */
    pluginsDir?: string;
  } & WalkEvents,
): Promise<ResolvedVersion> {
  const refused: string[] = [];
  const missing: InstallError[] = [];
  const walked = await eachDocument(
    opts.registries,
    opts.pluginId,
    opts,
    async (doc, reg, verified) => {
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
      if (verified) await checkArchiveTarget(reg, resolved, verified);
      // The registry's token goes with the archive only when the registry serves it itself.
      const authorization = registryAuthorization(reg);
      const sameOrigin = new URL(resolved.archiveUrl).origin === new URL(reg.url).origin;
      return authorization && sameOrigin ? { ...resolved, authorization } : resolved;
    },
    { pluginsDir: opts.pluginsDir },
  );
  if (walked.found) return walked.found;
  if (walked.refused.length > 0) throw walked.refused[0]!;
  if (refused.length > 0) {
    throw new InstallError(
      'untrusted',
      `no registry trusted to serve ${opts.pluginId}${opts.version ? ` ${opts.version}` : ''} has it`,
      refused,
    );
  }
  if (missing.length > 0) throw missing[0]!;
  return nothingFound(opts.registries, opts.pluginId, walked.unreachable, walked.refused);
}

/** The first registry that knows the plugin, with its document (for listing versions). */
export async function firstDocument(
  registries: readonly (string | Registry)[],
  pluginId: string,
  lookup: LookupOptions = {},
): Promise<{ doc: PluginDocument; registry: Registry }> {
  const { found, unreachable, refused } = await eachDocument(
    registries,
    pluginId,
    {},
    async (doc, registry) => ({ doc, registry }),
    lookup,
  );
  return found ?? nothingFound(registries, pluginId, unreachable, refused);
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
