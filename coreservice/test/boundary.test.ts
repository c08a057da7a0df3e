// The admin service trusts nothing it did not configure: the Host it is called by, a browser
// Origin, a plugin id in a path, a hub_url in a body, a weak token, a heartbeat without its
// plugin's secret, a plugin whose settings variables would be another's. Against the real service
// on 127.0.0.1 and the real hub server, with a registry trusted for verified plugins only.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepoCatalog } from '../../functions/test/harness';
import { startNode, type TestServer } from '../../functions/test/servers';
import { registriesFrom } from '../src/config';
import { type RunningService, serveCoreService } from '../src/service/serve';
import { upgradeFromHub } from '../src/upgrade';
import { ControlledHub, packVariant } from './fixtures';
import { expectFailure, scratchDir, snapshot, stopAllUnder } from './helpers';

const TOKEN = randomBytes(32).toString('base64url');
const scratch = scratchDir('coreservice-boundary-');
let build: Awaited<ReturnType<typeof buildRepoCatalog>>;
let hub: TestServer;
let controlled: ControlledHub;
let svc: RunningService;
let pluginsDir: string;
const settingSecret = `lite-secret-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  build = await buildRepoCatalog();
  hub = await startNode(build.dir);
  // The registry CoreService trusts for verified plugins only: the repo catalog, plus an fft 1.3.0
  // that is community.
  controlled = await new ControlledHub(build.dir, 'fft', '1.3.0', 'community').start();
  controlled.set(await packVariant(scratch, 'fft', '1.3.0'));
  pluginsDir = join(scratch, 'plugins');
  svc = await serveCoreService({
    pluginsDir,
    hubs: registriesFrom([controlled.url], 'verified-only', { unsigned: true }),
    port: 0,
    token: TOKEN,
    run: {
      settings: { env: { MAGELLON_PLUGIN_CTF_LITE_API_TOKEN: settingSecret } },
      heartbeatSeconds: 60,
    },
  });
}, 180_000);
afterAll(async () => {
  await svc?.close();
  await stopAllUnder(scratch);
  controlled?.close();
  await hub?.close();
  build?.cleanup();
});

/** One request with exactly these headers (node:http, which sends Host and Origin as given). */
async function raw(method: string, path: string, headers: Record<string, string>, body?: string | Buffer) {
  const url = new URL(svc.url);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers, setHost: !('host' in headers) },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  return { status, body: text ? JSON.parse(text) : undefined };
}

const call = (method: string, path: string, body?: unknown) =>
  raw(
    method,
    path,
    {
      authorization: `Bearer ${TOKEN}`,
      ...(Buffer.isBuffer(body) ? { 'content-type': 'application/octet-stream' } : {}),
      ...(body !== undefined && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}),
    },
    Buffer.isBuffer(body) ? body : body === undefined ? undefined : JSON.stringify(body),
  );

describe('who may call it', () => {
  it('a foreign Host (DNS rebinding) is 403 on every route; the loopback names are served', async () => {
    for (const host of [
      'evil.example',
      'evil.example:8090',
      `127.0.0.1.evil.example:${new URL(svc.url).port}`,
      '[::ffff:7f00:1]:8090',
    ]) {
      for (const [m, p] of [
        ['GET', '/health'],
        ['GET', '/admin/plugins'],
        ['POST', '/internal/heartbeat'],
      ] as const) {
        const r = await raw(m, p, { host, authorization: `Bearer ${TOKEN}` });
        expect(r.status, `${m} ${p} Host: ${host}`).toBe(403);
        expect(r.body.error.code).toBe('forbidden');
      }
    }
    // No Host at all: Node's HTTP server refuses it before the app sees it.
    expect((await raw('GET', '/admin/plugins', { host: '', authorization: `Bearer ${TOKEN}` })).status).toBe(
      400,
    );
    const port = new URL(svc.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect(
        (await raw('GET', '/admin/plugins', { host, authorization: `Bearer ${TOKEN}` })).status,
        host,
      ).toBe(200);
    }
  });

  it('a request from a web page (an Origin) is 403, with the token or without, heartbeats included', async () => {
    for (const [m, p] of [
      ['GET', '/admin/plugins'],
      ['POST', '/admin/plugins/install-from-hub'],
      ['POST', '/internal/heartbeat'],
      ['GET', '/health'],
    ] as const) {
      const r = await raw(m, p, { origin: 'http://evil.example', authorization: `Bearer ${TOKEN}` });
      expect(r.status, `${m} ${p}`).toBe(403);
    }
    expect(readdirNames(pluginsDir)).toEqual([]);
  });

  it('a token that is short or repetitive is refused at start, with what to do', async () => {
    for (const token of [
      'x',
      'hunter2',
      'a'.repeat(64),
      'abababababababababababababababab',
      '0123456789abcdef',
    ]) {
      const err = await expectFailure(
        serveCoreService({ pluginsDir: join(scratch, 'weak'), hubs: [hub.url], port: 0, token }),
        'bad-request',
      );
      expect(err.message).toMatch(/too easy to guess .*128/);
    }
    const kept = scratchDir('kept-', scratch);
    writeFileSync(join(kept, '.admin-token'), 'short\n', { mode: 0o600 });
    const err = await expectFailure(
      serveCoreService({ pluginsDir: kept, hubs: [hub.url], port: 0 }),
      'bad-request',
    );
    expect(err.message).toMatch(/remove the file/);
    // 128 bits as hex is enough.
    const ok = await serveCoreService({
      pluginsDir: join(scratch, 'strong'),
      hubs: [hub.url],
      port: 0,
      token: randomBytes(16).toString('hex'),
    });
    await ok.close();
  });
});

/** The plugin dirs in a plugins dir. */
const readdirNames = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : [];

describe('trust on every path that installs', () => {
  it('install-from-hub: a community plugin is 403 from a verified-only registry, with hub_url or without', async () => {
    const plain = await call('POST', '/admin/plugins/install-from-hub', { plugin_id: 'topaz' });
    expect(plain.status).toBe(403);
    expect(plain.body.error.code).toBe('untrusted');
    const named = await call('POST', '/admin/plugins/install-from-hub', {
      plugin_id: 'topaz',
      hub_url: `${controlled.url}/`,
    });
    expect(named.status).toBe(403);
    expect(named.body.error.details.join()).toMatch(/verified plugins only/);
    // A registry the operator did not configure is never asked, whatever it would serve.
    const other = await call('POST', '/admin/plugins/install-from-hub', {
      plugin_id: 'topaz',
      hub_url: hub.url,
    });
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/not one of the registries/);
    for (const bad of ['file:///etc/passwd', 'http://user:pw@127.0.0.1:1/', 'not a url']) {
      expect(
        (await call('POST', '/admin/plugins/install-from-hub', { plugin_id: 'fft', hub_url: bad })).status,
      ).toBe(403);
    }
    expect(readdirNames(pluginsDir)).toEqual([]);
    // A verified one, named by its configured registry, installs.
    const fft = await call('POST', '/admin/plugins/install-from-hub', {
      plugin_id: 'fft',
      version: '1.0.0',
      hub_url: controlled.url,
    });
    expect(fft.status, JSON.stringify(fft.body)).toBe(201);
  });

  it('upgrade: a community version is 403 from a verified-only registry, over HTTP and through the library the CLI uses', async () => {
    const before = snapshot(pluginsDir);
    const up = await call('POST', '/admin/plugins/fft/upgrade-from-hub', { version: '1.3.0' });
    expect(up.status).toBe(403);
    expect(up.body.error.code).toBe('untrusted');
    await expectFailure(
      upgradeFromHub({
        pluginsDir,
        hubs: registriesFrom([controlled.url], 'verified-only', { unsigned: true }),
        pluginId: 'fft',
        to: '1.3.0',
      }),
      'untrusted',
    );
    expect(snapshot(pluginsDir)).toEqual(before);
    const list = await call('GET', '/admin/plugins/fft/upgrades');
    expect(list.body.versions.find((v: { version: string }) => v.version === '1.3.0')).toMatchObject({
      trusted: false,
    });
    expect((await call('GET', '/admin/plugins/fft/status')).body).toMatchObject({
      version: '1.0.0',
      state: 'running',
    });
  });
});

describe('plugin ids in paths', () => {
  it('an encoded or malformed id is 404 on every route, never a 500, and touches nothing inside or outside', async () => {
    // What the old lock path reached: a stale "lock" two levels above the plugins dir.
    const outside = join(scratch, '..', `victim-${randomBytes(4).toString('hex')}.lock`);
    mkdirSync(outside);
    const before = snapshot(scratch);
    const ids = [
      `.%2F..%2F..%2F${outside
        .split('/')
        .pop()!
        .replace(/\.lock$/, '')}`,
      '..',
      '%2e%2e',
      '..%2F..%2Fetc',
      '.hidden',
      '.uids',
      'UPPER',
      'a%00b',
      'x'.repeat(300),
      '%E2%80%AEevil',
      'not-installed',
    ];
    const routes = (id: string): [string, string, unknown?][] => [
      ['DELETE', `/admin/plugins/${id}`],
      ['DELETE', `/admin/plugins/${id}?purge=1`],
      ['POST', `/admin/plugins/${id}/upgrade`, 'not an archive'],
      ['GET', `/admin/plugins/${id}/snapshots`],
      ['POST', `/admin/plugins/${id}/snapshots/20250101T000000Z-1.0.0/restore`],
      ['GET', `/admin/plugins/${id}/status`],
      ['GET', `/admin/plugins/${id}/logs?tail=5`],
      ['GET', `/admin/plugins/${id}/upgrades`],
      ['POST', `/admin/plugins/${id}/upgrade-from-hub`, {}],
      ['POST', `/admin/plugins/${id}/scale`, { desired: 1 }],
      ...['start', 'stop', 'restart', 'pause', 'unpause'].map((a): [string, string] => [
        'POST',
        `/admin/plugins/${id}/${a}`,
      ]),
    ];
    for (const id of ids) {
      for (const [m, p, body] of routes(id)) {
        const r = await call(m, p, body);
        expect(r.status, `${m} ${p}`).toBe(404);
        expect(r.body.error.code).toBe('not-found');
      }
    }
    expect(existsSync(outside)).toBe(true);
    expect(snapshot(scratch)).toEqual(before);
  });
});

describe('heartbeats', () => {
  it('count only with the plugin’s own secret: none, a wrong one or another plugin’s is 401', async () => {
    const key = readFileSync(join(pluginsDir, 'fft', 'heartbeat.key'), 'utf8').trim();
    const beat = { plugin_id: 'fft', replica_id: 'fft-0', status: 'ok' };
    const post = (path: string, headers: Record<string, string> = {}) =>
      raw('POST', path, { 'content-type': 'application/json', ...headers }, JSON.stringify(beat));
    expect((await post('/internal/heartbeat')).status).toBe(401);
    expect((await post(`/internal/heartbeat/${'A'.repeat(43)}`)).status).toBe(401);
    expect((await post('/internal/heartbeat', { authorization: `Bearer ${TOKEN}` })).status).toBe(401);
    expect((await post(`/internal/heartbeat/${key}`)).status).toBe(204);
    expect((await post('/internal/heartbeat', { authorization: `Bearer ${key}` })).status).toBe(204);
    const status = await call('GET', '/admin/plugins/fft/status');
    expect(status.body.replicas[0].heartbeat_age_seconds).toBeLessThan(5);
  });
});

describe('settings reach only their own plugin', () => {
  it('a plugin whose settings variables would be another’s is refused, naming both; a longer id keeps its own', async () => {
    const bytes = async (id: string) =>
      packVariant(scratch, 'ctf', '1.0.0', (dir) => {
        const m = join(dir, 'manifest.yaml');
        writeFileSync(m, readFileSync(m, 'utf8').replace(/^plugin_id:.*$/m, `plugin_id: ${id}`));
      });
    expect((await call('POST', '/admin/plugins/install', await bytes('ctf-lite'))).status).toBe(201);
    const twin = await call('POST', '/admin/plugins/install', await bytes('ctf_lite'));
    expect(twin.status).toBe(409);
    expect(twin.body.error.code).toBe('name-conflict');
    expect(twin.body.error.message).toMatch(/ctf_lite .*ctf-lite|ctf-lite.*ctf_lite/);
    expect(existsSync(join(pluginsDir, 'ctf_lite'))).toBe(false);
    // ctf is a prefix of ctf-lite: MAGELLON_PLUGIN_CTF_LITE_API_TOKEN is ctf-lite's, never ctf's.
    expect((await call('POST', '/admin/plugins/install', await bytes('ctf'))).status).toBe(201);
    const environ = async (id: string) => {
      const pid = (await call('GET', `/admin/plugins/${id}/status`)).body.replicas[0].pid as number;
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    };
    expect(await environ('ctf-lite')).toContain(`MAGELLON_PLUGIN_CTF_LITE_API_TOKEN=${settingSecret}`);
    expect((await environ('ctf')).join('\n')).not.toContain(settingSecret);
    const ctfStatus = await call('GET', '/admin/plugins/ctf/status');
    expect(ctfStatus.body.settings.map((s: { key: string }) => s.key)).not.toContain('lite_api_token');
  });
});
