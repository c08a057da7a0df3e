// Plugin health as Magellon sees it, end to end: a real `coreservice serve` on 127.0.0.1 (heartbeat
// every second), a process-backend plugin uploaded to it, its replica killed by hand or made to exit
// 1; status turns down at once, the supervisor applies the manifest's restart policy, says each
// change of health on the event stream, and a stopped plugin stays stopped across a restart of the
// service.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dataDir } from '../src/layout';
import type { PluginStatus } from '../src/lifecycle';
import { backoffMs } from '../src/runtime/supervisor';
import type { ServiceEvent } from '../src/service/events';
import { type RunningService, serveCoreService } from '../src/service/serve';
import { packVariant } from './fixtures';
import { adminCall, alive, scratchDir, stopAllUnder } from './helpers';

const TOKEN = 'test-admin-token-0123456789abcdef';
const HEARTBEAT_SECONDS = 1;
/** How long a change may take to show, beyond one heartbeat interval (a loaded 2-core machine). */
const SLACK_MS = 5_000;
const scratch = scratchDir('coreservice-status-');
const pluginsDir = join(scratch, 'plugins');
const events: ServiceEvent[] = [];
let svc: RunningService;

const serve = async () => {
  svc = await serveCoreService({
    pluginsDir,
    hubs: [],
    port: 0,
    token: TOKEN,
    run: { heartbeatSeconds: HEARTBEAT_SECONDS },
    log: () => {},
  });
  svc.events.on((e) => events.push(e));
};

