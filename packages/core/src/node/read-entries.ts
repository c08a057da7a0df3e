import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FileTree } from './fs/tree-file';
import { type EntryJob, type EntryResult, readEntry } from './read-entry';

/** Below this many entries, starting threads costs more than it saves. */
const PARALLEL_MIN_ENTRIES = 2000;
const MAX_THREADS = 4;

export type EntryOutcome = EntryResult & { real?: string };

let workerScript: URL | undefined;

/**
 * Lets large catalogs be read on several cores: `script` is the compiled worker module (see
 * read-entries-worker.ts) shipped with the build. Without it, everything is read on this thread.
 */
export function useEntryWorkers(script: URL | undefined): void {
  workerScript = script;
}

/** How many threads to use for `count` entries; HUB_THREADS overrides (1 = this thread only). */
function threadCount(count: number): number {
  const forced = Number(process.env.HUB_THREADS);
  if (Number.isInteger(forced) && forced >= 1) return Math.min(forced, MAX_THREADS);
  if (!workerScript || count < PARALLEL_MIN_ENTRIES) return 1;
  return Math.max(1, Math.min(availableParallelism(), MAX_THREADS));
}

/**
 * Reads every entry job, in order. Large catalogs are split into contiguous slices read by worker
 * threads while this thread reads the first slice; results come back in job order, so output is
 * the same whatever the thread count.
 */
export async function readEntries(jobs: readonly EntryJob[], tree: FileTree): Promise<EntryOutcome[]> {
  const threads = workerScript ? threadCount(jobs.length) : 1;
  if (threads <= 1) return jobs.map((job) => readEntry(job, tree));
  const size = Math.ceil(jobs.length / threads);
  const slices = Array.from({ length: threads }, (_, i) => jobs.slice(i * size, (i + 1) * size));
  const script = workerScript!;
  const pending = slices.slice(1).map((slice) => runWorker(script, tree.real, slice));
  const own = slices[0]!.map((job) => readEntry(job, tree));
  const others = await Promise.all(pending);
  return own.concat(...others);
}

function runWorker(script: URL, root: string, jobs: EntryJob[]): Promise<EntryOutcome[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: { root, jobs } });
    worker.once('message', (results: EntryOutcome[]) => {
      resolve(results);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`entry reader thread exited with code ${code}`));
    });
  });
}
