// The admin listing (GET /admin/plugins) of a real `coreservice serve` with two installed plugins,
// against a registry on 127.0.0.1 that offers newer versions of both: the response validates
// against the committed JSON Schema (itself generated from the zod schema the code uses), the
// "Update available" chip offers the newest version the platform can take and names the newer
// ones it passed over and why (yanked, requires_sdk, pre-release, trust), ?update=0 asks no registry,
// and a registry that never answers leaves the listing answering, its chip saying so.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { installFromHub } from '../src/install';
import { adminPluginsSchema, listPlugins, renderAdminPluginsSchema } from '../src/plugin-list';
import { adminCall, repoHubForTests, SERVE_TOKEN, startServe } from './helpers';

const SCHEMA_FILE = join(import.meta.dirname, '..', '..', 'docs', 'schemas', 'admin-plugins.schema.json');
const { scratch, hub } = repoHubForTests('admin-plugins');
const pluginsDir = join(scratch, 'plugins');

/**
 * The repo hub's documents, with fft given a newer 2.0.0 that needs an SDK this platform does not
 * have (never downloaded: the chip passes it over). Everything else is the build as it is.
 */
let registry: Server;
let registryUrl = '';
/** A registry that accepts connections and never answers. */
let silent: Server;
let silentUrl = '';
let svc: { url: string; stop: () => Promise<void> } | undefined;

