import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { InstallError } from './errors';

/**
 * Runs `fn` holding the plugin's lock (`<plugins_dir>/.<id>.lock`, proper-lockfile: a directory made
 * atomically, refreshed while held, taken over only when stale). A second operation on the same
 * plugin fails at once with `busy` (HTTP 409, exit 3); other plugins proceed in parallel.
 */
export async function withPluginLock<T>(pluginsDir: string, id: string, fn: () => Promise<T>): Promise<T> {
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(join(pluginsDir, `.${id}`), {
      realpath: false,
      lockfilePath: join(pluginsDir, `.${id}.lock`),
      stale: 30_000,
      update: 5_000,
      retries: 0,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new InstallError('busy', `another operation on ${id} is in progress; try again when it is done`);
    }
    throw err;
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
