// The admin HTTP service end to end: a real hub server and the service on 127.0.0.1, driven over
// HTTP the way Magellon's web app drives it.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestServer } from '../../functions/test/servers';
import { probeHealth } from '../src/runtime/health';
import { type RunningService, serveCoreService } from '../src/service/serve';
import { buildCatalogWithCopy } from './fixtures';
import { adminCall, scratchDir, stopAllUnder } from './helpers';

const TOKEN = 'test-admin-token-0123456789abcdef';
const scratch = scratchDir('coreservice-service-');
const logs: Record<string, unknown>[] = [];
let buildDir: string;
let hub: TestServer;
let svc: RunningService;
let pluginsDir: string;

beforeAll(async () => {
  buildDir = await buildCatalogWithCopy(scratch, 'ctf', 'ctf-lite');
  hub = await startNode(buildDir);
  pluginsDir = join(scratch, 'plugins');
  svc = await serveCoreService({
    pluginsDir,
    hubs: [hub.url],
    port: 0,
    token: TOKEN,
    run: { heartbeatSeconds: 0.5 },
    log: (e) => logs.push(e),
  });
}, 180_000);
afterAll(async () => {
  await svc?.close();
  await stopAllUnder(scratch);
  await hub?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
  adminCall(svc.url, token, method, path, body);

describe('the admin token', () => {
  it('no token or a wrong one is 401 on every admin route; /health needs none', async () => {
    const routes: [string, string][] = [
      ['GET', '/admin/plugins'],
      ['POST', '/admin/plugins/install-from-hub'],
      ['POST', '/admin/plugins/install'],
      ['DELETE', '/admin/plugins/fft'],
      ['GET', '/admin/plugins/fft/status'],
      ['POST', '/admin/plugins/fft/start'],
      ['GET', '/admin/plugins/fft/logs?tail=5'],
      ['GET', '/admin/events'],
    ];
    for (const [m, p] of routes) {
      for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
        const r = await call(m, p, undefined, token);
        expect(r.status, `${m} ${p} with ${token}`).toBe(401);
        expect(r.body.error.code).toBe('unauthorized');
      }
    }
    expect((await call('GET', '/health', undefined, null)).status).toBe(200);
  });
});

describe('installing, running and upgrading over HTTP', () => {
  it('install-from-hub: 201, running and healthy; the same again is 409; an unknown plugin 404', async () => {
    const r = await call('POST', '/admin/plugins/install-from-hub', { plugin_id: 'fft', version: '1.0.0' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ plugin_id: 'fft', version: '1.0.0', method: 'uv', registry: hub.url });
    const status = await call('GET', '/admin/plugins/fft/status');
    expect(status.body).toMatchObject({
      plugin_id: 'fft',
      version: '1.0.0',
      state: 'running',
      desired: 'running',
    });
    const rep = status.body.replicas[0];
    expect(await probeHealth(rep.host, rep.port, { pluginId: 'fft', version: '1.0.0' })).toBe(true);
    expect((await call('POST', '/admin/plugins/install-from-hub', { plugin_id: 'fft' })).status).toBe(409);
    expect((await call('POST', '/admin/plugins/install-from-hub', { plugin_id: 'nope' })).status).toBe(404);
    expect((await call('POST', '/admin/plugins/install-from-hub', { version: '1' })).status).toBe(400);
    expect((await call('POST', '/admin/plugins/install-from-hub', '{not json')).status).toBe(400);
    expect(
      (await call('GET', '/admin/plugins')).body.plugins.map((p: { plugin_id: string }) => p.plugin_id),
    ).toEqual(['fft']);
  });

  it('the replicas report heartbeats, and status shows how fresh they are', async () => {
    await new Promise((r) => setTimeout(r, 1_000));
    const status = await call('GET', '/admin/plugins/fft/status');
    expect(status.body.replicas[0].heartbeat_age_seconds).toBeLessThan(1);
  });

  it('upgrades: listed, not-newer is 400 naming both versions, force_downgrade does it', async () => {
    const list = await call('GET', '/admin/plugins/fft/upgrades');
    expect(
      list.body.versions.map((v: { version: string; verdict: string }) => `${v.version}:${v.verdict}`),
    ).toEqual(expect.arrayContaining(['1.1.0:upgrade', '1.0.0:same']));
    const up = await call('POST', '/admin/plugins/fft/upgrade-from-hub', { version: '1.1.0' });
    expect(up.status).toBe(200);
    expect([up.body.from.version, up.body.to.version]).toEqual(['1.0.0', '1.1.0']);
    const no = await call('POST', '/admin/plugins/fft/upgrade-from-hub', { version: '1.0.0' });
    expect(no.status).toBe(400);
    expect(no.body.error.message).toMatch(/1\.0\.0.*1\.1\.0/);
    const yes = await call('POST', '/admin/plugins/fft/upgrade-from-hub', {
      version: '1.0.0',
      force_downgrade: true,
    });
    expect(yes.status).toBe(200);
    expect((await call('GET', '/admin/plugins/fft/status')).body).toMatchObject({
      version: '1.0.0',
      state: 'running',
    });
  });

  it('stop, start, restart, pause (409 on a process backend), scale within bounds, logs', async () => {
    const stopped = await call('POST', '/admin/plugins/fft/stop');
    expect(stopped.body).toMatchObject({ state: 'stopped', desired: 'stopped' });
    const started = await call('POST', '/admin/plugins/fft/start');
    expect(started.body).toMatchObject({ state: 'running', desired: 'running' });
    const pid = started.body.replicas[0].pid;
    const restarted = await call('POST', '/admin/plugins/fft/restart');
    expect(restarted.body.state).toBe('running');
    expect(restarted.body.replicas[0].pid).not.toBe(pid);
    const paused = await call('POST', '/admin/plugins/fft/pause');
    expect(paused.status).toBe(409);
    expect(paused.body.error.message).toMatch(/cannot pause/);
    const scaled = await call('POST', '/admin/plugins/fft/scale', { desired: 2 });
    expect(scaled.status).toBe(200);
    expect(scaled.body.replicas.map((r: { healthy: boolean }) => r.healthy)).toEqual([true, true]);
    expect(new Set(scaled.body.replicas.map((r: { port: number }) => r.port)).size).toBe(2);
    expect((await call('POST', '/admin/plugins/fft/scale', { desired: 99 })).status).toBe(400);
    expect((await call('POST', '/admin/plugins/fft/scale', { desired: 1 })).body.replicas).toHaveLength(1);
    const logsRes = await call('GET', '/admin/plugins/fft/logs?tail=3');
    expect(logsRes.body.lines.length).toBeGreaterThan(0);
    expect(logsRes.body.lines.length).toBeLessThanOrEqual(3);
    expect((await call('GET', '/admin/plugins/fft/logs?tail=abc')).status).toBe(400);
    expect((await call('GET', '/admin/plugins/nope/status')).status).toBe(404);
  });

  it('a garbled receipt: every route on the plugin is 500 unreadable-record naming the file; the list names it', async () => {
    const receipt = join(pluginsDir, 'fft', 'receipt.json');
    const good = readFileSync(receipt, 'utf8');
    writeFileSync(receipt, good.slice(0, 40));
    try {
      for (const [m, p] of [
        ['GET', '/admin/plugins/fft/status'],
        ['POST', '/admin/plugins/fft/stop'],
        ['DELETE', '/admin/plugins/fft'],
      ] as const) {
        const r = await call(m, p);
        expect(r.status, `${m} ${p}`).toBe(500);
        expect(r.body.error.code).toBe('unreadable-record');
        expect(r.body.error.message).toContain(`unreadable record ${receipt}: it is not JSON`);
      }
      const list = await call('GET', '/admin/plugins');
      expect(list.body.plugins.map((p: { plugin_id: string }) => p.plugin_id)).not.toContain('fft');
      expect(list.body.unreadable).toEqual([
        { plugin_id: 'fft', problem: expect.stringContaining(`unreadable record ${receipt}`) },
      ]);
    } finally {
      writeFileSync(receipt, good);
    }
    expect((await call('GET', '/admin/plugins/fft/status')).body).toMatchObject({
      state: 'running',
      problems: [],
    });
    expect((await call('GET', '/admin/plugins')).body.unreadable).toBeUndefined();
  });

  it('no install method fits: 422 listing why each entry was rejected', async () => {
    const r = await call('POST', '/admin/plugins/install-from-hub', {
      plugin_id: 'motioncor',
      install_method: 'docker',
    });
    expect(r.status).toBe(422);
    expect(r.body.error.details.join('\n')).toMatch(/docker/);
    expect(readdirSync(pluginsDir).filter((n) => !n.startsWith('.'))).toEqual(['fft']);
  });

  it('an uploaded .mpn installs with 201, as the raw body or as a form (Magellon’s web app); DELETE uninstalls', async () => {
    const bytes = readFileSync(join(buildDir, 'assets/plugins/topaz-0.3.0.mpn'));
    const up = await request(`${svc.url}/admin/plugins/install`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(up.statusCode).toBe(201);
    expect(await up.body.json()).toMatchObject({ plugin_id: 'topaz', version: '0.3.0', registry: 'upload' });
    expect((await call('DELETE', '/admin/plugins/topaz')).status).toBe(200);

    const form = new FormData();
    form.append('install_method', 'uv');
    form.append('file', new Blob([bytes]), 'topaz-0.3.0.mpn');
    const viaForm = await fetch(`${svc.url}/admin/plugins/install`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: form,
    });
    expect(viaForm.status).toBe(201);
    expect(await viaForm.json()).toMatchObject({ plugin_id: 'topaz', method: 'uv', registry: 'upload' });

    const noFile = new FormData();
    noFile.append('other', new Blob([bytes]), 'x.mpn');
    const refused = await fetch(`${svc.url}/admin/plugins/install`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: noFile,
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /part named "file"/,
    );
    const broken = await request(`${svc.url}/admin/plugins/install`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'multipart/form-data; boundary=x' },
      body: '--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
    });
    expect(broken.statusCode).toBe(400);
    await broken.body.dump();

    const del = await call('DELETE', '/admin/plugins/topaz?purge=1');
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ uninstalled: { plugin_id: 'topaz' }, kept: [] });
    expect(readdirSync(pluginsDir).filter((n) => !n.startsWith('.'))).toEqual(['fft']);
    expect((await call('DELETE', '/admin/plugins/topaz')).status).toBe(404);
  });

  it('a refused upload is named as the client sent it, never by the file the service received it into', async () => {
    const garbage = Buffer.from('this is not a zip archive at all');
    const send = async (headers: Record<string, string>, body: Buffer | FormData) => {
      const res = await fetch(`${svc.url}/admin/plugins/install`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, ...headers },
        body,
      });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as {
        error: { code: string; message: string; details?: string[] };
      };
      expect(error.code).toBe('bad-archive');
      const said = [error.message, ...(error.details ?? [])].join('\n');
      for (const internal of [pluginsDir, scratch, '.uploads', '.staging', 'upload-', 'archive.mpn'])
        expect(said).not.toContain(internal);
      return error.message;
    };
    expect(await send({ 'content-type': 'application/octet-stream' }, garbage)).toMatch(
      /^the uploaded archive is refused: /,
    );
    expect(
      await send(
        {
          'content-type': 'application/octet-stream',
          'content-disposition': 'attachment; filename="mine.mpn"',
        },
        garbage,
      ),
    ).toMatch(/^the uploaded archive "mine\.mpn" is refused: /);
    const form = new FormData();
    form.append('file', new Blob([garbage]), 'C:\\Users\\lab\\fft-9.9.9.mpn');
    expect(await send({}, form)).toMatch(/^the uploaded archive "fft-9\.9\.9\.mpn" is refused: /);
  });
});

