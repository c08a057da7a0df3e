// A private registry behind a bearer token: the token goes to the registry's own origin (its
// documents, and archives it serves itself) and nowhere else — not to an archive host on another
// origin, not across a redirect — and it appears in no receipt, status, event or error. Real servers
// on 127.0.0.1: the repo's hub (`hub serve`), a gate in front of it that wants the token, and a
// second origin standing for a CDN.
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Registry } from '../src/config';
import { installFromHub, readReceipt, uninstall } from '../src/install';
import { pluginStatus } from '../src/lifecycle';
import { cleanCoreserviceEnv, expectFailure, repoHubForTests, runCoreservice } from './helpers';

const TOKEN = 'lab-hub-token-4f9d2c7a1b';
const { scratch, hub } = repoHubForTests('registry-auth');

/** Every request a server saw: its path and the Authorization header it carried. */
type Seen = { path: string; authorization?: string }[];

/** Answers from the real hub (GET only), bytes as they are. */
async function relay(req: IncomingMessage, res: ServerResponse, rewrite?: (json: string) => string) {
  const r = await fetch(`${hub.url}${req.url}`);
  const body = Buffer.from(await r.arrayBuffer());
  const out = rewrite && req.url?.endsWith('.json') ? Buffer.from(rewrite(body.toString('utf8'))) : body;
  res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' });
  res.end(out);
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch(() => res.destroy());
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}
const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

let cdn: Server;
let gate: Server;
const cdnSeen: Seen = [];
const gateSeen: Seen = [];
/** Where the gate's documents put archives: its own origin, the CDN, or a redirect to the CDN. */
let archives: 'own' | 'cdn' | 'redirect' = 'own';

beforeAll(async () => {
  cdn = await listen((req, res) => {
    cdnSeen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    return relay(req, res);
  });
  gate = await listen((req, res) => {
    gateSeen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return;
    }
    if (archives === 'redirect' && req.url?.startsWith('/assets/')) {
      res.writeHead(302, { location: `${urlOf(cdn)}${req.url}` }).end();
      return;
    }
    return relay(req, res, (json) =>
      archives === 'cdn' ? json.replaceAll('"/assets/', `"${urlOf(cdn)}/assets/`) : json,
    );
  });
}, 60_000);

afterAll(async () => {
  await new Promise((r) => gate?.close(r));
  await new Promise((r) => cdn?.close(r));
});

let n = 0;
const fresh = () => join(scratch, `plugins-${n++}`);
const registry = (extra: Partial<Registry> = {}): Registry => ({
  url: urlOf(gate),
  trust: 'all',
  unsigned: true,
  ...extra,
});

describe('a private registry behind a bearer token', () => {
  it('installs with the token, sent to the registry for its document and its own archive; nothing records it', async () => {
    archives = 'own';
    gateSeen.length = 0;
    const dir = fresh();
    const events: string[] = [];
    const receipt = await installFromHub({
      pluginsDir: dir,
      hubs: [registry({ token: TOKEN })],
      pluginId: 'fft',
      version: '1.0.0',
      onEvent: (e) => events.push(JSON.stringify(e)),
    });
    expect(receipt).toMatchObject({ plugin_id: 'fft', version: '1.0.0' });
    expect(gateSeen.map((s) => [s.path, s.authorization])).toEqual([
      ['/v1/plugins/fft.json', `Bearer ${TOKEN}`],
      ['/assets/plugins/fft-1.0.0.mpn', `Bearer ${TOKEN}`],
    ]);
    const said = JSON.stringify([readReceipt(dir, 'fft'), await pluginStatus(dir, 'fft'), events]);
    expect(said).not.toContain(TOKEN);
    await uninstall(dir, 'fft');
  }, 120_000);

  it('an archive on another origin gets no token; a redirect is not followed, so the token reaches no other host', async () => {
    archives = 'cdn';
    cdnSeen.length = 0;
    const dir = fresh();
    await installFromHub({
      pluginsDir: dir,
      hubs: [registry({ token: TOKEN })],
      pluginId: 'fft',
      version: '1.0.0',
    });
    expect(cdnSeen.map((s) => [s.path, s.authorization])).toEqual([
      ['/assets/plugins/fft-1.0.0.mpn', undefined],
    ]);
    await uninstall(dir, 'fft');

    archives = 'redirect';
    cdnSeen.length = 0;
    const other = fresh();
    const err = await expectFailure(
      installFromHub({
        pluginsDir: other,
        hubs: [registry({ token: TOKEN })],
        pluginId: 'fft',
        version: '1.0.0',
      }),
      'download-failed',
    );
    expect(err.message).toMatch(/fft-1\.0\.0\.mpn answered 302/);
    expect(cdnSeen).toEqual([]);
    expect(readReceipt(other, 'fft')).toBeUndefined();
  }, 120_000);

  it('without a token, or with a wrong one, the error says what to do and never shows the token', async () => {
    archives = 'own';
    const none = await expectFailure(
      installFromHub({ pluginsDir: fresh(), hubs: [registry()], pluginId: 'fft' }),
      'hub-unreachable',
    );
    expect(none.message).toMatch(/answered 401 .*give it token_env or token in the config file/);
    const wrong = await expectFailure(
      installFromHub({ pluginsDir: fresh(), hubs: [registry({ token: 'not-the-token' })], pluginId: 'fft' }),
      'hub-unreachable',
    );
    expect(wrong.message).toMatch(/answered 401 .*the token configured for it was refused/);
    expect(wrong.message).not.toContain('not-the-token');
  }, 60_000);

  it('token_env from the config file: the CLI installs with it; an unset variable is named, its value never printed', async () => {
    archives = 'own';
    const dir = fresh();
    const config = join(scratch, 'coreservice.yaml');
    writeFileSync(
      config,
      `registries:\n  - url: ${urlOf(gate)}\n    token_env: LAB_HUB_TOKEN\n    unsigned: true\n`,
    );
    const base = ['--config', config, '--plugins-dir', dir];
    const unset = await runCoreservice([...base, 'install', 'fft', '--json']);
    expect(unset.code).not.toBe(0);
    expect(unset.stdout + unset.stderr).toMatch(/takes its token from LAB_HUB_TOKEN, which is not set/);
    const env = { ...cleanCoreserviceEnv(), LAB_HUB_TOKEN: TOKEN };
    const ok = await runCoreservice([...base, 'install', 'fft', '--json', '--no-start'], { env });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain(TOKEN);
    expect(JSON.parse(ok.stdout).result).toMatchObject({ plugin_id: 'fft' });

    writeFileSync(
      config,
      `registries:\n  - url: ${urlOf(gate)}\n    token: a\n    token_env: B\n    unsigned: true\n`,
    );
    const both = await runCoreservice([...base, 'list']);
    expect(both.stdout + both.stderr).toMatch(/registries\.0: a registry takes token or token_env, not both/);
  }, 120_000);
});
