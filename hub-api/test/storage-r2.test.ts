// The R2 driver inside real workerd (Miniflare with a local R2 bucket), driven through a test
// Worker (r2-worker.ts) by a proxy that speaks the ObjectStore interface.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { type ObjectStore, type StoredObject, StoreError } from '../src/storage/store';
import { describeStoreContract } from './storage-contract';

async function startR2Worker() {
  const scratch = mkdtempSync(join(tmpdir(), 'hub-r2-store-'));
  const script = join(scratch, 'worker.js');
  await build({
    entryPoints: [join(import.meta.dirname, 'r2-worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    outfile: script,
    logLevel: 'silent',
  });
  const mf = new Miniflare({
    modules: true,
    scriptPath: script,
    modulesRoot: scratch,
    compatibilityDate: '2025-01-01',
    r2Buckets: ['BUCKET'],
    r2Persist: join(scratch, 'r2'),
  });
  await mf.ready;
  return { mf, scratch };
}

/** An ObjectStore whose every call runs in the Worker; StoreErrors come back as StoreErrors. */
function proxyStore(mf: Miniflare): ObjectStore {
  const call = async (op: string, params: Record<string, string>, body?: Uint8Array) => {
    const url = new URL(`http://store/${op}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const res = await mf.dispatchFetch(url, {
      method: body ? 'POST' : 'GET',
      body: body ? Buffer.from(body) : undefined,
    });
    if (res.status === 409) {
      const { error } = (await res.json()) as { error: { code: StoreError['code']; message: string } };
      throw new StoreError(error.code, error.message);
    }
    return res;
  };
  return {
    driver: 'r2',
    description: 'r2:BUCKET (in workerd)',
    head: async (key) =>
      ((await (await call('head', { key })).json()) as { object: StoredObject | null }).object ?? undefined,
    get: async (key, range) => {
      const res = await call(
        'get',
        range ? { key, offset: String(range.offset), length: String(range.length) } : { key },
      );
      if (res.status === 404) {
        await res.arrayBuffer();
        return undefined;
      }
      const meta = JSON.parse(res.headers.get('x-object') ?? '{}');
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { ...meta, body: new Blob([bytes]).stream() };
    },
    put: async (key, bytes, opts) =>
      (
        (await (await call('put', { key, opts: JSON.stringify(opts) }, bytes)).json()) as {
          result: 'created';
        }
      ).result,
    list: async (prefix) =>
      ((await (await call('list', { prefix })).json()) as { objects: StoredObject[] }).objects,
    delete: async (key) => {
      await (await call('delete', { key })).arrayBuffer();
    },
  };
}

describeStoreContract('r2 (in workerd)', async () => {
  try {
    const { mf, scratch } = await startR2Worker();
    return {
      store: proxyStore(mf),
      cleanup: async () => {
        await mf.dispose();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  } catch (err) {
    skipLoudly('R2 contract suite', `workerd could not start: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
});
