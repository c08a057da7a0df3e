// Plugin liveness over a real RabbitMQ (infra/engines.ts startRabbit): a real `coreservice serve`
// (in this process) pointed at a private broker, and plugins that announce and beat on it exactly
// as the Magellon SDK does — a Python plugin written here, using pika, reading the broker from the
// SDK's settings file (MAGELLON_SETTINGS_FILE, rabbitmq_settings), declaring the exchange the SDK
// way, publishing the SDK's Announce and Heartbeat bodies with its ce-* headers. It prints no READY
// line and serves no /health: the broker is its only way to be found healthy.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packPlugin } from '@magellon/hub-core/node';
import amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode } from '../../functions/test/servers';
import { type RabbitBroker, startRabbit } from '../../infra/engines';
import { withPikaWheel } from '../../infra/python/pika-wheel';
import { installFromHub, readReceipt, uninstall } from '../src/install';
import { brokerSettingsFile, dataDir } from '../src/layout';
import type { PluginStatus } from '../src/lifecycle';
import { pluginStatus } from '../src/lifecycle';
import { readIdentity } from '../src/runtime/identity';
import { Liveness } from '../src/runtime/liveness';
import { type RunningService, serveCoreService } from '../src/service/serve';
import { upgradeFromHub } from '../src/upgrade';
import { buildCatalogWithPlugin, packVariant } from './fixtures';
import {
  adminCall,
  cleanCoreserviceEnv,
  expectFailure,
  runCoreservice,
  scratchDir,
  stopAllUnder,
} from './helpers';

const TOKEN = 'test-admin-token-broker-0123456789';
const HUB_BIN = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'hub.js');
const HEARTBEAT_SECONDS = 1;
const SLACK_MS = 8_000;
const scratch = scratchDir('coreservice-broker-');
const pluginsDir = join(scratch, 'plugins');
const logs: Record<string, unknown>[] = [];
let broker: RabbitBroker | undefined;
let svc: RunningService | undefined;
let password = '';

