// The admin HTTP service: Magellon's routes over the installer library. Every /admin route needs
// `Authorization: Bearer <token>`, compared in constant time; the token is never logged. Errors
// are JSON `{error: {code, message, details}}` with the status the library's error carries.
import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { escapeControl } from '@magellon/hub-core/text';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { chooseBackend, getCategory, listCategories, pinCategoryDefault } from '../categories';
import type { Registry } from '../config';
import { InstallError } from '../errors';
import {
  type DownloadLimits,
  type InstallEvent,
  installFromFile,
  installFromHub,
  listInstalled,
  MAX_UPLOAD_BYTES,
  type RunOptions,
  readReceipt,
  uninstall,
} from '../install';
import { keptNames, newUploadPath, pluginHome, uploadsDir } from '../layout';
import {
  type PluginStatus,
  pausePlugin,
  pluginLogs,
  pluginSnapshots,
  pluginStatus,
  restartPlugin,
  restoreSnapshot,
  scalePlugin,
  startPlugin,
  stopPlugin,
} from '../lifecycle';
import { exportLock } from '../lockfile';
import { isPluginId } from '../plugin-id';
import { listPlugins, newUpdateCache } from '../plugin-list';
import { configuredRegistry } from '../registries';
import { heartbeatKey } from '../runtime/settings';
import { listUpgrades, upgradeFromFile, upgradeFromHub } from '../upgrade';
import { categoryDefaultBody, installFromHubBody, parseBody, scaleBody, upgradeFromHubBody } from './bodies';
import { isClientToken, revokeClientToken, rotateClientToken } from './client-token';
import type { EventBus, ServiceEvent } from './events';
import { LogStreams, RING_LINES, type StreamedLine } from './log-streams';
import { PluginProxy } from './proxy';
import { sameToken } from './token';
import { receiveUpload } from './upload';

export interface ServiceConfig {
  pluginsDir: string;
  hubs: readonly (string | Registry)[];
  sdkVersion?: string;
  token: string;
  run: RunOptions;
  events: EventBus;
  /** Replica id → last heartbeat (ms since epoch). */
  heartbeats: Map<string, number>;
  maxUploadBytes?: number;
  log?: (entry: Record<string, unknown>) => void;
  /** More to say on /health (whether a crash repair is still pending). */
  health?: () => Record<string, unknown>;
  /**
   * The names this service answers to in `Host` (default: the loopback names). Anything else is
   * refused, so a web page whose name resolves here (DNS rebinding) cannot drive it.
   */
  allowedHosts?: readonly string[];
  /** Browser origins allowed to call it (default none: a request with an `Origin` is refused). */
  allowedOrigins?: readonly string[];
  /** Download limits for installs and upgrades. */
  timeouts?: DownloadLimits;
  /** The live plugin logs (serve.ts shares them with its socket.io server); default: the app's own. */
  logStreams?: LogStreams;
}

/** The names a service bound to loopback answers to. */
export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'];

const MAX_JSON_BYTES = 64 * 1024;

function errorBody(code: string, message: string, details: string[] = []) {
  return { error: { code, message, ...(details.length ? { details } : {}) } };
}

/**
 * The size cap of a JSON body, before it is read (the routes that take one pass through it): a
 * bigger body is 400 bad-request, as any other bad body.
 */
const jsonLimit = bodyLimit({
  maxSize: MAX_JSON_BYTES,
  onError: (c) => c.json(errorBody('bad-request', `the request body is over ${MAX_JSON_BYTES} bytes`), 400),
});

