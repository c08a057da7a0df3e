// One operation at a time per plugin: its lock dir (layout.ts: `<plugins_dir>/.<id>.lock`), made
// atomically by proper-lockfile and refreshed while held. The holder writes who it is (pid, the
// process's start time, and the lock dir's inode) into its holder record (`.<id>.holder`), so a
// lock whose holder is dead (kill -9) is stale at once instead of after LOCK_STALE_MS: doctor
// repairs right away, and the next operation takes it over. The record counts only for the lock
// dir it names (a successor's new lock is not aged by its predecessor's record), and a lock
// without one goes stale by age.
import { rmSync, statSync, utimesSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import { InstallError, logCleanupFailure } from './errors';
import { lockPaths } from './layout';
import { holderSchema, readRecord, recordValue, writeRecord } from './records';
import { isAlive, processStart } from './runtime/proc';

/** A lock not refreshed for this long belongs to a process that died (kill -9, power loss). */
export const LOCK_STALE_MS = 10_000;

/** The holder record file of a lock (doctor removes it with a stale lock). */
export const holderFile = (pluginsDir: string, id: string) => lockPaths(pluginsDir, id).holder;

const lockOptions = (dir: string) => ({
  realpath: false,
  lockfilePath: dir,
  stale: LOCK_STALE_MS,
  update: 2_000,
});

/**
 * When the recorded holder of a lock is dead, ages the lock dir so proper-lockfile takes it for
 * stale now (its own takeover then decides between two racing successors).
 */
function expireIfHolderDead(p: ReturnType<typeof lockPaths>): void {
  const holder = recordValue(readRecord(p.holder, holderSchema));
  if (!holder) return;
  if (isAlive(holder.pid, holder.pid_start)) return;
  try {
    if (statSync(p.dir).ino === holder.lock_ino) utimesSync(p.dir, 0, 0);
  } catch {
    // a probe: the lock dir went meanwhile, so there is nothing to expire
  }
}

/** Whether a live operation holds the plugin's lock (a stale lock, or one whose holder is dead, is not held). */
export async function isPluginLocked(pluginsDir: string, id: string): Promise<boolean> {
  const p = lockPaths(pluginsDir, id);
  expireIfHolderDead(p);
  return lockfile.check(p.target, lockOptions(p.dir));
}

/**
 * Runs `fn` holding the plugin's lock. A second operation on the same plugin fails at once with
 * `busy` (HTTP 409, exit 3); other plugins proceed in parallel.
 */
export async function withPluginLock<T>(pluginsDir: string, id: string, fn: () => Promise<T>): Promise<T> {
  const p = lockPaths(pluginsDir, id);
  expireIfHolderDead(p);
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(p.target, { ...lockOptions(p.dir), retries: 0 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new InstallError('busy', `another operation on ${id} is in progress; try again when it is done`);
    }
    throw err;
  }
  try {
    const pidStart = processStart(process.pid);
    writeRecord(p.holder, holderSchema, {
      pid: process.pid,
      ...(pidStart !== undefined ? { pid_start: pidStart } : {}),
      lock_ino: statSync(p.dir).ino,
      since: new Date().toISOString(),
    });
    return await fn();
  } finally {
    rmSync(p.holder, { force: true });
    // A lock left held goes stale (LOCK_STALE_MS) and doctor removes it; said, not swallowed.
    await release().catch((e: unknown) => logCleanupFailure(`releasing the lock of ${id}`, e));
  }
}
