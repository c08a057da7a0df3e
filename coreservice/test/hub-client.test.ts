// Reading a plugin document (hub-client.ts) never follows a redirect: a registry that answers 3xx is
// refused like any other answer that is not 200, and the host it points at is never asked (a
// private registry's token must not travel there). Real HTTP servers on 127.0.0.1.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstallError } from '../src/errors';
import { fetchPluginDocument } from '../src/hub-client';

const listen = (server: Server) =>
  new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );

let elsewhereAsked = 0;
const elsewhere = createServer((_req, res) => {
  elsewhereAsked++;
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
});
let elsewhereUrl = '';
const registry = createServer((_req, res) => {
  res.writeHead(302, { location: `${elsewhereUrl}/v1/plugins/fft.json` }).end();
});
let registryUrl = '';

beforeAll(async () => {
  elsewhereUrl = await listen(elsewhere);
  registryUrl = await listen(registry);
});
afterAll(() => {
  elsewhere.close();
  registry.close();
});

describe('plugin documents', () => {
  it('a redirect is refused, naming the status, and its target is never asked', async () => {
    const err = await fetchPluginDocument(registryUrl, 'fft', {
      authorization: 'Bearer secret-token',
      retries: 0,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InstallError);
    expect((err as InstallError).code).toBe('hub-unreachable');
    expect((err as InstallError).message).toContain('answered 302');
    expect(elsewhereAsked).toBe(0);
  });
});
