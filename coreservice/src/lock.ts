import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { InstallError } from './errors';

/**
 * Runs `fn` holding the plugin's lock (`<plugins_dir>/.<id>.lock`, proper-lockfile: a directory made
 * atomically, refreshed while held, taken over only when stale). A second operation on the same
 * plugin fails at once with `busy` (HTTP 409, exit 3); other plugins proceed in parallel.
 */
/** A lock not refreshed for this long belongs to a process that died (kill -9, power loss). */
export const LOCK_STALE_MS = 10_000;

const lockOptions = (pluginsDir: string, id: string) => ({
  realpath: false,
  lockfilePath: join(pluginsDir, `.${id}.lock`),
  stale: LOCK_STALE_MS,
  update: 2_000,
});

/** Whether a live operation holds the plugin's lock (a stale lock is not held). */
export async function isPluginLocked(pluginsDir: string, id: string): Promise<boolean> {
  return lockfile.check(join(pluginsDir, `.${id}`), lockOptions(pluginsDir, id));
}

export async function withPluginLock<T>(pluginsDir: string, id: string, fn: () => Promise<T>): Promise<T> {
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(join(pluginsDir, `.${id}`), { ...lockOptions(pluginsDir, id), retries: 0 });
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