/** A route's JSON body (its size already capped by `jsonLimit`): an object, or `{}` when empty. */
async function readJsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new InstallError('bad-request', 'the request body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InstallError('bad-request', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** A yes/no query parameter (`?purge=1`): 1 or true is yes; absent, 0 or false is no; anything else is 400. */
function flagQuery(c: Context, key: string): boolean {
  const v = c.req.query(key);
  if (v === undefined || v === '' || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new InstallError('bad-request', `${key} takes 1 or 0`);
}

/** The host name of a `Host` header (no port; IPv6 without brackets), lower case; undefined when malformed. */
function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/i.exec(header.trim());
  return m ? (m[1] ?? m[2])!.toLowerCase().replace(/\.$/, '') : undefined;
}

/** `filename` of a Content-Disposition header (a raw upload may name its file there). */
function filenameOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /(?:^|;)\s*filename\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** How errors name an upload: the file name the client sent (its last part, escaped, bounded), else "the uploaded archive". */
export function uploadLabel(name: string | undefined): string {
  const base = (name ?? '').split(/[/\\]/).pop()?.trim() ?? '';
  if (base === '') return 'the uploaded archive';
  const shown = escapeControl(base.length > 200 ? `${base.slice(0, 200)}…` : base);
  return `the uploaded archive "${shown}"`;
}

/** An origin as browsers send it: scheme://host[:port], lower case. */
const originKey = (o: string) => o.trim().toLowerCase().replace(/\/+$/, '');

/**
 * The check every request to the service passes first (HTTP routes and the socket.io handshake):
 * only the names it serves in `Host`, and no browser page of another origin. Answers why a request
 * is refused, or undefined.
 */
export function requestGuard(
  cfg: Pick<ServiceConfig, 'allowedHosts' | 'allowedOrigins'>,
): (host: string | undefined, origin: string | undefined) => string | undefined {
  const hosts = new Set(
    (cfg.allowedHosts ?? LOOPBACK_HOSTS).map((h) => h.toLowerCase().replace(/^\[|\]$/g, '')),
  );
  const origins = new Set((cfg.allowedOrigins ?? []).map(originKey));
  return (host, origin) => {
    const name = hostName(host);
    if (!name || !hosts.has(name))
      return `this CoreService does not answer to the host ${JSON.stringify(escapeControl((host ?? '').slice(0, 200)))}; it serves ${[...hosts].join(', ')} (allowed_hosts in its config)`;
    if (origin !== undefined && !origins.has(originKey(origin)))
      return `requests from the web origin ${JSON.stringify(escapeControl(origin.slice(0, 200)))} are refused (allowed_origins in its config)`;
    return undefined;
  };
}

/** A `tail` as the logs routes take it: a whole number from 0 to 10000 (default 100). */
export function tailParam(raw: unknown): number {
  const tail = raw === undefined ? 100 : Number(raw);
  if (!Number.isInteger(tail) || tail < 0 || tail > 10_000)
    throw new InstallError('bad-request', 'tail must be a whole number from 0 to 10000');
  return tail;
}

/** A last seen line id (SSE `Last-Event-ID`, socket.io `last_id`): undefined when absent. */
export function lastIdParam(raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id < 0)
    throw new InstallError(
      'bad-request',
      'the last event id must be a whole number (a line id this stream sent)',
    );
  return id;
}

/** What the route groups share: the config, the live logs, the plugin proxy and a few helpers. */
interface Routes {
  app: Hono;
  cfg: ServiceConfig;
  logStreams: LogStreams;
  proxy: PluginProxy;
  /**
   * The plugin id of an /admin/plugins/<id> route, checked before any path is built from it:
   * not a plugin id, or not installed, is 404 and touches nothing.
   */
  installedId: (c: Context) => string;
  /** Install progress of a plugin, as service events. */
  progress: (pluginId: string | undefined) => (e: InstallEvent) => void;
  /**
   * The run options with the heartbeats. Made per call: serve completes cfg.run (the heartbeat
   * URL) once it knows its address.
   */
  run: () => RunOptions & { heartbeats: Map<string, number> };
}

export function createServiceApp(cfg: ServiceConfig): Hono {
  const app = new Hono();
  const routes: Routes = {
    app,
    cfg,
    logStreams: cfg.logStreams ?? new LogStreams(cfg.pluginsDir, { log: cfg.log }),
    proxy: new PluginProxy(cfg.pluginsDir, () => ({ ...cfg.run, heartbeats: cfg.heartbeats })),
    installedId: (c) => {
      const id = c.req.param('id') ?? '';
      if (!isPluginId(id) || !readReceipt(cfg.pluginsDir, id)) {
        throw new InstallError(
          'not-found',
          `no plugin ${JSON.stringify(escapeControl(id.slice(0, 100)))} is installed`,
        );
      }
      return id;
    },
    progress: (pluginId) => (e) => cfg.events.emit({ type: 'progress', plugin_id: pluginId ?? null, ...e }),
    run: () => ({ ...cfg.run, heartbeats: cfg.heartbeats }),
  };
  // The order matters: middleware first, then the routes anyone may reach, then the admin token.
  registerErrorsAndGuard(routes);
  registerPublicRoutes(routes);
  registerPluginNamespace(routes);
  registerAdminAuth(routes);
  registerPluginList(routes);
  registerInstallRoutes(routes);
  registerUpgradeRoutes(routes);
  registerSnapshotRoutes(routes);
  registerLifecycleRoutes(routes);
  registerCategoryRoutes(routes);
  registerClientTokenRoutes(routes);
  registerStatusAndLogRoutes(routes);
  registerEventRoutes(routes);
  return app;
}

