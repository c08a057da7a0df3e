// Starts the two runtimes the API tests compare: the Node server and the Worker in workerd.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createR2Store, type R2BucketLike } from '@magellon/hub-api';
import { uploadBuild } from '@magellon/hub-api/node';
import { Miniflare } from 'miniflare';
import { serveInProcess } from '../node/serve';
import { bundleWorker } from './harness';

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

export async function startNode(dir: string): Promise<TestServer> {
  const running = await serveInProcess({ dir, port: 0, host: '127.0.0.1' });
  return { url: running.url, close: () => running.close(100) };
}

/**
 * The Worker as `wrangler deploy` bundles it, run by real workerd (Miniflare) on 127.0.0.1 with a
 * local R2 bucket that `uploadBuild` fills through the R2 binding store, with the same upload rules
 * `hub upload --bucket <b> --endpoint https://<account>.r2.cloudflarestorage.com` applies over
 * R2's S3 API.
 */
export async function startWorker(dir: string): Promise<TestServer> {
  const scratch = mkdtempSync(join(tmpdir(), 'hub-worker-test-'));
  try {
    const script = bundleWorker(join(scratch, 'out'));
    const mf = new Miniflare({
      modules: true,
      scriptPath: script,
      // Module names are paths relative to this root; workerd refuses any that climb out of it.
      modulesRoot: dirname(script),
      compatibilityDate: '2025-01-01',
      r2Buckets: ['HUB_BUCKET'],
      r2Persist: join(scratch, 'r2'),
      host: '127.0.0.1',
      port: 0,
    });
    const url = await mf.ready;
    const bucket = (await mf.getR2Bucket('HUB_BUCKET')) as unknown as R2BucketLike;
    await uploadBuild(dir, createR2Store(bucket, 'HUB_BUCKET'));
    return {
      url: url.origin,
      close: async () => {
        await mf.dispose();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}
