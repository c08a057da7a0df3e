// `coreservice serve`: the admin service on 127.0.0.1 (by default). On start it first repairs what
// a crash left (doctor), then brings back every plugin whose desired state is running, then
// supervises them while it runs. Plugins run in their own sessions: stopping CoreService leaves
// them running, and the next start adopts them.
import { mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Registry } from '../config';
import { type DoctorReport, doctor } from '../doctor';
import { InstallError } from '../errors';
import { type DownloadLimits, listInstalled, type Receipt, type RunOptions } from '../install';
import { adminTokenFile } from '../layout';
import { startPlugin } from '../lifecycle';
import { LOCK_STALE_MS } from '../lock';
import { recordValue } from '../records';
import { backendFor } from '../runtime/backends';
import { readSmallFile, writeFileDurably } from '../runtime/files';
import { resolveIsolation } from '../runtime/isolation';
import { Liveness } from '../runtime/liveness';
import { loadRuntime, readRunState } from '../runtime/runner';
import { Supervisor } from '../runtime/supervisor';
import { createServiceApp, LOOPBACK_HOSTS, requestGuard, type ServiceConfig } from './app';
import { EventBus } from './events';
import { attachLogSocket } from './log-socket';
import { LogStreams } from './log-streams';
import { newToken, weakTokenReason } from './token';

/** How much the service logs: each level includes those before it. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type Log = (entry: Record<string, unknown>) => void;

/** `log` passing on only entries at `level` or more severe (an entry without a level counts as info). */
export function logAtLevel(
  level: LogLevel,
  log: (entry: Record<string, unknown>) => void,
): (entry: Record<string, unknown>) => void {
  const max = LOG_LEVELS.indexOf(level);
  return (entry) => {
    const at = LOG_LEVELS.indexOf((entry.level as LogLevel | undefined) ?? 'info');
    if ((at < 0 ? LOG_LEVELS.indexOf('info') : at) <= max) log(entry);
  };
}

export interface ServeOptions {
  pluginsDir: string;
  /** Where the plugins dir came from (resolvePluginsDir's `from`), said in the log at start. */
  pluginsDirFrom?: string;
  hubs: readonly (string | Registry)[];
  sdkVersion?: string;
  port?: number;
  host?: string;
  /** The admin token; when absent, one is made and kept in `<plugins_dir>/.admin-token` (0600). */
  token?: string;
  run?: RunOptions;
  supervisorIntervalMs?: number;
  log?: (entry: Record<string, unknown>) => void;
  /** What reaches `log` (default info: access lines of heartbeats only at debug). */
  logLevel?: LogLevel;
  /** Download limits for installs and upgrades (the minimum rate). */
  timeouts?: DownloadLimits;
  /** Host names it answers to besides the loopback names (and the address it binds). */
  allowedHosts?: readonly string[];
  /** Browser origins allowed to call it (default none). */
  allowedOrigins?: readonly string[];
}

export interface RunningService {
  url: string;
  tokenFile?: string;
  repaired: DoctorReport;
  events: EventBus;
  supervisor: Supervisor;
  /** The live plugin logs (SSE and socket.io listeners share one follower per plugin). */
  logStreams: LogStreams;
  close(): Promise<void>;
}

/**
 * The token from the options, else the one kept in the plugins dir, else a new one kept there
 * (0600). A token that is too easy to guess is refused: the service does not start with it.
 */
function adminToken(pluginsDir: string, given?: string): { token: string; file?: string } {
  if (given !== undefined) {
    const weak = weakTokenReason(given, 'MAGELLON_ADMIN_TOKEN');
    if (weak) throw new InstallError('bad-request', weak);
    return { token: given };
  }
  const file = adminTokenFile(pluginsDir);
  const kept = readSmallFile(file, 4096);
  if (kept.ok) {
    const token = kept.text.trim();
    const weak = weakTokenReason(token, file);
    if (weak)
      throw new InstallError('bad-request', `${weak}; remove the file and CoreService makes a new one`);
    return { token, file };
  }
  const token = newToken();
  writeFileDurably(file, `${token}\n`);
  return { token, file };
}

/** The host names the service answers to: the loopback names, the address it binds (unless a wildcard) and the configured ones. */
function servedHosts(bind: string, extra: readonly string[] = []): string[] {
  const wildcard = bind === '0.0.0.0' || bind === '::' || bind === '';
  return [...new Set([...LOOPBACK_HOSTS, ...(wildcard ? [] : [bind]), ...extra])];
}

/** What the service knows about its own progress: repairs pending, closed, the next repair retry. */
interface RepairState {
  /** True until what a crash left is repaired and every plugin that should run was started. */
  repairing: boolean;
  closed: boolean;
  retry?: NodeJS.Timeout;
}