describe('concurrency', () => {
  it('two installs of the same plugin at once: one 201, the other 409', async () => {
    const [a, b] = await Promise.all([
      call('POST', '/admin/plugins/install-from-hub', { plugin_id: 'ctf', version: '1.0.0' }),
      call('POST', '/admin/plugins/install-from-hub', { plugin_id: 'ctf', version: '1.0.0' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
  });

  it('ten different plugins in parallel all succeed', async () => {
    for (const id of ['fft', 'ctf']) expect((await call('DELETE', `/admin/plugins/${id}`)).status).toBe(200);
    const index = JSON.parse(readFileSync(join(buildDir, 'v1/index.json'), 'utf8')) as {
      plugins: { plugin_id: string }[];
    };
    const ids = index.plugins.map((p) => p.plugin_id);
    expect(ids).toHaveLength(10);
    const results = await Promise.all(
      ids.map((plugin_id) => call('POST', '/admin/plugins/install-from-hub', { plugin_id })),
    );
    expect(results.map((r) => r.status)).toEqual(ids.map(() => 201));
    const statuses = await Promise.all(ids.map((id) => call('GET', `/admin/plugins/${id}/status`)));
    expect(statuses.map((s) => s.body.state)).toEqual(ids.map(() => 'running'));
  }, 120_000);
});

describe('the event stream and the log', () => {
  it('streams install progress over SSE', async () => {
    const res = await request(`${svc.url}/admin/events?plugin_id=ctf`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.headers['content-type']).toMatch(/text\/event-stream/);
    const seen: string[] = [];
    const reading = (async () => {
      let buf = '';
      for await (const chunk of res.body) {
        buf += chunk.toString();
        for (const m of buf.matchAll(/^data: (.*)$/gm)) {
          const e = JSON.parse(m[1]!);
          if (e.stage) seen.push(e.stage);
          if (e.type === 'upgraded') return;
        }
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
      }
    })();
    const up = await call('POST', '/admin/plugins/ctf/upgrade-from-hub', { version: '1.1.0' });
    expect(up.status).toBe(200);
    await reading;
    res.body.destroy();
    expect(seen).toEqual(
      expect.arrayContaining(['resolve', 'download', 'verify', 'prepare', 'start', 'health', 'activate']),
    );
  });

  it('the token never appears in the log', () => {
    expect(logs.length).toBeGreaterThan(20);
    expect(JSON.stringify(logs)).not.toContain(TOKEN);
    expect(JSON.stringify(logs)).not.toContain(TOKEN.slice(0, 12));
  });
});