/** Errors as JSON, the access log, and the Host/Origin check every request passes first. */
function registerErrorsAndGuard({ app, cfg }: Routes): void {
  const guard = requestGuard(cfg);
  app.onError((err, c) => {
    if (err instanceof InstallError)
      return c.json(errorBody(err.code, err.message, err.details), err.status as 400);
    cfg.log?.({ level: 'error', msg: 'internal error', error: (err as Error).message });
    return c.json(errorBody('internal', 'CoreService failed; its log says why'), 500);
  });
  app.notFound((c) => c.json(errorBody('not-found', `no route ${c.req.method} ${c.req.path}`), 404));

  app.use('*', async (c, next) => {
    const t0 = performance.now();
    await next();
    // Heartbeats arrive every few seconds per replica and their path holds the plugin's secret:
    // logged only at debug, and never with the path.
    const beat = c.req.path.startsWith('/internal/heartbeat');
    cfg.log?.({
      level: beat ? 'debug' : 'info',
      method: c.req.method,
      path: beat ? '/internal/heartbeat/…' : escapeControl(c.req.path.slice(0, 500)),
      status: c.res.status,
      ms: Math.round(performance.now() - t0),
    });
  });

  // Before anything else: only the names it was told it serves, and no browser page of another
  // origin (a page the admin happens to open must not be able to drive it).
  app.use('*', async (c, next) => {
    const refused = guard(c.req.header('host'), c.req.header('origin'));
    if (refused) return c.json(errorBody('forbidden', refused), 403);
    await next();
  });
}