beforeAll(async () => {
  broker = await startRabbit();
  if (!broker) return;
  password = new URL(broker.url).password;
  svc = await serveCoreService({
    pluginsDir,
    hubs: [],
    port: 0,
    token: TOKEN,
    run: { heartbeatSeconds: HEARTBEAT_SECONDS, brokerUrl: broker.url },
    log: (e) => logs.push(e),
  });
}, 600_000);
afterEach(async () => {
  if (svc) for (const id of installedIds()) await call('DELETE', `/admin/plugins/${id}?purge=1`);
});
afterAll(async () => {
  await svc?.close();
  await stopAllUnder(scratch);
  await broker?.stop();
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

const installedIds = () =>
  readdirSync(pluginsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name);
const call = (method: string, path: string, body?: unknown) => adminCall(svc!.url, TOKEN, method, path, body);
const status = async (id: string): Promise<PluginStatus> =>
  (await call('GET', `/admin/plugins/${id}/status`)).body;

/** What the test plugin announces: its name and category as it says them, and how it runs. */
interface Announcing {
  name: string;
  category: string;
  backend_id?: string | null;
  /** `replica`: instance id MAGELLON_REPLICA_ID (the hub's runtime); `uuid`: a fresh one (the SDK). */
  instance: 'replica' | 'uuid';
  silent?: boolean;
}

/** The SDK's discovery, mimicked byte for byte with pika; `stop-beats` in the data dir ends the heartbeats. */
const PLUGIN = `import datetime, json, os, sys, time, uuid
import pika, yaml

here = os.path.dirname(os.path.abspath(__file__))
cfg = json.load(open(os.path.join(here, "announce.json")))
if cfg.get("silent"):
    while True:
        time.sleep(60)
s = yaml.safe_load(open(os.environ["MAGELLON_SETTINGS_FILE"]))["rabbitmq_settings"]
params = pika.ConnectionParameters(host=s["HOST_NAME"], port=s["PORT"], virtual_host=s["VIRTUAL_HOST"],
    credentials=pika.PlainCredentials(s["USER_NAME"], s["PASSWORD"]))
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.exchange_declare(exchange="magellon.plugins", exchange_type="topic", durable=True)
instance = os.environ["MAGELLON_REPLICA_ID"] if cfg["instance"] == "replica" else str(uuid.uuid4())
category = cfg["category"].lower()
data = os.environ["MAGELLON_PLUGIN_DATA_DIR"]

def now():
    return datetime.datetime.now(datetime.timezone.utc)

def publish(kind, body):
    subject = "magellon.plugins.%s.%s.%s" % (kind, category, cfg["name"])
    headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "magellon/plugin/discovery",
               "ce-type": "magellon.plugin.%s.v1" % kind, "ce-time": now().isoformat(), "ce-subject": subject}
    ch.basic_publish(exchange="magellon.plugins", routing_key=subject, body=json.dumps(body).encode("utf-8"),
                     properties=pika.BasicProperties(delivery_mode=2, content_type="application/json", headers=headers))

base = {"plugin_id": cfg["name"], "plugin_version": "0.9.1", "category": category, "instance_id": instance}
publish("announce", dict(base, ts=now().isoformat().replace("+00:00", "Z"),
        manifest={"info": {"name": cfg["name"], "version": "0.9.1"}}, task_queue="ctf_tasks_queue",
        backend_id=cfg.get("backend_id"), http_endpoint=None, input_schema=None, output_schema=None))
print("announced as", instance, file=sys.stderr, flush=True)
while True:
    if not os.path.exists(os.path.join(data, "stop-beats")):
        publish("heartbeat", dict(base, ts=now().isoformat().replace("+00:00", "Z"), status="ready"))
    conn.sleep(float(os.environ.get("MAGELLON_HEARTBEAT_SECONDS", "1")))
`;

/**
 * Uploads the ctf example as `id` (category `category`), its main.py replaced by the SDK-like
 * plugin above, expecting an announce within `timeout` seconds, with up to `replicas` replicas.
 */
async function install(
  id: string,
  category: string,
  announcing: Announcing,
  opts: { timeout?: number; replicas?: number } = {},
) {
  const bytes = await packVariant(scratch, 'ctf', '1.0.0', (d) => {
    const m = join(d, 'manifest.yaml');
    let text = readFileSync(m, 'utf8')
      .replace(/^plugin_id:.*$/m, `plugin_id: ${id}`)
      .replace(/^category:.*$/m, `category: ${category}`)
      .replace(/^backend_id:.*$/m, 'backend_id: null')
      .replace(/ {4}requires:\n {6}- binary: ctffind4\n/, '')
      .replace(/timeout_seconds: \d+/, `timeout_seconds: ${opts.timeout ?? 30}`);
    if (opts.replicas)
      text = text.replace(
        /typical_duration_seconds: \d+\n/,
        `$&  replicas: { desired: ${opts.replicas}, min: 1, max: ${opts.replicas} }\n`,
      );
    writeFileSync(m, text);
    writeFileSync(join(d, 'main.py'), PLUGIN);
    writeFileSync(join(d, 'announce.json'), JSON.stringify(announcing));
  });
  return call('POST', '/admin/plugins/install?install_method=subprocess', bytes);
}

describe('liveness over the broker (a private RabbitMQ)', () => {
  it('a plugin announcing as the SDK does, under its own id, is healthy; the SDK settings file holds the broker', async (ctx) => {
    if (!svc) return ctx.skip();
    const r = await install('ctf', 'ctf', { name: 'ctf', category: 'CTF', instance: 'replica' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await expect
      .poll(async () => (await status('ctf')).health, { timeout: SLACK_MS, interval: 200 })
      .toBe('healthy');
    const s = await status('ctf');
    expect(s.liveness).toMatchObject({
      source: 'broker',
      connected: true,
      matched_by: 'plugin_id',
      announced_as: 'ctf',
      category: 'ctf',
      instances: 1,
    });
    expect(s.replicas[0]).toMatchObject({ heartbeat: 'fresh', healthy: true });
    // The broker as the SDK reads it, for this plugin only; the URL in its environment, masked in status.
    const file = brokerSettingsFile(join(pluginsDir, 'ctf'));
    // Nobody else's: 0600, or under uid isolation root's and the plugin's own group's (0640).
    const st = statSync(file);
    const identity = readIdentity(join(pluginsDir, 'ctf'));
    expect(st.mode & 0o777).toBe(identity ? 0o640 : 0o600);
    if (identity) expect([st.uid, st.gid]).toEqual([0, identity.gid]);
    const u = new URL(broker!.url);
    expect(readFileSync(file, 'utf8')).toContain(
      [
        'rabbitmq_settings:',
        '  HOST_NAME: "127.0.0.1"',
        `  PORT: ${u.port}`,
        '  USER_NAME: "hub"',
        `  PASSWORD: "${password}"`,
        '  VIRTUAL_HOST: "/"',
      ].join('\n'),
    );
    expect(s.environment.MAGELLON_BROKER_URL).toBe(`amqp://hub:***@127.0.0.1:${u.port}/`);
    expect(s.environment.MAGELLON_SETTINGS_FILE).toBe(file);
  }, 120_000);

  it('one announcing a display name and a category name unlike its manifest’s is healthy, and status says what matched', async (ctx) => {
    if (!svc) return ctx.skip();
    // Magellon's own plugins: "CTF Plugin" for id ctf (its category), and a picker whose name holds its id.
    const ctf = await install('ctf', 'ctf', { name: 'CTF Plugin', category: 'CTF', instance: 'uuid' });
    expect(ctf.status, JSON.stringify(ctf.body)).toBe(201);
    const picker = await install('template-picker', 'particle_picking', {
      name: 'Template-Picker Plugin',
      category: 'Particle Picking',
      instance: 'uuid',
    });
    expect(picker.status, JSON.stringify(picker.body)).toBe(201);
    await expect
      .poll(async () => (await status('template-picker')).health, { timeout: SLACK_MS, interval: 200 })
      .toBe('healthy');
    expect((await status('ctf')).liveness).toMatchObject({
      source: 'broker',
      matched_by: 'category',
      announced_as: 'CTF Plugin',
      category: 'ctf',
    });
    expect((await status('template-picker')).liveness).toMatchObject({
      source: 'broker',
      matched_by: 'name',
      announced_as: 'Template-Picker Plugin',
      category: 'particle picking',
    });
  }, 120_000);

  it('one that never announces is rolled back within its timeout: nothing is left installed', async (ctx) => {
    if (!svc) return ctx.skip();
    const r = await install(
      'ctf',
      'ctf',
      { name: 'ctf', category: 'ctf', instance: 'replica', silent: true },
      {
        timeout: 4,
      },
    );
    expect(r.status).toBe(502);
    expect(r.body.error.code).toBe('unhealthy');
    expect(r.body.error.message).toMatch(
      /did not announce itself on the broker amqp:\/\/hub:\*\*\*@127\.0\.0\.1:\d+\/ nor pass its READY and \/health check within 4 s/,
    );
    expect(installedIds()).toEqual([]);
    expect((await call('GET', '/admin/plugins/ctf/status')).status).toBe(404);
  }, 120_000);

  it('the hub’s own starters (READY line and /health, no announce) still install with a broker configured', async (ctx) => {
    if (!svc) return ctx.skip();
    // Their published archives say expected_announce: true and print a READY line: the runtime
    // contract proves them healthy when the broker hears nothing from them.
    const r = await call('POST', '/admin/plugins/install', await packVariant(scratch, 'fft', '1.0.0'));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const s = await status('fft');
    expect(s.health).toBe('healthy');
    expect(s.liveness).toMatchObject({ source: 'broker', connected: true });
    expect(s.liveness && 'matched_by' in s.liveness ? s.liveness.matched_by : undefined).toBeUndefined();
  }, 120_000);

  it('a plugin made by hub scaffold announces and beats on the broker as the SDK does', async (ctx) => {
    if (!svc) return ctx.skip();
    const work = mkdtempSync(join(scratch, 'scaffold-'));
    const made = spawnSync(
      process.execPath,
      [HUB_BIN, 'scaffold', 'beam-tilt', '--category', 'ctf', '--dir', work],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(made.status, made.stderr).toBe(0);
    // Its venv sees no host package: pika comes from its own wheels/, offline (no index is reachable here).
    withPikaWheel(join(work, 'beam-tilt'));
    const packed = await packPlugin(join(work, 'beam-tilt'), { out: join(work, 'beam-tilt.mpn') });
    process.env.MAGELLON_PYTHON_OFFLINE = '1';
    const r = await call('POST', '/admin/plugins/install', readFileSync(packed.file)).finally(() => {
      delete process.env.MAGELLON_PYTHON_OFFLINE;
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await expect
      .poll(
        async () => {
          const l = (await status('beam-tilt')).liveness;
          return l && 'matched_by' in l ? l.matched_by : undefined;
        },
        { timeout: SLACK_MS, interval: 200 },
      )
      .toBe('plugin_id');
    const s = await status('beam-tilt');
    expect(s.liveness).toMatchObject({ announced_as: 'beam-tilt', category: 'ctf', instances: 1 });
    expect(s.replicas[0]).toMatchObject({ heartbeat: 'fresh', healthy: true });
    const log = (await call('GET', '/admin/plugins/beam-tilt/logs?tail=50')).body.lines as string[];
    expect(log.join('\n')).toMatch(
      /magellon_broker: announced beam-tilt as beam-tilt-0 on amqp:\/\/hub:\*\*\*@/,
    );
    expect(log.join('\n')).not.toContain(password);
  }, 120_000);

  it('a plugin whose heartbeats stop is marked down; two replicas show two heartbeat ages', async (ctx) => {
    if (!svc) return ctx.skip();
    const r = await install(
      'ctf',
      'ctf',
      { name: 'ctf', category: 'ctf', instance: 'replica' },
      { replicas: 2 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await expect
      .poll(
        async () => (await status('ctf')).replicas.map((x) => [x.heartbeat, typeof x.heartbeat_age_seconds]),
        { timeout: SLACK_MS, interval: 200 },
      )
      .toEqual([
        ['fresh', 'number'],
        ['fresh', 'number'],
      ]);
    expect((await status('ctf')).liveness).toMatchObject({ instances: 2 });
    writeFileSync(join(dataDir(join(pluginsDir, 'ctf')), 'stop-beats'), '');
    await expect
      .poll(
        async () => {
          const s = await status('ctf');
          return [s.health, ...s.replicas.map((x) => x.heartbeat)];
        },
        { timeout: 4 * HEARTBEAT_SECONDS * 1000 + SLACK_MS, interval: 250 },
      )
      .toEqual(['down', 'stale', 'stale']);
  }, 120_000);

  it('SDK instances (uuids) fill the replicas: two replicas, two heartbeat ages', async (ctx) => {
    if (!svc) return ctx.skip();
    const r = await install(
      'ctf',
      'ctf',
      { name: 'CTF Plugin', category: 'CTF', instance: 'uuid' },
      { replicas: 2 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await expect
      .poll(async () => (await status('ctf')).replicas.map((x) => x.heartbeat), {
        timeout: SLACK_MS,
        interval: 200,
      })
      .toEqual(['fresh', 'fresh']);
    expect((await status('ctf')).health).toBe('healthy');
  }, 120_000);

  it('malformed messages are findings in the log, and the consumer goes on', async (ctx) => {
    if (!svc) return ctx.skip();
    const conn = await amqp.connect(broker!.url);
    try {
      const ch = await conn.createChannel();
      const send = (key: string, body: string) =>
        ch.publish('magellon.plugins', key, Buffer.from(body), { contentType: 'application/json' });
      send('magellon.plugins.heartbeat.ctf.ctf', 'not json');
      send('magellon.plugins.heartbeat.ctf.ctf', JSON.stringify({ plugin_id: 'ctf' }));
      send('magellon.plugins.announce.ctf.ctf', 'x'.repeat(300 * 1024));
      await expect
        .poll(() => logs.filter((l) => l.msg === 'broker: dropped a malformed liveness message').length, {
          timeout: SLACK_MS,
        })
        .toBe(3);
    } finally {
      await conn.close();
    }
    // Still listening: a plugin that announces after them is healthy.
    const r = await install('ctf', 'ctf', { name: 'ctf', category: 'ctf', instance: 'replica' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }, 120_000);

  it('the broker password appears in no log line, status, receipt or run record', async (ctx) => {
    if (!svc) return ctx.skip();
    const r = await install('ctf', 'ctf', { name: 'ctf', category: 'ctf', instance: 'replica' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const shown = [JSON.stringify(logs), JSON.stringify(await status('ctf')), JSON.stringify(r.body)];
    const home = join(pluginsDir, 'ctf');
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? e.name === 'data'
            ? []
            : walk(join(dir, e.name))
          : e.isFile() && join(dir, e.name) !== brokerSettingsFile(home)
            ? [join(dir, e.name)]
            : [],
      );
    for (const f of walk(home)) shown.push(readFileSync(f, 'latin1'));
    expect(logs.some((l) => String(l.url ?? '').includes('hub:***@'))).toBe(true);
    for (const text of shown) expect(text).not.toContain(password);
  }, 120_000);

  it('when the broker goes away, CoreService reconnects and hears plugins again', async (ctx) => {
    if (!svc) return ctx.skip();
    const dropped = () => logs.filter((l) => String(l.msg).startsWith('broker: not connected')).length;
    const before = dropped();
    await broker!.restart();
    await expect.poll(dropped, { timeout: SLACK_MS }).toBeGreaterThan(before);
    // Back within the backoff (at most 15 s between tries): a plugin that announces now is healthy.
    await expect
      .poll(
        () => logs.filter((l) => l.msg === 'broker: listening for plugin announces and heartbeats').length,
        {
          timeout: 30_000,
          interval: 250,
        },
      )
      .toBe(2);
    const r = await install('ctf', 'ctf', { name: 'ctf', category: 'ctf', instance: 'replica' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect((await status('ctf')).liveness).toMatchObject({ connected: true, matched_by: 'plugin_id' });
  }, 180_000);

  it('the CLI listens while it installs: an announcing plugin installs, a silent one is rolled back', async (ctx) => {
    if (!svc) return ctx.skip();
    const dir = join(scratch, 'cli-plugins');
    const env = cleanCoreserviceEnv({ MAGELLON_BROKER_URL: broker!.url });
    const archive = async (silent: boolean) => {
      const bytes = await packVariant(scratch, 'ctf', '1.0.0', (d) => {
        const m = join(d, 'manifest.yaml');
        writeFileSync(
          m,
          readFileSync(m, 'utf8')
            .replace(/ {4}requires:\n {6}- binary: ctffind4\n/, '')
            .replace(/timeout_seconds: \d+/, 'timeout_seconds: 5'),
        );
        writeFileSync(join(d, 'main.py'), PLUGIN);
        writeFileSync(
          join(d, 'announce.json'),
          JSON.stringify({ name: 'CTF Plugin', category: 'CTF', instance: 'uuid', silent }),
        );
      });
      const file = join(scratch, `cli-${silent}.mpn`);
      writeFileSync(file, bytes);
      return file;
    };
    const silent = await runCoreservice(
      ['install-file', await archive(true), '--plugins-dir', dir, '--method', 'subprocess'],
      { env },
    );
    expect(silent.code).not.toBe(0);
    expect(silent.stderr + silent.stdout).toMatch(
      /did not announce itself on the broker amqp:\/\/hub:\*\*\*@/,
    );
    expect(existsSync(join(dir, 'ctf', 'receipt.json'))).toBe(false);
    const ok = await runCoreservice(
      ['install-file', await archive(false), '--plugins-dir', dir, '--method', 'subprocess'],
      { env },
    );
    expect(ok.code, ok.stderr).toBe(0);
    const st = await runCoreservice(['status', 'ctf', '--plugins-dir', dir, '--json'], { env });
    expect(JSON.parse(st.stdout).result.liveness).toMatchObject({ source: 'broker', connected: false });
    for (const text of [silent.stdout, silent.stderr, ok.stdout, ok.stderr, st.stdout, st.stderr])
      expect(text).not.toContain(password);
    expect((await runCoreservice(['uninstall', 'ctf', '--plugins-dir', dir], { env })).code).toBe(0);
  }, 180_000);

  it('an upgrade whose new version never announces is rolled back, though the old one beats on', async (ctx) => {
    if (!svc) return ctx.skip();
    const id = 'ctf-bus';
    const variant = (silent: boolean) => (d: string) => {
      const m = join(d, 'manifest.yaml');
      writeFileSync(
        m,
        readFileSync(m, 'utf8')
          .replace(/ {4}requires:\n {6}- binary: ctffind4\n/, '')
          .replace(/timeout_seconds: \d+/, 'timeout_seconds: 4'),
      );
      writeFileSync(join(d, 'main.py'), PLUGIN);
      writeFileSync(
        join(d, 'announce.json'),
        JSON.stringify({ name: id, category: 'ctf', instance: 'replica', silent }),
      );
    };
    const build = await buildCatalogWithPlugin(scratch, 'ctf', id, [
      { version: '1.0.0', mutate: variant(false) },
      { version: '1.1.0', mutate: variant(true) },
    ]);
    const hub = await startNode(build);
    const dir = join(scratch, 'upgrade-plugins');
    const liveness = new Liveness(broker!.url).start();
    try {
      expect(await liveness.waitConnected(10_000)).toBe(true);
      const run = { brokerUrl: broker!.url, liveness, heartbeatSeconds: HEARTBEAT_SECONDS };
      await installFromHub({
        pluginsDir: dir,
        hubs: [hub.url],
        pluginId: id,
        version: '1.0.0',
        method: 'subprocess',
        run,
      });
      const err = await expectFailure(
        upgradeFromHub({
          pluginsDir: dir,
          hubs: [hub.url],
          pluginId: id,
          to: '1.1.0',
          method: 'subprocess',
          run,
        }),
        'unhealthy',
      );
      expect(err.message).toMatch(/ctf-bus 1\.1\.0 did not announce itself on the broker/);
      expect(readReceipt(dir, id)?.version).toBe('1.0.0');
      expect((await pluginStatus(dir, id, { run })).health).toBe('healthy');
      await uninstall(dir, id);
    } finally {
      await liveness.close();
      await hub.close();
    }
  }, 180_000);
});