beforeAll(serve, 60_000);
afterEach(async () => {
  // Each test installs ctf afresh with its own restart policy.
  if (existsSync(join(pluginsDir, 'ctf'))) await call('DELETE', '/admin/plugins/ctf?purge=1');
  events.length = 0;
});
afterAll(async () => {
  await svc?.close();
  await stopAllUnder(scratch);
  rmSync(scratch, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown) => adminCall(svc.url, TOKEN, method, path, body);

const status = async (): Promise<PluginStatus> => (await call('GET', '/admin/plugins/ctf/status')).body;

/**
 * Uploads the ctf example with this restart policy (and up to `maxReplicas`), run by the process
 * backend. Its main.py also watches for a file `fail` in its data dir and exits 1 as soon as it is
 * there (a plugin that fails on its own, as opposed to one killed by a signal), and a replica whose
 * id a file `refuse-<replica id>` names exits 3 at start.
 */
async function install(policy: string, retries: number, maxReplicas = 1): Promise<PluginStatus> {
  const bytes = await packVariant(scratch, 'ctf', '1.0.0', (d) => {
    const m = join(d, 'manifest.yaml');
    writeFileSync(
      m,
      readFileSync(m, 'utf8').replace(
        /lifecycle:[\s\S]*?restart_max_retries: \d+/,
        `lifecycle:\n  restart_policy: "${policy}"\n  restart_max_retries: ${retries}`,
      ),
    );
    if (maxReplicas > 1) {
      writeFileSync(
        m,
        readFileSync(m, 'utf8').replace(
          /typical_duration_seconds: \d+\n/,
          `$&  replicas: { desired: 1, min: 1, max: ${maxReplicas} }\n`,
        ),
      );
    }
    // The process entry, without the ctffind4 binary it asks for.
    writeFileSync(m, readFileSync(m, 'utf8').replace(/ {4}requires:\n {6}- binary: ctffind4\n/, ''));
    renameSync(join(d, 'main.py'), join(d, 'plugin_main.py'));
    writeFileSync(
      join(d, 'main.py'),
      [
        'import os, runpy, sys, threading, time',
        'data = os.environ["MAGELLON_PLUGIN_DATA_DIR"]',
        'if os.path.exists(os.path.join(data, "refuse-" + os.environ["MAGELLON_REPLICA_ID"])):',
        '    print("refusing to start", file=sys.stderr)',
        '    sys.exit(3)',
        'flag = os.path.join(data, "fail")',
        'def watch():',
        '    while not os.path.exists(flag):',
        '        time.sleep(0.05)',
        '    print("failing on purpose", file=sys.stderr, flush=True)',
        '    os._exit(1)',
        'threading.Thread(target=watch, daemon=True).start()',
        'runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin_main.py"), run_name="__main__")',
        '',
      ].join('\n'),
    );
  });
  const r = await call('POST', '/admin/plugins/install?install_method=subprocess', bytes);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  // Healthy once its replica answers /health and its first heartbeat is in.
  await expect
    .poll(async () => [(await status()).health, (await status()).replicas[0]?.heartbeat], {
      timeout: HEARTBEAT_SECONDS * 1000 + SLACK_MS,
      interval: 100,
    })
    .toEqual(['healthy', 'fresh']);
  // …and once the supervisor has seen it so (its first pass over this install says it).
  await expect.poll(healthChanges, { timeout: SLACK_MS, interval: 50 }).toContain('healthy');
  events.length = 0;
  return status();
}

/** The healths the supervisor's `status` events said of ctf, in order. */
const healthChanges = () =>
  events.filter((e) => e.type === 'status' && e.plugin_id === 'ctf' && 'health' in e).map((e) => e.health);

/** Waits past the supervisor's backoff for a replica that ended, then lets it make one pass. */
async function superviseAfter(exitedAt: string | undefined, restarts: number) {
  const due = Date.parse(exitedAt ?? new Date().toISOString()) + backoffMs(restarts) + 100;
  await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
  await svc.supervisor.tick();
}

describe('status: health, heartbeats and scale, as Magellon reads them', () => {
  it('one document: health, scale, Magellon’s status fields, each replica with its engine ref and heartbeat', async () => {
    const s = await install('on-failure', 3);
    const pid = s.replicas[0]!.pid!;
    expect(s).toMatchObject({
      plugin_id: 'ctf',
      state: 'running',
      health: 'healthy',
      healthy: true,
      installed: true,
      running: true,
      status: 'running',
      supports_pause: false,
      supports_scale: false,
      scale: { desired: 1, min: 1, max: 1, live: 1 },
    });
    expect(s.replicas).toEqual([
      expect.objectContaining({
        replica: 0,
        backend: 'subprocess',
        ref: String(pid),
        state: 'running',
        healthy: true,
        heartbeat: 'fresh',
        heartbeat_age_seconds: expect.any(Number),
      }),
    ]);
    // Stopped by the operator: down, nothing live.
    const stopped = (await call('POST', '/admin/plugins/ctf/stop')).body as PluginStatus;
    expect(stopped).toMatchObject({
      health: 'down',
      healthy: false,
      running: false,
      status: 'stopped',
      scale: { desired: 1, live: 0 },
    });
  }, 60_000);
});

describe('scaling a process plugin over HTTP', () => {
  it('a scale up whose new replica fails its health check goes back: replica 0 serves on, the run state as it was', async () => {
    const before = await install('on-failure', 3, 2);
    const pid = before.replicas[0]!.pid!;
    expect(before).toMatchObject({ supports_scale: true, scale: { desired: 1, min: 1, max: 2, live: 1 } });
    writeFileSync(join(dataDir(join(pluginsDir, 'ctf')), 'refuse-ctf-1'), '');
    const r = await call('POST', '/admin/plugins/ctf/scale', { desired: 2 });
    expect(r.status).toBe(502);
    expect(r.body.error).toMatchObject({ code: 'unhealthy' });
    expect(r.body.error.details.join('\n')).toContain('refusing to start');
    const after = await status();
    expect(after).toMatchObject({ health: 'healthy', scale: { desired: 1, live: 1 } });
    expect(after.replicas.map((x) => [x.replica, x.pid, x.state])).toEqual([[0, pid, 'running']]);
    // The replica it could not add works once it can start: 2, replica 0 still the same.
    rmSync(join(dataDir(join(pluginsDir, 'ctf')), 'refuse-ctf-1'));
    const two = await call('POST', '/admin/plugins/ctf/scale', { desired: 2 });
    expect(two.body).toMatchObject({ health: 'healthy', scale: { desired: 2, live: 2 } });
    expect(two.body.replicas[0].pid).toBe(pid);
    // An action answers the document GET …/status gives, heartbeats included.
    expect(two.body.replicas[0].heartbeat).toBe('fresh');
    // The replica the scale added is told where to beat, as the first one was.
    await expect
      .poll(async () => (await status()).replicas.map((r) => r.heartbeat), {
        timeout: HEARTBEAT_SECONDS * 1000 + SLACK_MS,
        interval: 100,
      })
      .toEqual(['fresh', 'fresh']);
  }, 60_000);
});

describe('a replica killed by hand (kill -9), seen through a real coreservice serve', () => {
  it('on-failure: status turns down within a heartbeat interval, the supervisor restarts it, healthy again with restarts 1', async () => {
    const before = await install('on-failure', 3);
    const pid = before.replicas[0]!.pid!;
    process.kill(pid, 'SIGKILL');
    // The supervisor sees it ended (backend state, no probe) and says so before it restarts it.
    await expect
      .poll(healthChanges, { timeout: HEARTBEAT_SECONDS * 1000 + SLACK_MS, interval: 50 })
      .toContain('down');
    await expect
      .poll(
        async () => {
          const s = await status();
          return [s.health, s.replicas.map((r) => [r.state, r.restarts, r.heartbeat, r.pid === pid])];
        },
        { timeout: 20_000, interval: 100 },
      )
      .toEqual(['healthy', [['running', 1, 'fresh', false]]]);
    expect(alive(pid)).toBe(false);
    await expect.poll(healthChanges, { timeout: SLACK_MS, interval: 50 }).toEqual(['down', 'healthy']);
    expect(events.find((e) => e.type === 'status')).toMatchObject({ previous: 'healthy', health: 'down' });
    expect(events.filter((e) => e.type === 'restart')).toMatchObject([
      { plugin_id: 'ctf', replica: 0, restarts: 1, exit_code: null },
    ]);
  }, 60_000);

  it('no: status turns down and stays down; the supervisor leaves it', async () => {
    const before = await install('no', 3);
    const pid = before.replicas[0]!.pid!;
    process.kill(pid, 'SIGKILL');
    await expect
      .poll(async () => (await status()).health, {
        timeout: HEARTBEAT_SECONDS * 1000 + SLACK_MS,
        interval: 50,
      })
      .toBe('down');
    const down = await status();
    expect(down).toMatchObject({ healthy: false, running: false, status: 'stopped', state: 'failed' });
    expect(down.replicas).toMatchObject([{ state: 'exited', healthy: false, restarts: 0 }]);
    await superviseAfter(down.replicas[0]!.exited_at, 0);
    expect((await status()).replicas).toMatchObject([{ state: 'exited', pid, restarts: 0 }]);
    expect(events.filter((e) => e.type === 'restart')).toEqual([]);
  }, 60_000);
});

describe('the restart policy with a plugin that exits 1 (process backend, CoreService’s supervisor)', () => {
  it('on-failure with restart_max_retries 2: restarted twice, then the supervisor gives up and says so', async () => {
    await install('on-failure', 2);
    writeFileSync(join(dataDir(join(pluginsDir, 'ctf')), 'fail'), '');
    await expect
      .poll(() => events.some((e) => e.type === 'gave-up' && e.plugin_id === 'ctf'), {
        timeout: 30_000,
        interval: 100,
      })
      .toBe(true);
    const s = await status();
    expect(s).toMatchObject({ health: 'down', state: 'failed' });
    expect(s.replicas).toMatchObject([{ state: 'exited', exit_code: 1, restarts: 2 }]);
    expect(events.filter((e) => e.type === 'restart').map((e) => [e.restarts, e.exit_code])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    const logs = (await call('GET', '/admin/plugins/ctf/logs?tail=1000')).body.lines as string[];
    expect(logs.filter((l) => l.includes('failing on purpose'))).toHaveLength(3);
  }, 60_000);

  it('no: it exits 1 and stays ended', async () => {
    await install('no', 2);
    writeFileSync(join(dataDir(join(pluginsDir, 'ctf')), 'fail'), '');
    await expect
      .poll(async () => (await status()).replicas.map((r) => [r.state, r.exit_code]), {
        timeout: 10_000,
        interval: 100,
      })
      .toEqual([['exited', 1]]);
    await superviseAfter((await status()).replicas[0]!.exited_at, 0);
    expect((await status()).replicas).toMatchObject([{ state: 'exited', exit_code: 1, restarts: 0 }]);
    expect(events.filter((e) => e.type === 'restart' || e.type === 'gave-up')).toEqual([]);
  }, 60_000);

  it('unless-stopped: stopped by the operator, neither the supervisor nor a restart of CoreService brings it back', async () => {
    const before = await install('unless-stopped', 0);
    const pid = before.replicas[0]!.pid!;
    const stopped = (await call('POST', '/admin/plugins/ctf/stop')).body as PluginStatus;
    expect(stopped).toMatchObject({ desired: 'stopped', health: 'down', status: 'stopped' });
    expect(alive(pid)).toBe(false);
    await superviseAfter(stopped.replicas[0]?.exited_at, 0);
    expect(await status()).toMatchObject({ desired: 'stopped', running: false });
    // CoreService restarts: it brings back what should run, and this should not.
    await svc.close();
    await serve();
    const after = await status();
    expect(after).toMatchObject({ desired: 'stopped', state: 'stopped', health: 'down', running: false });
    expect(after.replicas.every((r) => r.state === 'stopped')).toBe(true);
    await svc.supervisor.tick();
    expect((await status()).running).toBe(false);
  }, 60_000);
});
