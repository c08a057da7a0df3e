// Pre-upgrade snapshots of a plugin's data dir, as MINT keeps them: copied into the operation's
// staging before the new version starts, moved to the home's snapshots (layout.ts:
// `<home>/snapshots/<time>-<old version>`) only once the upgrade is done, and kept N deep. An
// upgrade that fails or is killed leaves none. A restore puts one back: the snapshot is copied into
// staging, the current data dir becomes a snapshot of its own (so the restore can be undone), and
// the copy is renamed into its place.
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InstallError } from './errors';
import {
  dataDir,
  isSnapshotName,
  parseSnapshotName,
  snapshotName,
  snapshotPath,
  snapshotsDir,
} from './layout';

/** Copies the home's data dir to `dest` (links copied as links, never followed); undefined when there is no data dir. */
export function snapshotData(home: string, dest: string): string | undefined {
  const data = dataDir(home);
  if (!existsSync(data) || !statSync(data).isDirectory()) return undefined;
  copyTree(data, dest);
  return dest;
}

/** Moves a finished snapshot into the home's snapshots and removes the oldest beyond `keep`. */
export function keepSnapshot(home: string, snapshot: string, fromVersion: string, keep: number): string {
  const name = newSnapshotName(home, fromVersion);
  renameSync(snapshot, snapshotPath(home, name));
  pruneSnapshots(home, keep);
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

/** One snapshot as `coreservice snapshots` shows it. */
export interface SnapshotInfo {
  name: string;
  /** The version whose data it holds (the one an upgrade replaced, or that ran before a restore). */
  from_version: string;
  taken_at: string;
  /** The bytes of its regular files (links counted as links, never followed). */
  size_bytes: number;
}

/** A home's snapshots, oldest first, with what each holds. */
export function snapshotInfos(home: string): SnapshotInfo[] {
  return listSnapshots(home).flatMap((name) => {
    const parsed = parseSnapshotName(name);
    return parsed ? [{ name, ...parsed, size_bytes: treeSize(snapshotPath(home, name)) }] : [];
  });
}

/**
 * Swaps snapshot `name` in as the data dir: copied into `staging` first (the snapshot stays), then
 * the current data dir is renamed to a new snapshot of `currentVersion`, and the copy renamed to
 * data/. Each step is a rename within the home: the data dir is never written over in place.
 * Returns the name the replaced data was kept under (none when there was no data dir).
 */
export function swapInSnapshot(
  home: string,
  name: string,
  staging: string,
  currentVersion: string,
): { kept?: string } {
  const from = snapshotDirOf(home, name);
  const copy = join(staging, 'restore');
  copyTree(from, copy);
  const data = dataDir(home);
  let kept: string | undefined;
  if (existsSync(data)) {
    kept = newSnapshotName(home, currentVersion);
    renameSync(data, snapshotPath(home, kept));
  }
  renameSync(copy, data);
  return kept ? { kept } : {};
}

/** The path of an existing snapshot, its name checked first (a hostile name never becomes a path). */
export function snapshotDirOf(home: string, name: string): string {
  if (!isSnapshotName(name)) {
    throw new InstallError(
      'bad-request',
      `${JSON.stringify(name.slice(0, 130))} is not a snapshot name (such as 20250101T000000Z-1.0.0)`,
    );
  }
  const path = snapshotPath(home, name);
  let isDir = false;
  try {
    isDir = lstatSync(path).isDirectory();
  } catch {
    // not there: refused just below
  }
  if (!isDir) throw new InstallError('not-found', `there is no snapshot ${name}`);
  return path;
}

/** Removes the oldest snapshots beyond `keep` (at least one is kept). */
export function pruneSnapshots(home: string, keep: number): void {
  const all = listSnapshots(home);
  for (const old of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) {
    rmSync(snapshotPath(home, old), { recursive: true, force: true });
  }
}

/** A name for a new snapshot of `version`, now (a second later while one of that name exists). */
function newSnapshotName(home: string, version: string): string {
  mkdirSync(snapshotsDir(home), { recursive: true });
  const at = new Date();
  for (;;) {
    const name = snapshotName(at, version);
    if (!existsSync(snapshotPath(home, name))) return name;
    at.setTime(at.getTime() + 1000);
  }
}

/** Copies a tree (links copied as links, never followed; timestamps kept). */
function copyTree(from: string, to: string): void {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, errorOnExist: true });
}

/** The bytes of the regular files under `dir`, never following a link. */
function treeSize(dir: string): number {
  let total = 0;
  const walk = (at: string) => {
    let names: string[];
    try {
      names = readdirSync(at);
    } catch {
      return;
    }
    for (const n of names) {
      const st = lstatSync(join(at, n), { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(join(at, n));
      else if (st.isFile()) total += st.size;
    }
  };
  walk(dir);
  return total;
}
