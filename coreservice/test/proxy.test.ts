// Each plugin's namespace through a real `coreservice serve`: two plugins (the fft example packed
// again as proxy-a and proxy-b, whose main.py adds routes of its own and a server-sent event
// stream) uploaded through the normal install pipeline, each answering under /plugins/<id>/. The
// guard (admin token or that plugin's own client token, never another's), what is never passed
// to the plugin (the caller's Authorization and cookies) nor back (its cookies), a path that tries
// to leave the namespace, events that arrive one by one, turns between replicas, and 502 when
// nothing runs.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientTokenFile } from '../src/layout';
import { packVariant } from './fixtures';
import { adminCall, runCoreservice, SERVE_TOKEN, scratchDir, startServe, stopAllUnder } from './helpers';

const scratch = scratchDir('coreservice-proxy-');
const pluginsDir = join(scratch, 'plugins');
let svc: { url: string; stop: () => Promise<void> } | undefined;
const tokens: Record<string, string> = {};

/** main.py of the test plugin: the example runtime, plus /hello, /echo, /events and /release. */
const MAIN = `#!/usr/bin/env python3
import os, sys, threading, time
from pathlib import Path

import magellon_runtime
from plugin.plugin import FftPlugin

released = threading.Event()
closed = []
magellon_runtime.ROUTES.update({
    "/hello": ("GET",), "/echo": ("POST",), "/events": ("GET",), "/release": ("POST",),
    "/forever": ("GET",), "/closed": ("GET",),
})
_route = magellon_runtime.Handler._route

def _route_more(self, path):
    app = self.server.app
    if path == "/hello":
        return 200, {
            "plugin_id": app.plugin_id, "pid": os.getpid(), "path": self.path,
            "authorization": self.headers.get("Authorization"), "cookie": self.headers.get("Cookie"),
            "prefix": self.headers.get("X-Forwarded-Prefix"),
        }
    if path == "/echo":
        n = int(self.headers.get("Content-Length") or "0")
        return 200, {"echo": self.rfile.read(n).decode()}
    if path == "/release":
        released.set()
        return 200, {"released": True}
    if path == "/events":
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Set-Cookie", "plugin=1; Path=/")
        self.end_headers()
        self.wfile.write(b"event: tick\\ndata: 1\\n\\n")
        self.wfile.flush()
        # The rest only once the client says it has the first: a proxy that buffered would hang here.
        released.wait(60)
        for i in (2, 3):
            self.wfile.write(f"event: tick\\ndata: {i}\\n\\n".encode())
            self.wfile.flush()
        self._status = 200
        raise magellon_runtime._Answered()
    if path == "/closed":
        return 200, {"closed": len(closed)}
    if path == "/forever":
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        n = 0
        try:
            while True:
                n += 1
                self.wfile.write(f"data: {n}\\n\\n".encode())
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            closed.append(n)
        self._status = 200
        raise magellon_runtime._Answered()
    return _route(self, path)

magellon_runtime.Handler._route = _route_more

if __name__ == "__main__":
    sys.exit(magellon_runtime.main(FftPlugin(), Path(__file__).resolve().parent))
`;

const packAs = (id: string) =>
  packVariant(scratch, 'fft', '1.0.0', (d) => {
    const m = join(d, 'manifest.yaml');
    writeFileSync(m, readFileSync(m, 'utf8').replace(/^plugin_id:.*$/m, `plugin_id: ${id}`));
    writeFileSync(join(d, 'main.py'), MAIN);
  });

