// A worker thread of readEntries: reads its slice of entry jobs and posts the results back.
import { parentPort, workerData } from 'node:worker_threads';
import { FileTree } from './fs/tree-file';
import { type EntryJob, readEntry } from './read-entry';

const { root, jobs } = workerData as { root: string; jobs: EntryJob[] };
const tree = new FileTree(root);
parentPort?.postMessage(jobs.map((job) => readEntry(job, tree)));
