// Each plugin's namespace: CoreService answers /plugins/<id>/<rest> by passing the request to a
// healthy replica of that plugin (the replicas the status document calls healthy, taken in turn)
// as GET <rest> there, streaming both ways: the request body goes up as it arrives, the answer
// (server-sent events included) comes back as the plugin writes it. The caller's credentials and
// cookies never reach the plugin; the plugin's cookies never reach the caller (they would be
// CoreService's, shared by every namespace). A path that would leave the namespace is refused.
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { request } from 'undici';
import { InstallError } from '../errors';
import type { RunOptions } from '../install';
import { pluginStatus } from '../lifecycle';

/** Headers that belong to one connection (RFC 9110 §7.6.1) or to the caller, never passed on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);
/** The caller's credentials, which are CoreService's (the admin token, a client token), not the plugin's. */
const CALLER_ONLY = new Set(['authorization', 'cookie']);
/** What the plugin may not set on CoreService's origin. */
const PLUGIN_NEVER = new Set(['set-cookie', 'set-cookie2']);

/** How long the healthy replicas of a plugin are reused before the status is asked again. */
const REPLICAS_FOR_MS = 2_000;
/** How long a replica has to answer with its headers (its body may take as long as it streams). */
const HEADERS_TIMEOUT_MS = 60_000;

/** Headers to pass on: without hop-by-hop ones, those the Connection header names, and `drop`. */
function passOn(headers: Headers, drop: Set<string>): Record<string, string> {
  const named = new Set(
    (headers.get('connection') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    const n = name.toLowerCase();
    if (!HOP_BY_HOP.has(n) && !named.has(n) && !drop.has(n)) out[n] = value;
  });
  return out;
}

/**
 * The part of the path under the namespace, checked: no segment that is (or decodes to) `.` or
 * `..`, nor one that hides a slash, a backslash or a NUL, so the plugin is asked for a path of its
 * own and nothing in between resolves it to another.
 */
export function namespacePath(pathname: string, prefix: string): string {
  const rest = pathname.slice(prefix.length);
  if (rest !== '' && !rest.startsWith('/')) throw new InstallError('not-found', 'no such plugin route');
  for (const segment of rest.split('/').slice(1)) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw new InstallError('bad-request', 'the path under /plugins/<id>/ is not valid percent-encoding');
    }
    if (decoded === '.' || decoded === '..' || /[/\\\0]/.test(decoded))
      throw new InstallError(
        'bad-request',
        'the path under /plugins/<id>/ may not hold `.` or `..` segments, nor encoded slashes',
      );
  }
  return rest === '' ? '/' : rest;
}

interface Upstream {
  host: string;
  port: number;
}

/** The proxy of every plugin namespace, with the replicas it found healthy and whose turn is next. */
export class PluginProxy {
  private readonly replicas = new Map<string, { at: number; up: Upstream[] }>();
  private readonly turn = new Map<string, number>();

  constructor(
    private readonly pluginsDir: string,
    private readonly runOpts: () => RunOptions & { heartbeats?: Map<string, number> },
  ) {}

  /** The healthy replicas, from the status document (asked again after a short while or a failure). */
  private async healthy(id: string): Promise<Upstream[]> {
    const hit = this.replicas.get(id);
    if (hit && Date.now() - hit.at < REPLICAS_FOR_MS) return hit.up;
    const run = this.runOpts();
    const status = await pluginStatus(this.pluginsDir, id, { run, heartbeats: run.heartbeats });
    const up = status.replicas.flatMap((r) =>
      r.healthy && r.host !== undefined && r.port !== undefined ? [{ host: r.host, port: r.port }] : [],
    );
    this.replicas.set(id, { at: Date.now(), up });
    return up;
  }

  /** Forgets what it knew of a plugin (it was uninstalled, stopped, or a replica did not answer). */
  forget(id: string): void {
    this.replicas.delete(id);
  }

  /** Passes the request to a healthy replica of `id` and streams its answer back. */
  async forward(c: Context, id: string): Promise<Response> {
    const url = new URL(c.req.url);
    const prefix = `/plugins/${id}`;
    const path = namespacePath(url.pathname, prefix);
    const up = await this.healthy(id);
    if (up.length === 0) {
      throw new InstallError(
        'plugin-unavailable',
        `no replica of ${id} is running and healthy; start it (POST /admin/plugins/${id}/start) or see its status`,
      );
    }
    const n = this.turn.get(id) ?? 0;
    this.turn.set(id, (n + 1) % 1_000_000);
    const target = up[n % up.length]!;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const method = c.req.method;
    const headers = passOn(c.req.raw.headers, CALLER_ONLY);
    headers['x-forwarded-prefix'] = prefix;
    const body =
      method === 'GET' || method === 'HEAD' || c.req.raw.body === null
        ? undefined
        : Readable.fromWeb(c.req.raw.body as import('node:stream/web').ReadableStream<Uint8Array>);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`http://${host}:${target.port}${path}${url.search}`, {
        method: method as 'GET',
        headers,
        body,
        signal: c.req.raw.signal,
        headersTimeout: HEADERS_TIMEOUT_MS,
        // A stream (server-sent events) may be quiet for as long as it likes.
        bodyTimeout: 0,
      });
    } catch (err) {
      this.forget(id);
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).name;
      throw new InstallError('plugin-unavailable', `the replica of ${id} did not answer (${code})`);
    }
    const out = new Headers();
    for (const [name, value] of Object.entries(passOn(toHeaders(res.headers), PLUGIN_NEVER)))
      out.set(name, value);
    if (method === 'HEAD' || [101, 204, 205, 304].includes(res.statusCode)) {
      res.body.destroy();
      return new Response(null, { status: res.statusCode === 101 ? 502 : res.statusCode, headers: out });
    }
    const stream = Readable.toWeb(res.body) as unknown as ReadableStream<Uint8Array>;
    return new Response(stream, { status: res.statusCode, headers: out });
  }
}

/** undici's raw headers as Fetch Headers (repeated ones joined, as HTTP allows; set-cookie dropped later). */
function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const h = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) h.append(name, v);
  }
  return h;
}
