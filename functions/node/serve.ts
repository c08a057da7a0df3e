// `hub serve`: serve a build dir (documents in memory, archives from the fs store) on one port,
// in this process or in a cluster of worker processes sharing it.
import cluster, { type Worker } from 'node:cluster';
import { createMemorySource, type HubAppOptions } from '@magellon/hub-api';
import { createFsStore, createS3Store, loadBundleDir, type S3StoreOptions } from '@magellon/hub-api/node';
import { listenHub, type RunningServer } from './server';

export interface ServeOptions extends HubAppOptions {
  /** A build dir (what `hub build` writes): hub-bundle.json, v1/, assets/. */
  dir: string;
  port: number;
  host: string;
  /** Processes serving the port; 1 serves from this process. */
  workers: number;
  /** Serve archives from this S3 bucket (keys as in the build) instead of the build dir. */
  archiveBucket?: S3StoreOptions;
  /** The built catalog site, served under /plugins/. */
  siteDir?: string;
  /** The compiled module cluster workers run (it calls runServeWorker); needed when workers > 1. */
  workerScript?: string;
  log?: (line: string) => void;
}

export interface ServingHub {
  url: string;
  port: number;
  workers: number;
  /** Stops every process that serves, letting requests in flight finish. */
  stop(): Promise<void>;
}

/** Serves `dir` from this process. */
export async function serveInProcess(opts: Omit<ServeOptions, 'workers'>): Promise<RunningServer> {
  const { manifest, documents } = loadBundleDir(opts.dir);
  const archives = opts.archiveBucket ? createS3Store(opts.archiveBucket) : createFsStore(opts.dir);
  // TUF metadata (tuf/metadata/) is always read from the build dir, even when archives are in S3.
  const source = { ...createMemorySource(manifest, documents, archives), metadata: createFsStore(opts.dir) };
  return listenHub(source, opts);
}

const WORKER_ENV = 'HUB_SERVE_WORKER';

/** Forks one cluster worker serving `shared`; resolves with it and its port once it listens. */
function forkServer(shared: Omit<ServeOptions, 'workers'>): Promise<{ worker: Worker; port?: number }> {
  // Every worker asks for the same port (even 0): the primary then shares one socket among them.
  const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(shared) });
  return new Promise((resolve, reject) => {
    const failed = (code: number | null) =>
      reject(new Error(`a server process exited (code ${code}) before it listened`));
    worker.once('exit', failed);
    worker.once('message', (m: { listening?: number; error?: string; code?: string }) => {
      worker.off('exit', failed);
      if (m.error) reject(Object.assign(new Error(m.error), { code: m.code }));
      else resolve({ worker, port: m.listening });
    });
  });
}

/** Stops `worker` with SIGTERM (it lets its requests finish) and waits for it to exit. */
function stopWorker(worker: Worker): Promise<void> {
  return new Promise<void>((done) => {
    if (worker.isDead()) return done();
    worker.once('exit', () => done());
    worker.process.kill('SIGTERM');
  });
}

/**
 * The running workers: one that exits while serving is replaced (at most 20 times, each said in
 * the log); after `stop`, none is.
 */
function superviseWorkers(
  started: Worker[],
  shared: Omit<ServeOptions, 'workers'>,
  log: ((line: string) => void) | undefined,
): { size: number; stop(): Promise<void> } {
  const workers = new Set(started);
  let stopping = false;
  let restarts = 0;
  const watch = (w: Worker) =>
    w.once('exit', (code, signal) => {
      workers.delete(w);
      if (stopping) return;
      log?.(`a server process exited (${signal ?? `code ${code}`}); starting another`);
      if (++restarts > 20) {
        log?.('server processes keep exiting; not restarting any more');
        return;
      }
      forkServer(shared).then(
        ({ worker }) => {
          workers.add(worker);
          watch(worker);
        },
        (err: Error) => log?.(`could not restart a server process: ${err.message}`),
      );
    });
  for (const w of workers) watch(w);
  return {
    size: workers.size,
    stop: async () => {
      stopping = true;
      await Promise.all([...workers].map(stopWorker));
    },
  };
}

/** Serves `dir` on host:port, from `workers` processes when more than one. */
export async function serveBuildDir(opts: ServeOptions): Promise<ServingHub> {
  if (opts.workers <= 1 || !opts.workerScript) {
    const running = await serveInProcess(opts);
    return { url: running.url, port: running.port, workers: 1, stop: () => running.close() };
  }
  // Load once here first: a broken bundle is one clear error, not N crashing workers.
  loadBundleDir(opts.dir);
  const { workerScript, log, workers: count, ...shared } = opts;
  cluster.setupPrimary({ exec: workerScript, args: [], silent: false });
  const started = await Promise.allSettled(Array.from({ length: count }, () => forkServer(shared)));
  const failure = started.find((r) => r.status === 'rejected');
  if (failure) {
    // One could not listen (port taken, bad address): none serves.
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    throw (failure as PromiseRejectedResult).reason;
  }
  const forks = started.map((r) => (r as PromiseFulfilledResult<{ worker: Worker; port?: number }>).value);
  const port = forks.reduce((p, f) => f.port ?? p, opts.port);
  const workers = superviseWorkers(
    forks.map((f) => f.worker),
    shared,
    log,
  );
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { url: `http://${host}:${port}`, port, workers: workers.size, stop: workers.stop };
}

/** The body of a cluster worker process: serve, report the port, close on SIGTERM. */
export async function runServeWorker(): Promise<void> {
  const raw = process.env[WORKER_ENV];
  if (!raw || !process.send) throw new Error('runServeWorker runs only in a hub serve worker process');
  const opts = JSON.parse(raw) as Omit<ServeOptions, 'workers'>;
  try {
    const running = await serveInProcess(opts);
    process.send({ listening: running.port });
    process.once('SIGTERM', () => {
      running.close().then(() => process.exit(0));
    });
  } catch (err) {
    process.send({ error: (err as Error).message, code: (err as NodeJS.ErrnoException).code }, () =>
      process.exit(1),
    );
  }
}
