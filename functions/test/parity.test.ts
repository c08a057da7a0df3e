// The same requests against the Node server and the Worker in workerd: same status, same bytes,
// same headers that matter to a client or a cache.
import { skipLoudly } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MALFORMED, WELL_FORMED } from './api-suite';
import { buildRepoCatalog, rawRequest } from './harness';
import { startNode, startWorker, type TestServer } from './servers';

const COMPARED = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-range',
  'accept-ranges',
  'etag',
  'cache-control',
  'vary',
  'link',
  'allow',
  'location',
  'content-disposition',
  'access-control-allow-origin',
  'access-control-expose-headers',
  'access-control-allow-methods',
  'x-content-type-options',
];

let build: Awaited<ReturnType<typeof buildRepoCatalog>>;
let node: TestServer;
let worker: TestServer | undefined;

beforeAll(async () => {
  build = await buildRepoCatalog();
  node = await startNode(build.dir);
  try {
    worker = await startWorker(build.dir);
  } catch (err) {
    skipLoudly('Node ↔ Workers parity', `workerd could not start: ${(err as Error).message.split('\n')[0]}`);
  }
}, 180_000);

afterAll(async () => {
  await node?.close();
  await worker?.close();
  build?.cleanup();
});

describe('the Node server and the Worker answer alike', () => {
  for (const r of [...WELL_FORMED, ...MALFORMED]) {
    it(`${r.method} ${r.name}`, async (ctx) => {
      if (!worker) return ctx.skip();
      const [a, b] = await Promise.all([
        rawRequest(node.url, r.method, r.target, r.headers),
        rawRequest(worker.url, r.method, r.target, r.headers),
      ]);
      expect(b.status, 'status').toBe(a.status);
      expect(
        b.body.equals(a.body),
        `body of ${r.target}:\nnode:   ${a.body.toString('latin1').slice(0, 200)}\nworker: ${b.body.toString('latin1').slice(0, 200)}`,
      ).toBe(true);
      const pick = (h: Record<string, string>) =>
        Object.fromEntries(COMPARED.filter((k) => k in h).map((k) => [k, h[k]]));
      expect(pick(b.headers)).toEqual(pick(a.headers));
    });
  }

  it('revalidates with the ETag the other runtime gave (304 on both)', async (ctx) => {
    if (!worker) return ctx.skip();
    for (const target of [
      '/v1/index.json',
      '/v1/plugins/fft.json',
      '/v1/plugins?category=ctf',
      '/assets/plugins/fft-1.1.0.mpn',
    ]) {
      const first = await rawRequest(node.url, 'GET', target, { 'accept-encoding': 'gzip' });
      const etag = first.headers.etag!;
      const again = await rawRequest(worker.url, 'GET', target, {
        'accept-encoding': 'gzip',
        'if-none-match': etag,
      });
      expect(again.status, target).toBe(304);
      expect(again.body.length).toBe(0);
      expect(again.headers.etag).toBe(etag);
    }
  });
});
