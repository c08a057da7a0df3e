// The admin service's JSON bodies (service/bodies.ts): a body that does not fit its route's schema,
// or is over the size cap, is 400 bad-request with a message naming the field, in the service's
// usual error shape, and nothing is installed. The real app, asked in-process (no hub is reached:
// every request here is refused before).
import { readdirSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createServiceApp } from '../src/service/app';
import { EventBus } from '../src/service/events';
import { scratchDir } from './helpers';

const TOKEN = 'bodies-test-token-0123456789';
const pluginsDir = scratchDir('coreservice-bodies-');
afterAll(() => rmSync(pluginsDir, { recursive: true, force: true }));

const app = createServiceApp({
  pluginsDir,
  hubs: ['http://127.0.0.1:9'],
  token: TOKEN,
  run: {},
  events: new EventBus(),
  heartbeats: new Map(),
});

async function call(method: string, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await app.request(`http://127.0.0.1${path}`, {
    method,
    body,
    headers: {
      host: '127.0.0.1',
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      ...headers,
    },
  });
  return { status: res.status, json: (await res.json()) as { error: { code: string; message: string } } };
}

describe('admin JSON bodies', () => {
  it.each([
    ['{}', 'plugin_id is required'],
    ['{"plugin_id": ""}', 'plugin_id is required'],
    ['{"plugin_id": 7}', 'plugin_id must be a string'],
    ['{"plugin_id": "fft", "version": ["1.0.0"]}', 'version must be a string'],
    ['{"plugin_id": "fft", "hub_url": false}', 'hub_url must be a string'],
    ['{"plugin_id": "fft", "install_method": 1}', 'install_method must be a string'],
    ['[1]', 'the request body must be a JSON object'],
    ['{"plugin_id": ', 'the request body is not JSON'],
  ])('install-from-hub with %s is 400 naming what is wrong', async (body, message) => {
    const r = await call('POST', '/admin/plugins/install-from-hub', body);
    expect(r.status).toBe(400);
    expect(r.json.error).toEqual({ code: 'bad-request', message });
    expect(readdirSync(pluginsDir)).toEqual([]);
  });

  it('a category default without a plugin id is 400 saying how to unpin instead', async () => {
    const r = await call('PUT', '/admin/categories/fft/default', '{"plugin_id": null}');
    expect(r.status).toBe(400);
    expect(r.json.error).toEqual({
      code: 'bad-request',
      message: 'plugin_id is required (DELETE unpins the default)',
    });
  });

  it('a body over 64 KiB is 400 before it is read, announced or streamed', async () => {
    const big = JSON.stringify({ plugin_id: 'fft', pad: 'x'.repeat(70 * 1024) });
    const expected = { code: 'bad-request', message: 'the request body is over 65536 bytes' };
    const announced = await call('POST', '/admin/plugins/install-from-hub', big, {
      'content-length': String(Buffer.byteLength(big)),
    });
    expect(announced.status).toBe(400);
    expect(announced.json.error).toEqual(expected);
    // Without a length: counted as it arrives.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < big.length; i += 8192) c.enqueue(Buffer.from(big.slice(i, i + 8192)));
        c.close();
      },
    });
    const res = await app.request('http://127.0.0.1/admin/plugins/install-from-hub', {
      method: 'POST',
      body: stream,
      headers: { host: '127.0.0.1', authorization: `Bearer ${TOKEN}`, 'transfer-encoding': 'chunked' },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toEqual(expected);
    expect(readdirSync(pluginsDir)).toEqual([]);
  });
});