/** /health, and the heartbeats plugins send. */
function registerPublicRoutes({ app, cfg }: Routes): void {
  app.get('/health', (c) =>
    c.json({ status: 'ok', plugins: listInstalled(cfg.pluginsDir).length, ...cfg.health?.() }),
  );

  // Plugins report here: MAGELLON_HEARTBEAT_URL ends in the plugin's own secret (also accepted as
  // a bearer token), so nothing but that plugin can report for it. Only its own replicas count.
  const heartbeat = async (c: Context) => {
    const body = await readJsonBody(c);
    const replica = typeof body.replica_id === 'string' ? body.replica_id : '';
    const plugin = typeof body.plugin_id === 'string' ? body.plugin_id : '';
    const given =
      c.req.param('key') ?? /^Bearer (\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    // A plugin being installed beats before its receipt is written: its key is what counts.
    const key = isPluginId(plugin) ? heartbeatKey(pluginHome(cfg.pluginsDir, plugin), false) : undefined;
    if (!key || !sameToken(given, key)) {
      return c.json(errorBody('unauthorized', 'a heartbeat needs the secret its plugin was given'), 401);
    }
    if (!replica.startsWith(`${plugin}-`) || !/^\d{1,4}$/.test(replica.slice(plugin.length + 1)))
      return c.json(errorBody('not-found', 'no such plugin replica'), 404);
    cfg.heartbeats.set(replica, Date.now());
    return c.body(null, 204);
  };
  app.post('/internal/heartbeat', jsonLimit, heartbeat);
  app.post('/internal/heartbeat/:key', jsonLimit, heartbeat);
}

/**
 * Each plugin's namespace (proxy.ts): the admin token or that plugin's own client token; any
 * other (another plugin's included) is 401. An unknown plugin is 404 only to a valid token.
 */
function registerPluginNamespace({ app, cfg, proxy, installedId }: Routes): void {
  const namespace = async (c: Context) => {
    const id = c.req.param('id') ?? '';
    const given = /^Bearer (.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const admitted =
      given !== undefined &&
      (sameToken(given, cfg.token) ||
        (isPluginId(id) &&
          readReceipt(cfg.pluginsDir, id) !== undefined &&
          isClientToken(cfg.pluginsDir, id, given)));
    if (!admitted) {
      c.header('www-authenticate', 'Bearer realm="coreservice-plugin"');
      return c.json(
        errorBody(
          'unauthorized',
          "the admin token or this plugin's client token is required (Authorization: Bearer …)",
        ),
        401,
      );
    }
    return proxy.forward(c, installedId(c));
  };
  app.all('/plugins/:id', namespace);
  app.all('/plugins/:id/*', namespace);
}

/**
 * Every /admin route needs the admin token. (hono/bearer-auth does not fit: it answers a header
 * that is not `Bearer <token68>` with 400, where this service answers 401 to any wrong header.)
 */
function registerAdminAuth({ app, cfg }: Routes): void {
  app.use('/admin/*', async (c, next) => {
    const auth = c.req.header('authorization') ?? '';
    const m = /^Bearer (.+)$/i.exec(auth);
    if (!m || !sameToken(m[1]!, cfg.token)) {
      c.header('www-authenticate', 'Bearer realm="coreservice"');
      return c.json(
        errorBody('unauthorized', 'a valid admin token is required (Authorization: Bearer …)'),
        401,
      );
    }
    await next();
  });
}

/**
 * Every installed plugin with its identity, live status and update chip (plugin-list.ts; the
 * registries asked briefly and cached, skipped with ?update=0). Plugins whose receipt cannot be
 * read are named beside the others (each route on one is 500 unreadable-record, naming the file).
 */
function registerPluginList({ app, cfg }: Routes): void {
  const updateCache = newUpdateCache();
  app.get('/admin/plugins', async (c) => {
    const update = c.req.query('update');
    if (update !== undefined && !['0', '1', 'false', 'true'].includes(update))
      throw new InstallError('bad-request', 'update must be 0 or 1');
    return c.json(
      await listPlugins({
        pluginsDir: cfg.pluginsDir,
        hubs: cfg.hubs,
        sdkVersion: cfg.sdkVersion,
        run: cfg.run,
        heartbeats: cfg.heartbeats,
        update: update !== '0' && update !== 'false',
        cache: updateCache,
      }),
    );
  });
}

/** Installs (from a registry or an upload) and uninstalls. */
function registerInstallRoutes(r: Routes): void {
  const { app, cfg, installedId, progress } = r;
  app.post('/admin/plugins/install-from-hub', jsonLimit, async (c) => {
    const body = parseBody(installFromHubBody, await readJsonBody(c));
    const pluginId = body.plugin_id;
    const receipt = await installFromHub({
      pluginsDir: cfg.pluginsDir,
      // A request may pick one of the configured registries (with its trust mode), never add one.
      hubs: body.hub_url ? [configuredRegistry(cfg.hubs, body.hub_url)] : cfg.hubs,
      pluginId,
      version: body.version,
      method: body.install_method,
      sdkVersion: cfg.sdkVersion,
      run: cfg.run,
      timeouts: cfg.timeouts,
      onEvent: progress(pluginId),
    });
    cfg.events.emit({ type: 'installed', plugin_id: receipt.plugin_id, version: receipt.version });
    return c.json(receipt, 201);
  });

  // An .mpn as the raw request body (or a form), streamed to disk with a size cap.
  app.post('/admin/plugins/install', (c) =>
    withUpload(cfg, c, async ({ file, label, maxBytes, fields }) => {
      const receipt = await installFromFile({
        pluginsDir: cfg.pluginsDir,
        file,
        label,
        sdkVersion: cfg.sdkVersion,
        maxBytes,
        method: c.req.query('install_method') || fields.install_method || undefined,
        run: cfg.run,
        onEvent: progress(undefined),
      });
      cfg.events.emit({ type: 'installed', plugin_id: receipt.plugin_id, version: receipt.version });
      return c.json(receipt, 201);
    }),
  );

  // Keeps data/ and snapshots/ in the plugin's home unless ?purge=1.
  app.delete('/admin/plugins/:id', async (c) => {
    const purge = flagQuery(c, 'purge');
    // With purge, an id that is not installed but whose data an earlier uninstall kept is found too.
    const raw = c.req.param('id');
    const id = purge && isPluginId(raw) && keptNames(pluginHome(cfg.pluginsDir, raw)) ? raw : installedId(c);
    const done = await uninstall(cfg.pluginsDir, id, { purge });
    if (done.uninstalled) {
      r.logStreams.stopPlugin(id);
      r.proxy.forget(id);
      cfg.events.emit({
        type: 'uninstalled',
        plugin_id: id,
        version: done.uninstalled.version,
        kept: done.kept,
      });
    }
    return c.json(done);
  });
}

/**
 * Receives an .mpn (the raw request body, or a form's `file` part), streamed to disk with a size
 * cap, and hands `use` the file it went to, the name errors call it, and the form's fields. The
 * file is removed afterwards, whatever happened.
 */
async function withUpload<T>(
  cfg: ServiceConfig,
  c: Context,
  use: (upload: {
    file: string;
    label: string;
    maxBytes: number;
    fields: Record<string, string>;
  }) => Promise<T>,
): Promise<T> {
  const max = cfg.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  const announced = Number(c.req.header('content-length') ?? 0);
  if (announced > max + 64 * 1024) {
    throw new InstallError('bad-archive', `the upload is ${announced} bytes; the limit is ${max}`);
  }
  const dir = uploadsDir(cfg.pluginsDir);
  mkdirSync(dir, { recursive: true });
  const file = newUploadPath(cfg.pluginsDir);
  try {
    const { size, fields, filename } = await receiveUpload(
      c.req.raw.body,
      c.req.header('content-type') ?? '',
      file,
      max,
    );
    if (size === 0) {
      throw new InstallError(
        'bad-archive',
        'the upload is empty; send the .mpn as the body or as the form part "file"',
      );
    }
    // Errors name what the client sent, never the file it was received into.
    const label = uploadLabel(filename ?? filenameOf(c.req.header('content-disposition')));
    return await use({ file, label, maxBytes: max, fields });
  } finally {
    rmSync(file, { force: true });
    try {
      rmdirSync(dir);
    } catch {
      // another upload is still in the folder: it goes with the last one
    }
  }
}

/** Upgrades, from a registry or an upload. */
function registerUpgradeRoutes({ app, cfg, installedId, progress }: Routes): void {
  app.get('/admin/plugins/:id/upgrades', async (c) =>
    c.json(
      await listUpgrades({
        pluginsDir: cfg.pluginsDir,
        hubs: cfg.hubs,
        pluginId: installedId(c),
        sdkVersion: cfg.sdkVersion,
      }),
    ),
  );

  app.post('/admin/plugins/:id/upgrade-from-hub', jsonLimit, async (c) => {
    const id = installedId(c);
    const body = parseBody(upgradeFromHubBody, await readJsonBody(c));
    const r = await upgradeFromHub({
      pluginsDir: cfg.pluginsDir,
      hubs: cfg.hubs,
      pluginId: id,
      to: body.version,
      forceDowngrade: body.force_downgrade === true,
      sdkVersion: cfg.sdkVersion,
      run: cfg.run,
      timeouts: cfg.timeouts,
      onEvent: progress(id),
    });
    if (!r.up_to_date)
      cfg.events.emit({ type: 'upgraded', plugin_id: id, from: r.from.version, to: r.to.version });
    return c.json(r);
  });

  // An upgrade from an .mpn sent as the body (air-gapped sites): the same pipeline and rollback as
  // upgrade-from-hub; the archive must be this plugin's. ?force_downgrade=1 allows going back.
  app.post('/admin/plugins/:id/upgrade', async (c) => {
    const id = installedId(c);
    const forceDowngrade = flagQuery(c, 'force_downgrade');
    return withUpload(cfg, c, async ({ file, label, maxBytes, fields }) => {
      const r = await upgradeFromFile({
        pluginsDir: cfg.pluginsDir,
        pluginId: id,
        file,
        label,
        maxBytes,
        forceDowngrade: forceDowngrade || ['1', 'true'].includes(fields.force_downgrade ?? ''),
        sdkVersion: cfg.sdkVersion,
        method: c.req.query('install_method') || fields.install_method || undefined,
        run: cfg.run,
        onEvent: progress(id),
      });
      cfg.events.emit({ type: 'upgraded', plugin_id: id, from: r.from.version, to: r.to.version });
      return c.json(r);
    });
  });
}

/** The data snapshots upgrades and restores keep, and putting one back. */
function registerSnapshotRoutes({ app, cfg, installedId }: Routes): void {
  app.get('/admin/plugins/:id/snapshots', (c) =>
    c.json({ snapshots: pluginSnapshots(cfg.pluginsDir, installedId(c)) }),
  );

  app.post('/admin/plugins/:id/snapshots/:name/restore', async (c) => {
    const id = installedId(c);
    const r = await restoreSnapshot(cfg.pluginsDir, id, c.req.param('name'), {
      ...cfg.run,
      heartbeats: cfg.heartbeats,
    });
    cfg.events.emit({ type: 'restored', plugin_id: id, snapshot: r.restored, kept_as: r.kept_as ?? null });
    return c.json(r);
  });
}

/** start, stop, restart, pause, unpause and scale: each answers the status document GET …/status gives. */
function registerLifecycleRoutes({ app, cfg, proxy, installedId, run }: Routes): void {
  const lifecycle = {
    start: (id: string) => startPlugin(cfg.pluginsDir, id, run()),
    stop: (id: string) => stopPlugin(cfg.pluginsDir, id, run()),
    restart: (id: string) => restartPlugin(cfg.pluginsDir, id, run()),
    pause: (id: string) => pausePlugin(cfg.pluginsDir, id, true, run()),
    unpause: (id: string) => pausePlugin(cfg.pluginsDir, id, false, run()),
  };
  const changed = (status: PluginStatus, action: string) =>
    cfg.events.emit({
      type: 'status',
      plugin_id: status.plugin_id,
      state: status.state,
      health: status.health,
      action,
    });
  for (const [action, fn] of Object.entries(lifecycle)) {
    app.post(`/admin/plugins/:id/${action}`, async (c) => {
      const status = await fn(installedId(c));
      proxy.forget(status.plugin_id);
      changed(status, action);
      return c.json(status);
    });
  }

  app.post('/admin/plugins/:id/scale', jsonLimit, async (c) => {
    const id = installedId(c);
    const body = parseBody(scaleBody, await readJsonBody(c));
    const status = await scalePlugin(cfg.pluginsDir, id, body.desired, run());
    proxy.forget(id);
    changed(status, 'scale');
    return c.json(status);
  });
}

/**
 * The lockfile of what is installed (coreservice export: JSON, no secrets), and the categories
 * with their backends (Magellon's backend picker) and the default each one pins.
 */
function registerCategoryRoutes({ app, cfg }: Routes): void {
  app.get('/admin/export', (c) => c.json(exportLock(cfg.pluginsDir, { sdkVersion: cfg.sdkVersion })));
  app.get('/admin/categories', (c) => c.json({ categories: listCategories(cfg.pluginsDir) }));
  app.get('/admin/categories/:slug', (c) => c.json(getCategory(cfg.pluginsDir, c.req.param('slug'))));
  app.put('/admin/categories/:slug/default', jsonLimit, async (c) => {
    const pluginId = parseBody(categoryDefaultBody, await readJsonBody(c)).plugin_id;
    const category = pinCategoryDefault(cfg.pluginsDir, c.req.param('slug'), pluginId);
    cfg.events.emit({ type: 'category-default', category: category.slug, plugin_id: pluginId });
    return c.json(category);
  });
  // What a dispatcher asks: which plugin a task of the category goes to (categories.ts's rule).
  app.get('/admin/categories/:slug/dispatch', async (c) => {
    const target = c.req.query('target_backend');
    const choice = chooseBackend(cfg.pluginsDir, c.req.param('slug'), target === '' ? undefined : target);
    const status = await pluginStatus(cfg.pluginsDir, choice.plugin_id, {
      run: cfg.run,
      heartbeats: cfg.heartbeats,
    });
    return c.json({ ...choice, healthy: status.healthy, state: status.state });
  });
  app.delete('/admin/categories/:slug/default', (c) => {
    const category = pinCategoryDefault(cfg.pluginsDir, c.req.param('slug'), null);
    cfg.events.emit({
      type: 'category-default',
      category: category.slug,
      plugin_id: category.default?.plugin_id ?? null,
    });
    return c.json(category);
  });
}

/**
 * The token that opens one plugin's namespace (/plugins/<id>/…) and nothing else: made or
 * replaced here, answered this once, kept only as its hash. DELETE revokes it.
 */
function registerClientTokenRoutes({ app, cfg, installedId }: Routes): void {
  app.post('/admin/plugins/:id/client-token', (c) => {
    const id = installedId(c);
    const made = rotateClientToken(cfg.pluginsDir, id);
    cfg.events.emit({ type: 'client-token', plugin_id: id, action: 'rotated' });
    return c.json({ plugin_id: id, token: made.token, created_at: made.created_at }, 201);
  });
  app.delete('/admin/plugins/:id/client-token', (c) => {
    const id = installedId(c);
    revokeClientToken(cfg.pluginsDir, id);
    cfg.events.emit({ type: 'client-token', plugin_id: id, action: 'revoked' });
    return c.body(null, 204);
  });
}

/** A plugin's status, and its logs (the last lines, or followed as server-sent events). */
function registerStatusAndLogRoutes({ app, cfg, logStreams, installedId }: Routes): void {
  app.get('/admin/plugins/:id/status', async (c) =>
    c.json(await pluginStatus(cfg.pluginsDir, installedId(c), { run: cfg.run, heartbeats: cfg.heartbeats })),
  );

  app.get('/admin/plugins/:id/logs', async (c) => {
    const id = installedId(c);
    const tail = tailParam(c.req.query('tail'));
    const follow = c.req.query('follow');
    if (follow === '1' || follow === 'true') {
      const after = lastIdParam(c.req.header('last-event-id') ?? c.req.query('last_event_id'));
      return followLogs(logStreams, c, id, { tail, after });
    }
    return c.json({
      plugin_id: id,
      lines: await pluginLogs(cfg.pluginsDir, id, tail),
    });
  });
}

type SseEvent = { event: string; data: string; id?: string };

/**
 * A plugin's live log as server-sent events: `log` per line (`id` is the line's id, so a client
 * reconnecting with Last-Event-ID resumes after it), `gap` when lines it asked to resume from are
 * no longer kept, `end` when the plugin goes or its log cannot be read. A client too slow to
 * keep up (twice the kept lines waiting for it) is disconnected, and resumes.
 */
function followLogs(
  logStreams: LogStreams,
  c: Context,
  id: string,
  opts: { tail: number; after?: number },
): Response {
  const queue: SseEvent[] = [];
  let wake: (() => void) | undefined;
  let over = false;
  let overflow = false;
  const push = (e: SseEvent) => {
    queue.push(e);
    // A backlog is at most the kept lines: twice as many waiting is a client that does not read.
    if (queue.length > 2 * RING_LINES) overflow = true;
    wake?.();
  };
  const leave = logStreams.subscribe(id, opts, {
    line: (l: StreamedLine) => push({ event: 'log', data: JSON.stringify(l), id: String(l.id) }),
    gap: (missed) =>
      push({
        event: 'gap',
        data: JSON.stringify({
          plugin_id: id,
          missed,
          message: `${missed} lines are no longer kept; the stream goes on after them`,
        }),
      }),
    end: (why, failed) => {
      push({ event: 'end', data: JSON.stringify({ plugin_id: id, error: failed, message: why }) });
      over = true;
    },
  });
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => {
      leave();
      wake?.();
    });
    try {
      while (!stream.aborted && !overflow) {
        const e = queue.shift();
        if (e) {
          await stream.writeSSE(e);
          continue;
        }
        if (over) break;
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 15_000).unref();
        });
        wake = undefined;
        if (queue.length === 0 && !over && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
    } finally {
      leave();
    }
  });
}

/** The live stream: install progress, lifecycle and supervisor events, as server-sent events. */
function registerEventRoutes({ app, cfg }: Routes): void {
  app.get('/admin/events', (c) => {
    const only = c.req.query('plugin_id');
    return streamSSE(c, async (stream) => {
      let id = 0;
      const queue: ServiceEvent[] = [];
      let wake: (() => void) | undefined;
      const off = cfg.events.on((e) => {
        if (only && e.plugin_id !== only) return;
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => {
        off();
        wake?.();
      });
      await stream.writeSSE({
        event: 'hello',
        data: JSON.stringify({ plugins: listInstalled(cfg.pluginsDir).length }),
      });
      while (!stream.aborted) {
        const e = queue.shift();
        if (e) {
          await stream.writeSSE({ event: String(e.type), data: JSON.stringify(e), id: String(id++) });
          continue;
        }
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 15_000).unref();
        });
        wake = undefined;
        if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
      off();
    });
  });
}
