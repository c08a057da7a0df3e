// `coreservice serve`: the admin service on 127.0.0.1 (by default). On start it first repairs what
// a crash left (doctor), then brings back every plugin whose desired state is running, then
// supervises them while it runs. Plugins run in their own sessions: stopping CoreService leaves
// them running, and the next start adopts them.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import type { Registry } from '../config';
import { type DoctorReport, doctor } from '../doctor';
import { listInstalled, type Receipt, type RunOptions } from '../install';
import { startPlugin } from '../lifecycle';
import { LOCK_STALE_MS } from '../lock';
import { readSmallFile } from '../runtime/files';
import { backendFor, loadRuntime, readRunState } from '../runtime/runner';
import { Supervisor } from '../runtime/supervisor';
import { createServiceApp } from './app';
import { EventBus } from './events';

export interface ServeOptions {
  pluginsDir: string;
  hubs: readonly (string | Registry)[];
  sdkVersion?: string;
  port?: number;
  host?: string;
  /** The admin token; when absent, one is made and kept in `<plugins_dir>/.admin-token` (0600). */
  token?: string;
  run?: RunOptions;
  supervisorIntervalMs?: number;
  log?: (entry: Record<string, unknown>) => void;
}

export interface RunningService {
  url: string;
  tokenFile?: string;
  repaired: DoctorReport;
  events: EventBus;
  supervisor: Supervisor;
  close(): Promise<void>;
}

/** The token from the options, else the one kept in the plugins dir, else a new one kept there. */
function adminToken(pluginsDir: string, given?: string): { token: string; file?: string } {
  if (given) return { token: given };
  const file = join(pluginsDir, '.admin-token');
  const kept = readSmallFile(file, 4096);
  if (kept.ok && kept.text.trim().length >= 16) return { token: kept.text.trim(), file };
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, file };
}

export async function serveCoreService(opts: ServeOptions): Promise<RunningService> {
  mkdirSync(opts.pluginsDir, { recursive: true });
  const log = opts.log ?? (() => {});
  const { token, file } = adminToken(opts.pluginsDir, opts.token);
  const events = new EventBus();
  const heartbeats = new Map<string, number>();
  const run: RunOptions = { ...opts.run };
  // True until what a crash left is repaired and every plugin that should run was started.
  let repairing = true;
  const app = createServiceApp({
    pluginsDir: opts.pluginsDir,
    hubs: opts.hubs,
    sdkVersion: opts.sdkVersion,
    token,
    run,
    events,
    heartbeats,
    log,
    health: () => ({ repairing }),
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8090, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  run.heartbeatUrl ??= `${url}/internal/heartbeat`;

  // Repair what a crash left, then bring back what should run. A plugin whose lock still looks held
  // (its holder may have died moments ago) is tried again once such a lock would be stale.
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const repairAndResume = async (): Promise<DoctorReport> => {
    const report = await doctor(opts.pluginsDir);
    for (const r of report.removed)
      log({ level: 'warn', msg: 'repaired after a crash', path: r.path, why: r.why });
    const busy = new Set(report.busy);
    for (const receipt of listInstalled(opts.pluginsDir)) {
      if (busy.has(receipt.plugin_id)) continue;
      await resume(receipt);
    }
    repairing = busy.size > 0;
    if (busy.size > 0 && !closed) {
      log({
        level: 'warn',
        msg: 'an operation seems to be in progress; checking again soon',
        plugins: [...busy],
      });
      retry = setTimeout(() => void repairAndResume(), LOCK_STALE_MS + 500);
      retry.unref();
    }
    return report;
  };
  const resume = async (receipt: Receipt) => {
    try {
      const rt = loadRuntime(
        opts.pluginsDir,
        receipt.plugin_id,
        receipt.version,
        receipt.method ?? 'subprocess',
      );
      if (readRunState(rt.home)?.desired === 'stopped') return;
      const replicas = await backendFor(rt.entry.method).status(rt);
      if (replicas.some((r) => r.state === 'running' || r.state === 'starting')) return;
      await startPlugin(opts.pluginsDir, receipt.plugin_id, run);
      log({ level: 'info', msg: 'started', plugin_id: receipt.plugin_id, version: receipt.version });
    } catch (err) {
      log({
        level: 'error',
        msg: 'could not start',
        plugin_id: receipt.plugin_id,
        error: (err as Error).message,
      });
    }
  };
  const repaired = await repairAndResume();
  const supervisor = new Supervisor(opts.pluginsDir, run, {
    intervalMs: opts.supervisorIntervalMs,
    onEvent: (e) => {
      events.emit(e);
      log({ level: 'warn', msg: `supervisor: ${e.type}`, ...e });
    },
  });
  supervisor.start();
  return {
    url,
    tokenFile: file,
    repaired,
    events,
    supervisor,
    close: async () => {
      closed = true;
      clearTimeout(retry);
      supervisor.stop();
      await new Promise<void>((r) => {
        server.close(() => r());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
