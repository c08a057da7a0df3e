// Pre-upgrade snapshots of a plugin's data dir (`<home>/data`), as MINT keeps them: copied into the
// operation's staging before the new version starts, moved to `<home>/snapshots/<old version>-<time>`
// only once the upgrade is done, and kept N deep. An upgrade that fails or is killed leaves none.
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Copies `<home>/data` to `dest` (links copied as links, never followed); undefined when there is no data dir. */
export function snapshotData(home: string, dest: string): string | undefined {
  const data = join(home, 'data');
  if (!existsSync(data) || !statSync(data).isDirectory()) return undefined;
  cpSync(data, dest, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    errorOnExist: true,
  });
  return dest;
}

/** Moves a finished snapshot into `<home>/snapshots/` and removes the oldest beyond `keep`. */
export function keepSnapshot(home: string, snapshot: string, fromVersion: string, keep: number): string {
  const dir = join(home, 'snapshots');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const name = `${stamp}-${fromVersion}`;
  renameSync(snapshot, join(dir, name));
  const all = listSnapshots(home);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) {
    rmSync(join(dir, old), { recursive: true, force: true });
  }
  return name;
}

/** Snapshot names, oldest first (they start with a UTC timestamp). */
export function listSnapshots(home: string): string[] {
  try {
    return readdirSync(join(home, 'snapshots'))
      .filter((n) => /^\d{8}T\d{6}Z-/.test(n))
      .sort();
  } catch {
    return [];
  }
}