beforeAll(async () => {
  registry = createServer((req, res) => {
    const file = join(hub.dir, (req.url ?? '/').split('?')[0]!.slice(1));
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      res.writeHead(404).end('{}');
      return;
    }
    if (req.url === '/v1/plugins/fft.json') {
      const doc = JSON.parse(text);
      const base = doc.versions.find((v: { version: string }) => v.version === '1.1.0');
      doc.versions.unshift({ ...base, version: '2.0.0', requires_sdk: '>=9.0,<10.0' });
      text = JSON.stringify(doc);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(text);
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
  registryUrl = `http://127.0.0.1:${(registry.address() as { port: number }).port}`;
  silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;

  // fft runs (live status); ctf is installed but not started.
  await installFromHub({ pluginsDir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
  await installFromHub({ pluginsDir, hubs: [hub.url], pluginId: 'ctf', version: '1.0.0', noStart: true });
  svc = await startServe(pluginsDir, registryUrl, { MAGELLON_SDK_VERSION: '2.1.0' });
}, 300_000);

afterAll(async () => {
  await svc?.stop();
  silent?.closeAllConnections();
  silent?.close();
  registry?.close();
});

describe('GET /admin/plugins', () => {
  it('the committed JSON Schema is the one generated from the zod schema (run `npm run schemas` after changing it)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(renderAdminPluginsSchema());
  });

  it('a real response validates against the committed schema, with identity, live status and the update chip', async () => {
    const res = await adminCall(svc!.url, SERVE_TOKEN, 'GET', '/admin/plugins');
    expect(res.status).toBe(200);
    const committed = z.fromJSONSchema(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')));
    const checked = committed.safeParse(res.body);
    expect(checked.error?.issues ?? []).toEqual([]);
    expect(adminPluginsSchema.safeParse(res.body).success).toBe(true);
    // The schema is not so loose that anything passes.
    expect(committed.safeParse({ plugins: [{ plugin_id: 'fft' }] }).success).toBe(false);

    const byId = Object.fromEntries(res.body.plugins.map((p: { plugin_id: string }) => [p.plugin_id, p]));
    expect(Object.keys(byId).sort()).toEqual(['ctf', 'fft']);
    expect(byId.fft).toMatchObject({
      plugin_id: 'fft',
      version: '1.0.0',
      name: expect.any(String),
      category: 'fft',
      backend_id: 'fft',
      install_method: 'uv',
      install_dir: join(pluginsDir, 'fft', '1.0.0'),
      state: 'running',
      status: 'running',
      health: 'healthy',
      healthy: true,
      scale: { desired: 1, min: 1, max: 4, live: 1 },
      replicas: { current: 1, min: 1, max: 4 },
      // The fields the listing always had (the receipt's) are still there.
      registry: hub.url,
      installed_at: expect.any(String),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(byId.ctf).toMatchObject({
      category: 'ctf',
      backend_id: 'ctffind4',
      healthy: false,
      status: 'stopped',
      replicas: { current: 0 },
    });
  });

  it('the chip offers the newest version the platform can take and says why newer ones were passed over', async () => {
    const { body } = await adminCall(svc!.url, SERVE_TOKEN, 'GET', '/admin/plugins');
    const byId = Object.fromEntries(body.plugins.map((p: { plugin_id: string }) => [p.plugin_id, p]));
    expect(byId.fft.update).toEqual({
      available: '1.1.0',
      hub: registryUrl,
      skipped: [
        {
          version: '2.0.0',
          reason: 'requires_sdk',
          detail: "requires_sdk >=9.0,<10.0 does not admit the platform's SDK 2.1.0",
        },
        { version: '1.2.0-rc.1', reason: 'prerelease', detail: expect.any(String) },
      ],
    });
    // ctf's only newer version is yanked: nothing to offer, and the chip says why.
    expect(byId.ctf.update).toEqual({
      available: null,
      hub: registryUrl,
      skipped: [{ version: '1.1.0', reason: 'yanked', detail: expect.stringMatching(/^yanked: .+/) }],
    });
    // The chip's offer is what the upgrade dialog lists as an upgrade.
    const upgrades = await adminCall(svc!.url, SERVE_TOKEN, 'GET', '/admin/plugins/fft/upgrades');
    expect(upgrades.body.versions.find((v: { version: string }) => v.version === '1.1.0')).toMatchObject({
      verdict: 'upgrade',
      compatible: true,
      yanked: false,
    });
  });

  it('a registry whose trust mode refuses the plugin offers nothing, each newer version skipped for trust', async () => {
    const listing = await listPlugins({
      pluginsDir,
      hubs: [{ url: registryUrl, trust: 'allow-list', allow: ['ctf'], unsigned: true }],
      sdkVersion: '2.1.0',
      update: true,
    });
    const fft = listing.plugins.find((p) => p.plugin_id === 'fft')!;
    expect(fft.update).toEqual({
      available: null,
      hub: registryUrl,
      skipped: ['2.0.0', '1.2.0-rc.1', '1.1.0'].map((version) => ({
        version,
        reason: 'trust',
        detail: `fft is not on the allow-list of ${registryUrl}`,
      })),
    });
  });

  it('?update=0 asks no registry; a bad value is 400', async () => {
    const { status, body } = await adminCall(svc!.url, SERVE_TOKEN, 'GET', '/admin/plugins?update=0');
    expect(status).toBe(200);
    for (const p of body.plugins)
      expect(p.update).toEqual({ available: null, unknown: 'not asked (update=0)' });
    expect((await adminCall(svc!.url, SERVE_TOKEN, 'GET', '/admin/plugins?update=maybe')).status).toBe(400);
    expect((await adminCall(svc!.url, null, 'GET', '/admin/plugins')).status).toBe(401);
  });

  it('a registry that never answers: the listing still answers, each chip saying the registry could not be asked', async () => {
    const listing = await listPlugins({ pluginsDir, hubs: [silentUrl], update: true });
    expect(listing.plugins.map((p) => p.plugin_id).sort()).toEqual(['ctf', 'fft']);
    for (const p of listing.plugins) {
      expect(p.update.available).toBeNull();
      expect('unknown' in p.update && p.update.unknown).toMatch(/could not be reached|did not answer/);
    }
    // A registry that is not there at all (connection refused) says so too.
    const closed = await listPlugins({ pluginsDir, hubs: ['http://127.0.0.1:9'], update: true });
    expect(closed.plugins[0]!.update).toEqual({
      available: null,
      unknown: expect.stringMatching(/could not be reached/),
    });
  }, 30_000);
});
