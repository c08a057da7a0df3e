// A `hub serve` cluster worker process (built to dist/serve-worker.js): serves the build dir the
// primary prepared, on the port it shares.
import { runServeWorker } from '@magellon/hub-functions/node';

await runServeWorker();