/** One call into a namespace: status, headers and the answer's text. */
async function ns(
  path: string,
  token: string | null,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const res = await request(`${svc!.url}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    body: init.body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** A request whose path goes out exactly as written (no client normalises `..`). */
function rawGet(path: string, token: string): Promise<{ status: number; text: string }> {
  const u = new URL(svc!.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  svc = await startServe(pluginsDir, 'http://127.0.0.1:9');
  for (const id of ['proxy-a', 'proxy-b']) {
    const installed = await adminCall(
      svc.url,
      SERVE_TOKEN,
      'POST',
      '/admin/plugins/install',
      await packAs(id),
    );
    expect(installed.status, JSON.stringify(installed.body)).toBe(201);
    const made = await adminCall(svc.url, SERVE_TOKEN, 'POST', `/admin/plugins/${id}/client-token`);
    expect(made.status).toBe(201);
    tokens[id] = made.body.token;
  }
}, 300_000);

afterAll(async () => {
  await svc?.stop();
  await stopAllUnder(scratch);
});

describe('/plugins/<id>/…: each plugin its own namespace', () => {
  it('answers its own routes, with its client token or the admin token; without one 401, with another plugin’s 401', async () => {
    const own = await ns('/plugins/proxy-a/hello?x=1', tokens['proxy-a']!, {
      headers: { cookie: 'session=secret' },
    });
    expect(own.status).toBe(200);
    expect(own.json()).toMatchObject({
      plugin_id: 'proxy-a',
      path: '/hello?x=1',
      // The caller's credentials and cookies never reach the plugin.
      authorization: null,
      cookie: null,
      prefix: '/plugins/proxy-a',
    });
    expect((await ns('/plugins/proxy-a/hello', SERVE_TOKEN)).json().plugin_id).toBe('proxy-a');
    expect((await ns('/plugins/proxy-b/hello', tokens['proxy-b']!)).json().plugin_id).toBe('proxy-b');
    expect((await ns('/plugins/proxy-a/health', tokens['proxy-a']!)).json()).toMatchObject({
      status: 'ok',
      plugin_id: 'proxy-a',
    });
    expect((await ns('/plugins/proxy-a/version', tokens['proxy-a']!)).json().plugin_id).toBe('proxy-a');

    const none = await ns('/plugins/proxy-a/hello', null);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.text).error.code).toBe('unauthorized');
    expect((await ns('/plugins/proxy-a/hello', tokens['proxy-b']!)).status).toBe(401);
    expect((await ns('/plugins/proxy-a/hello', 'not-a-token')).status).toBe(401);
    // A client token opens its namespace only, never the admin API.
    expect((await ns('/admin/plugins', tokens['proxy-a']!)).status).toBe(401);
    // An unknown plugin: 404 to the admin, 401 to anyone else.
    expect((await ns('/plugins/nope/hello', SERVE_TOKEN)).status).toBe(404);
    expect((await ns('/plugins/nope/hello', tokens['proxy-a']!)).status).toBe(401);
    // The plugin's own 404 passes through as it is.
    expect((await ns('/plugins/proxy-a/missing', tokens['proxy-a']!)).status).toBe(404);
  });

  it('streams request bodies up and answers back', async () => {
    const echo = await ns('/plugins/proxy-a/echo', tokens['proxy-a']!, {
      method: 'POST',
      body: 'ping ✓',
      headers: { 'content-type': 'text/plain' },
    });
    expect(echo.status).toBe(200);
    expect(echo.json()).toEqual({ echo: 'ping ✓' });
  });

  it('passes server-sent events through as they come: the first arrives before the plugin sends the last', async () => {
    const res = await request(`${svc!.url}/plugins/proxy-a/events`, {
      headers: { authorization: `Bearer ${tokens['proxy-a']}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    // The plugin's cookie is not set on CoreService's origin.
    expect(res.headers['set-cookie']).toBeUndefined();
    const it = res.body[Symbol.asyncIterator]();
    let got = '';
    while (!got.includes('\n\n')) got += String((await it.next()).value);
    expect(got).toBe('event: tick\ndata: 1\n\n');
    // Only now is the plugin told to send the rest.
    expect((await ns('/plugins/proxy-a/release', tokens['proxy-a']!, { method: 'POST' })).status).toBe(200);
    for (let r = await it.next(); !r.done; r = await it.next()) got += String(r.value);
    expect(got.match(/data: \d/g)).toEqual(['data: 1', 'data: 2', 'data: 3']);
  });

  it('a client that goes away closes the plugin’s stream too', async () => {
    const stop = new AbortController();
    const res = await request(`${svc!.url}/plugins/proxy-a/forever`, {
      headers: { authorization: `Bearer ${tokens['proxy-a']}` },
      signal: stop.signal,
    });
    const it = res.body[Symbol.asyncIterator]();
    expect(String((await it.next()).value)).toMatch(/^data: 1\n\n/);
    stop.abort();
    // The plugin notices when its next write fails: the proxy let go of its connection.
    await expect
      .poll(async () => (await ns('/plugins/proxy-a/closed', tokens['proxy-a']!)).json().closed)
      .toBe(1);
  });

  it('a path that tries to leave the namespace reaches no other plugin and no admin route', async () => {
    const a = tokens['proxy-a']!;
    // `..` and `%2e%2e` are resolved before routing (WHATWG URL rules): the request lands on the
    // other namespace or the admin API, where proxy-a's token opens nothing. A `..` that hides
    // behind an encoded slash or backslash is refused before anything is forwarded.
    for (const [path, status] of [
      ['/plugins/proxy-a/../proxy-b/hello', 401],
      ['/plugins/proxy-a/%2e%2e/proxy-b/hello', 401],
      ['/plugins/proxy-a/%2E%2E/%2e%2e/admin/plugins', 401],
      ['/plugins/proxy-a/..%2fproxy-b/hello', 400],
      ['/plugins/proxy-a/%2e%2e%2f%2e%2e%2fadmin/plugins', 400],
      ['/plugins/proxy-a/x/..%5c..%5cadmin', 400],
    ] as const) {
      const r = await rawGet(path, a);
      expect(r.status, `${path} → ${r.text}`).toBe(status);
      expect(JSON.parse(r.text).error.code).toBe(status === 401 ? 'unauthorized' : 'bad-request');
    }
    // The same paths with the admin token: never proxy-b's answer through proxy-a's namespace.
    expect((await rawGet('/plugins/proxy-a/..%2fproxy-b/hello', SERVE_TOKEN)).status).toBe(400);
  });

  it('keeps the client token as a hash only (0600); rotating it retires the old one', async () => {
    const file = clientTokenFile(join(pluginsDir, 'proxy-a'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(tokens['proxy-a']!);
    const listing = await adminCall(svc!.url, SERVE_TOKEN, 'GET', '/admin/plugins?update=0');
    expect(JSON.stringify(listing.body)).not.toContain(tokens['proxy-a']!);

    const rotated = await adminCall(svc!.url, SERVE_TOKEN, 'POST', '/admin/plugins/proxy-a/client-token');
    expect((await ns('/plugins/proxy-a/hello', tokens['proxy-a']!)).status).toBe(401);
    tokens['proxy-a'] = rotated.body.token;
    expect((await ns('/plugins/proxy-a/hello', tokens['proxy-a']!)).status).toBe(200);
    expect(
      (await adminCall(svc!.url, tokens['proxy-a']!, 'POST', '/admin/plugins/proxy-b/client-token')).status,
    ).toBe(401);
  });

  it('`coreservice client-token <id>` makes one too (the serve accepts it at once); an unknown plugin is refused', async () => {
    const made = await runCoreservice(['--plugins-dir', pluginsDir, '--json', 'client-token', 'proxy-b']);
    expect(made.code, made.stderr).toBe(0);
    const token = JSON.parse(made.stdout).result.token as string;
    expect((await ns('/plugins/proxy-b/hello', tokens['proxy-b']!)).status).toBe(401);
    expect((await ns('/plugins/proxy-b/hello', token)).status).toBe(200);
    expect((await ns('/plugins/proxy-a/hello', token)).status).toBe(401);
    tokens['proxy-b'] = token;
    const unknown = await runCoreservice(['--plugins-dir', pluginsDir, 'client-token', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no plugin "nope" is installed/);
  });

  it('takes the healthy replicas in turn', async () => {
    const scaled = await adminCall(svc!.url, SERVE_TOKEN, 'POST', '/admin/plugins/proxy-a/scale', {
      desired: 2,
    });
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
    const pids = new Set<number>();
    for (let i = 0; i < 4; i++) pids.add((await ns('/plugins/proxy-a/hello', tokens['proxy-a']!)).json().pid);
    expect(pids.size).toBe(2);
  });

  it('502 with a JSON error when no replica runs; the same Host guard as the admin routes', async () => {
    expect((await adminCall(svc!.url, SERVE_TOKEN, 'POST', '/admin/plugins/proxy-b/stop')).status).toBe(200);
    const down = await ns('/plugins/proxy-b/hello', tokens['proxy-b']!);
    expect(down.status).toBe(502);
    expect(JSON.parse(down.text).error).toMatchObject({
      code: 'plugin-unavailable',
      message: expect.stringContaining('no replica of proxy-b is running and healthy'),
    });
    const rebound = await ns('/plugins/proxy-a/hello', tokens['proxy-a']!, {
      headers: { host: 'evil.example' },
    });
    expect(rebound.status).toBe(403);
  });
});
