// Pre-upgrade snapshots of a plugin's data dir, as MINT keeps them: copied into the operation's
// staging before the new version starts, moved to the home's snapshots (layout.ts:
// `<home>/snapshots/<time>-<old version>`) only once the upgrade is done, and kept N deep. An
// upgrade that fails or is killed leaves none.
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dataDir, isSnapshotName, snapshotName, snapshotPath, snapshotsDir } from './layout';

/** Copies the home's data dir to `dest` (links copied as links, never followed); undefined when there is no data dir. */
export function snapshotData(home: string, dest: string): string | undefined {
  const data = dataDir(home);
  if (!existsSync(data) || !statSync(data).isDirectory()) return undefined;
  cpSync(data, dest, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    errorOnExist: true,
  });
  return dest;
}

/** Moves a finished snapshot into the home's snapshots and removes the oldest beyond `keep`. */
export function keepSnapshot(home: string, snapshot: string, fromVersion: string, keep: number): string {
  mkdirSync(snapshotsDir(home), { recursive: true });
  const name = snapshotName(new Date(), fromVersion);
  renameSync(snapshot, snapshotPath(home, name));
  const all = listSnapshots(home);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) {
    rmSync(snapshotPath(home, old), { recursive: true, force: true });
  }
  return name;
}

/** Snapshot names, oldest first (they start with a UTC timestamp). */
export function listSnapshots(home: string): string[] {
  try {
    return readdirSync(snapshotsDir(home)).filter(isSnapshotName).sort();
  } catch {
    return [];
  }
}