export async function serveCoreService(opts: ServeOptions): Promise<RunningService> {
  mkdirSync(opts.pluginsDir, { recursive: true });
  const log = logAtLevel(opts.logLevel ?? 'info', opts.log ?? (() => {}));
  log({
    level: 'info',
    msg: 'plugins dir',
    path: opts.pluginsDir,
    ...(opts.pluginsDirFrom ? { from: opts.pluginsDirFrom } : {}),
  });
  const { token, file } = adminToken(opts.pluginsDir, opts.token);
  // An isolation level this host cannot give is an error now, not at the first plugin start.
  const isolation = resolveIsolation(opts.run?.isolation);
  log({
    level: isolation.level === 'none' ? 'warn' : 'info',
    msg: `plugin isolation: ${isolation.level}`,
    why: isolation.why,
  });
  const events = new EventBus();
  const heartbeats = new Map<string, number>();
  const run: RunOptions = { ...opts.run };
  const liveness = await listenToBroker(run, log);
  const state: RepairState = { repairing: true, closed: false };
  const logStreams = new LogStreams(opts.pluginsDir, { log });
  const { server, io, url } = await startHttp(opts, {
    token,
    run,
    events,
    heartbeats,
    log,
    health: () => ({ repairing: state.repairing }),
    logStreams,
  });
  run.heartbeatUrl ??= `${url}/internal/heartbeat`;
  const repaired = await repairAndResume(opts.pluginsDir, run, log, state);
  const supervisor = new Supervisor(opts.pluginsDir, run, {
    intervalMs: opts.supervisorIntervalMs,
    heartbeats,
    onEvent: (e) => {
      events.emit(e);
      const fine = e.type === 'status' && e.health === 'healthy';
      log({ level: fine ? 'info' : 'warn', msg: `supervisor: ${e.type}`, ...e });
    },
  });
  supervisor.start();
  return {
    url,
    tokenFile: file,
    repaired,
    events,
    supervisor,
    logStreams,
    close: async () => {
      state.closed = true;
      clearTimeout(state.retry);
      supervisor.stop();
      await liveness?.close();
      await logStreams.close();
      await new Promise<void>((r) => {
        // Disconnects every socket, then closes the HTTP server.
        io.close(() => r());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}

/** Plugin liveness over the broker (when there is one): listened to for as long as the service runs. */
async function listenToBroker(run: RunOptions, log: Log): Promise<Liveness | undefined> {
  const liveness = run.brokerUrl && !run.liveness ? new Liveness(run.brokerUrl, { log }).start() : undefined;
  if (liveness) {
    run.liveness = liveness;
    log({ level: 'info', msg: 'broker', url: liveness.shownUrl });
    await liveness.waitConnected(10_000);
  }
  return liveness;
}

/**
 * The admin app and, on the same server, Socket.IO (plugin logs, as Magellon's client reads them,
 * at /socket.io/), listening; answers the server and the URL it is reached at.
 */
async function startHttp(
  opts: ServeOptions,
  parts: Pick<ServiceConfig, 'token' | 'run' | 'events' | 'heartbeats' | 'health'> & {
    log: Log;
    logStreams: LogStreams;
  },
) {
  const allowedHosts = servedHosts(opts.host ?? '127.0.0.1', opts.allowedHosts);
  const app = createServiceApp({
    pluginsDir: opts.pluginsDir,
    hubs: opts.hubs,
    sdkVersion: opts.sdkVersion,
    allowedHosts,
    allowedOrigins: opts.allowedOrigins,
    timeouts: opts.timeouts,
    ...parts,
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  const io = attachLogSocket(server as HttpServer, {
    token: parts.token,
    guard: requestGuard({ allowedHosts, allowedOrigins: opts.allowedOrigins }),
    allowedOrigins: opts.allowedOrigins,
    logStreams: parts.logStreams,
    log: parts.log,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8090, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return { server, io, url: `http://${host}:${addr.port}` };
}

/**
 * Repairs what a crash left, then brings back what should run. A plugin whose lock still looks
 * held (its holder may have died moments ago) is tried again once such a lock would be stale.
 */
async function repairAndResume(
  pluginsDir: string,
  run: RunOptions,
  log: Log,
  state: RepairState,
): Promise<DoctorReport> {
  const report = await doctor(pluginsDir, { isolation: run.isolation });
  for (const r of report.removed)
    log({ level: 'warn', msg: 'repaired after a crash', path: r.path, why: r.why });
  for (const r of report.unreadable)
    log({ level: 'warn', msg: 'unreadable record (left as it is)', path: r.path, why: r.why });
  const busy = new Set(report.busy);
  for (const receipt of listInstalled(pluginsDir)) {
    if (busy.has(receipt.plugin_id)) continue;
    await resume(pluginsDir, receipt, run, log);
  }
  state.repairing = busy.size > 0;
  if (busy.size > 0 && !state.closed) {
    log({
      level: 'warn',
      msg: 'an operation seems to be in progress; checking again soon',
      plugins: [...busy],
    });
    state.retry = setTimeout(() => void repairAndResume(pluginsDir, run, log, state), LOCK_STALE_MS + 500);
    state.retry.unref();
  }
  return report;
}

/** Starts an installed plugin again unless it was stopped by the operator or some replica runs. */
async function resume(pluginsDir: string, receipt: Receipt, run: RunOptions, log: Log): Promise<void> {
  try {
    const rt = loadRuntime(pluginsDir, receipt.plugin_id, receipt.version, receipt.method ?? 'subprocess');
    if (recordValue(readRunState(rt.home))?.desired === 'stopped') return;
    const replicas = await backendFor(rt.entry.method).status(rt);
    if (replicas.some((r) => r.state === 'running' || r.state === 'starting')) return;
    await startPlugin(pluginsDir, receipt.plugin_id, run);
    log({ level: 'info', msg: 'started', plugin_id: receipt.plugin_id, version: receipt.version });
  } catch (err) {
    log({
      level: 'error',
      msg: 'could not start',
      plugin_id: receipt.plugin_id,
      error: (err as Error).message,
    });
  }
}
