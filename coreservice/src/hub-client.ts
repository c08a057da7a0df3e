// Reading the hub: GET /v1/plugins/<id>.json and choosing a version, the way CoreService always
// has (nested `archive` first, flat fields second), from one or several registries in order.
import {
  archiveDownloadUrl,
  compareVersions,
  type PluginDocument,
  pluginDocumentPath,
  pluginDocumentReadSchema,
} from '@magellon/hub-core';
import { getHubJson } from '@magellon/hub-core/node';
import { InstallError } from './errors';

/** The largest plugin document CoreService reads (a plugin with thousands of versions is ~2 MB). */
export const MAX_PLUGIN_DOCUMENT_BYTES = 8 * 1024 * 1024;

export interface ResolvedVersion {
  pluginId: string;
  version: string;
  /** Absolute URL of the archive (hub-relative URLs resolved against the hub). */
  archiveUrl: string;
  sha256: string;
  sizeBytes: number;
  /** The hub it came from. */
  hub: string;
  tier: 'verified' | 'community';
  /** Set when the version is yanked (it was asked for by exact number). */
  yanked?: { reason: string; at: string };
  warnings: string[];
  /**
   * The registry's Authorization header, set only when the archive is on the registry's own origin
   * (an archive on a CDN or any other host never gets it). Never written to a receipt.
   */
  authorization?: string;
}

/** What to do about a 401/403: give the registry a token, or check the one it has. */
function authHint(status: number, hadToken: boolean): string {
  if (status !== 401 && status !== 403) return '';
  return hadToken
    ? ' (the token configured for it was refused)'
    : ' (a private registry: give it token_env or token in the config file)';
}

export interface HubClientOptions {
  /** Whole-request timeout for the JSON document. */
  timeoutMs?: number;
  /** Retries after a 5xx or a reset (default 2). */
  retries?: number;
  /** The registry's Authorization header (registryAuthorization), for its own origin only. */
  authorization?: string;
  /** Checks the document's bytes before they are parsed (its signed target's length and sha256); throws to refuse. */
  check?: (bytes: Buffer) => void;
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** Fetches and validates `/v1/plugins/<id>.json`; 404 → undefined, anything else wrong → InstallError (502). */
export async function fetchPluginDocument(
  hub: string,
  pluginId: string,
  opts: HubClientOptions = {},
): Promise<PluginDocument | undefined> {
  // A 5xx or a reset is retried twice, after 250 ms and 500 ms; anything else answers at once.
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchOnce(hub, pluginId, opts);
    } catch (err) {
      if (!(err instanceof InstallError) || !err.retryable || attempt >= (opts.retries ?? 2)) throw err;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
}

async function fetchOnce(
  hub: string,
  pluginId: string,
  opts: HubClientOptions,
): Promise<PluginDocument | undefined> {
  const url = new URL(pluginDocumentPath(encodeURIComponent(pluginId)), hub.endsWith('/') ? hub : `${hub}/`);
  const timeout = opts.timeoutMs ?? 15_000;
  let res: Awaited<ReturnType<typeof getHubJson>>;
  try {
    // No redirect is followed: a 3xx is an answer like any other that is not 200 (refused below).
    res = await getHubJson(url, { timeoutMs: timeout, authorization: opts.authorization });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new InstallError('hub-unreachable', `the hub at ${hub} could not be reached (${code})`).retryIf(
      RETRYABLE_CODES.has(code),
    );
  }
  if (res.statusCode === 404) {
    await res.body.dump();
    return undefined;
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new InstallError(
      'hub-unreachable',
      `the hub at ${hub} answered ${res.statusCode} for ${url.pathname}${authHint(res.statusCode, opts.authorization !== undefined)}`,
    ).retryIf(res.statusCode >= 500);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_PLUGIN_DOCUMENT_BYTES) {
        res.body.destroy();
        throw new InstallError(
          'hub-unreachable',
          `${url.pathname} from ${hub} is larger than ${MAX_PLUGIN_DOCUMENT_BYTES} bytes`,
        );
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof InstallError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new InstallError('hub-unreachable', `${url.pathname} from ${hub} broke off (${code})`).retryIf(
      RETRYABLE_CODES.has(code),
    );
  }
  const bytes = Buffer.concat(chunks);
  opts.check?.(bytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InstallError('hub-unreachable', `${url.pathname} from ${hub} is not JSON`);
  }
  const doc = pluginDocumentReadSchema.safeParse(parsed);
  if (!doc.success) {
    throw new InstallError(
      'hub-unreachable',
      `${url.pathname} from ${hub} is not a plugin document: ${doc.error.issues[0]?.message}`,
    );
  }
  if (doc.data.plugin_id !== pluginId) {
    throw new InstallError(
      'hub-unreachable',
      `${url.pathname} from ${hub} describes ${doc.data.plugin_id}, not ${pluginId}`,
    );
  }
  return doc.data as PluginDocument;
}

/**
 * Picks a version from a plugin document: the exact one asked for (yanked allowed, with a warning),
 * or `latest_version` (never yanked). The archive comes from the nested `archive` object or, failing
 * that, the flat fields; a hub-relative URL is resolved against the hub.
 */
export function resolveVersion(doc: PluginDocument, hub: string, requested?: string): ResolvedVersion {
  const wanted = requested ?? doc.latest_version ?? undefined;
  if (!wanted) {
    throw new InstallError(
      'not-found',
      `${doc.plugin_id} has no installable version (every version is yanked); ask for one by number`,
    );
  }
  const v = doc.versions.find((x) => x.version === wanted);
  if (!v) {
    const known = [...doc.versions]
      .map((x) => x.version)
      .sort(compareVersions)
      .reverse()
      .slice(0, 10);
    throw new InstallError(
      'not-found',
      `${doc.plugin_id} has no version ${wanted}; the hub has ${known.join(', ')}`,
    );
  }
  const archive = v.archive ?? { url: v.url, sha256: v.sha256, size_bytes: v.size_bytes };
  const warnings: string[] = [];
  if (v.yanked)
    warnings.push(
      `${doc.plugin_id} ${v.version} is yanked (${v.yanked.reason}); installing it because it was asked for by number`,
    );
  if (v.deprecated) warnings.push(`${doc.plugin_id} ${v.version} is deprecated: ${v.deprecated.reason}`);
  let archiveUrl: string;
  try {
    archiveUrl = archiveDownloadUrl(archive.url, hub);
  } catch {
    throw new InstallError(
      'hub-unreachable',
      `the hub gives ${doc.plugin_id} ${v.version} an archive URL that is not a URL`,
    );
  }
  if (!/^https?:$/.test(new URL(archiveUrl).protocol)) {
    throw new InstallError(
      'hub-unreachable',
      `the archive URL of ${doc.plugin_id} ${v.version} is not http(s)`,
    );
  }
  if (!/^[0-9a-f]{64}$/.test(archive.sha256) || !(archive.size_bytes > 0)) {
    throw new InstallError(
      'hub-unreachable',
      `the hub gives ${doc.plugin_id} ${v.version} no valid sha256 and size`,
    );
  }
  return {
    pluginId: doc.plugin_id,
    version: v.version,
    archiveUrl,
    sha256: archive.sha256,
    sizeBytes: archive.size_bytes,
    hub,
    tier: v.tier,
    ...(v.yanked ? { yanked: v.yanked } : {}),
    warnings,
  };
}
