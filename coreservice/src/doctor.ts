// After a crash (kill -9, power loss): finish or roll back what was left half-done. A plugin is
// installed exactly as its receipt says, so everything else of an interrupted operation goes. What
// is where comes from layout.ts; what a backend made for a version, the backend itself finds
// (`leftovers`) and removes (`remove`). A record that cannot be read is never guessed at: it is
// reported, and left for an operator.
import { lstatSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { logCleanupFailure } from './errors';
import { receiptRecord } from './install';
import {
  identityFile,
  isHomeRecordTemp,
  isKeptName,
  keptNames,
  lockPaths,
  parseHolderName,
  parseLockName,
  parseStagingName,
  pluginHome,
  pluginHomeNames,
  shownPath,
  stagingDir,
  uploadsDir,
  versionDir,
  versionDirNames,
} from './layout';
import { isPluginLocked, LOCK_STALE_MS } from './lock';
import { identitySchema, type Receipt, readRecord } from './records';
import type { ReplicaInfo } from './runtime/backend';
import { allBackends, backendFor } from './runtime/backends';
import { freeStaleClaims, killAllOf, readIdentity } from './runtime/identity';
import { type Isolation, type IsolationSetting, keepForRoot, resolveIsolation } from './runtime/isolation';
import { loadRuntime, readRunState, retire } from './runtime/runner';

/** How long an upload's file must have been left unwritten before doctor removes it. */
export const UPLOAD_QUIET_MS = 10 * 60_000;

export interface DoctorReport {
  /** What was removed, as paths relative to the plugins dir, with why. */
  removed: { path: string; why: string }[];
  /**
   * Records that cannot be read (garbled, tampered with, not the plugin's), as paths relative to
   * the plugins dir, with why. Nothing is done about them: a plugin whose receipt is unreadable is
   * left exactly as it is.
   */
  unreadable: { path: string; why: string }[];
  /** Plugins skipped because a live operation holds their lock. */
  busy: string[];
  /** How plugins are isolated here (`none`: they can read CoreService's files and secrets). */
  isolation: Isolation;
}

/**
 * Rolls back what interrupted operations left: staging dirs, version dirs no receipt names (an
 * upgrade killed before its receipt switched) and whatever a backend holds of them, plugin dirs
 * without a receipt (a first install killed before it), and stale lock dirs. A plugin whose lock a
 * live operation holds is left alone; one whose receipt cannot be read is reported and left alone.
 */
export async function doctor(
  pluginsDir: string,
  opts: { isolation?: IsolationSetting } = {},
): Promise<DoctorReport> {
  let isolation: Isolation;
  try {
    isolation = resolveIsolation(opts.isolation);
  } catch (err) {
    isolation = { level: 'none', why: (err as Error).message };
  }
  const report: DoctorReport = { removed: [], unreadable: [], busy: [], isolation };
  let names: string[];
  try {
    names = readdirSync(pluginsDir);
  } catch {
    // no plugins dir yet: nothing to repair
    return report;
  }
  const busy = await removeStaleLocks(pluginsDir, names, report);
  removeStaleStaging(pluginsDir, busy, report);
  removeStaleUploads(pluginsDir, report);
  for (const id of pluginHomeNames(pluginsDir)) {
    if (busy.has(id)) report.busy.push(id);
    else await repairHome(pluginsDir, id, report);
  }
  // uids claimed (host-wide) by plugins that are gone: an install killed before its plugin dir stayed.
  for (const uid of await freeStaleClaims(pluginsDir)) {
    report.removed.push({ path: `uid ${uid}`, why: 'a uid claimed by a plugin that is not installed' });
  }
  return report;
}

/** Removes the locks no live process holds (and holder records without a lock); answers the plugins a live one holds. */
async function removeStaleLocks(
  pluginsDir: string,
  names: string[],
  report: DoctorReport,
): Promise<Set<string>> {
  const busy = new Set<string>();
  for (const name of names) {
    const id = parseLockName(name);
    if (id === undefined) continue;
    if (await isPluginLocked(pluginsDir, id)) busy.add(id);
    else {
      const lock = lockPaths(pluginsDir, id);
      rmSync(lock.dir, { recursive: true, force: true });
      rmSync(lock.holder, { force: true });
      report.removed.push({
        path: shownPath(pluginsDir, lock.dir),
        why: 'a lock left by a process that is gone',
      });
    }
  }
  // Holder records whose lock is gone (its holder was killed between the two removals).
  for (const name of names) {
    const id = parseHolderName(name);
    if (id === undefined || names.some((n) => parseLockName(n) === id)) continue;
    rmSync(lockPaths(pluginsDir, id).holder, { force: true });
  }
  return busy;
}

/** The entries of a folder of CoreService's, none when it is not there. */
function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // not there: nothing in it
    return [];
  }
}

/** Removes a folder of CoreService's when it is empty. */
function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (something in it is still in use), or not there
  }
}

/** Staging dirs of operations that are over (their plugin's lock is free, or an upload's is old). */
function removeStaleStaging(pluginsDir: string, busy: Set<string>, report: DoctorReport): void {
  const staging = stagingDir(pluginsDir);
  for (const name of entriesOf(staging)) {
    const owner = parseStagingName(name);
    const abs = join(staging, name);
    // An upload has no plugin id until verified (and a name CoreService did not make, no owner):
    // judge it by age instead.
    const live =
      owner && !owner.upload ? busy.has(owner.id) : Date.now() - statSync(abs).mtimeMs < LOCK_STALE_MS;
    if (live) continue;
    rmSync(abs, { recursive: true, force: true });
    report.removed.push({
      path: shownPath(pluginsDir, abs),
      why: 'staging left by an interrupted operation',
    });
  }
  removeIfEmpty(staging);
}

/**
 * Bodies of uploads to the admin service that it did not get to install (it was killed meanwhile).
 * An upload still arriving keeps its file fresh; ten quiet minutes mean nobody is writing it.
 */
function removeStaleUploads(pluginsDir: string, report: DoctorReport): void {
  const uploads = uploadsDir(pluginsDir);
  for (const name of entriesOf(uploads)) {
    const abs = join(uploads, name);
    try {
      if (Date.now() - statSync(abs).mtimeMs < UPLOAD_QUIET_MS) continue;
    } catch {
      // gone meanwhile (its upload finished)
      continue;
    }
    rmSync(abs, { recursive: true, force: true });
    report.removed.push({
      path: shownPath(pluginsDir, abs),
      why: 'an upload left by an interrupted service',
    });
  }
  removeIfEmpty(uploads);
}

/** One plugin's home (its lock free): an unfinished install goes; an installed plugin keeps only its version. */
async function repairHome(pluginsDir: string, id: string, report: DoctorReport): Promise<void> {
  const home = pluginHome(pluginsDir, id);
  const receipt = receiptRecord(pluginsDir, id);
  if (!receipt.ok && !receipt.absent) {
    // Not an interrupted operation (a receipt is written whole or not at all): someone's doing.
    report.unreadable.push({ path: shownPath(pluginsDir, receipt.path), why: receipt.why });
    return;
  }
  if (!receipt.ok) {
    // What an uninstall kept (only data/ and snapshots/) is the operator's, not a leftover.
    if (keptNames(home)) return;
    await removeUnfinishedInstall(id, home);
    report.removed.push({ path: id, why: 'files of an install that never finished (no receipt)' });
    return;
  }
  await removeOtherVersions(id, home, receipt.value, report);
  for (const entry of readdirSync(home)) {
    if (!isHomeRecordTemp(entry)) continue;
    rmSync(join(home, entry), { force: true });
    report.removed.push({
      path: shownPath(pluginsDir, join(home, entry)),
      why: 'a temp file of an interrupted write',
    });
  }
  await checkRecords(pluginsDir, id, home, receipt.value, report);
}

/**
 * A home without a receipt: whatever any backend holds of any version is stopped and removed, then
 * the rest; a data dir or snapshots with something in them stay (a reinstall into a kept home was
 * killed).
 */
async function removeUnfinishedInstall(id: string, home: string): Promise<void> {
  const entries = readdirSync(home);
  for (const backend of allBackends()) {
    const versions = await backend.leftovers(home).catch((err: unknown) => {
      logCleanupFailure(`could not list what the ${backend.method} backend holds of ${id}`, err);
      return [];
    });
    for (const v of versions) {
      await backend
        .remove({ pluginId: id, home, version: v })
        .catch((err: unknown) =>
          logCleanupFailure(`could not remove ${id} ${v} from the ${backend.method} backend`, err),
        );
    }
  }
  const identity = readIdentity(home);
  killAllOf(identity);
  for (const entry of entries) {
    const abs = join(home, entry);
    if (isKeptName(entry) && !isEmptyDir(abs)) continue;
    rmSync(abs, { recursive: true, force: true });
  }
  if (readdirSync(home).length === 0) rmSync(home, { recursive: true, force: true });
  else if (identity) keepForRoot(home);
}

/**
 * Versions the receipt does not name: an upgrade killed before its switch, or after it but before
 * the old version was retired. Their processes are stopped, then everything of them removed: what
 * the backends hold of them (each says which versions it holds), and their files.
 */
async function removeOtherVersions(id: string, home: string, receipt: Receipt, report: DoctorReport) {
  const others = new Set(versionDirNames(home).filter((v) => v !== receipt.version));
  for (const backend of allBackends()) {
    const held = await backend.leftovers(home, receipt.version).catch((err: unknown) => {
      logCleanupFailure(`could not list what the ${backend.method} backend holds of ${id}`, err);
      return [];
    });
    for (const v of held) others.add(v);
  }
  for (const v of [...others].sort()) {
    await retire({ pluginId: id, home, version: v });
    rmSync(versionDir(home, v), { recursive: true, force: true });
    report.removed.push({ path: `${id}/${v}`, why: `not the installed version (${receipt.version})` });
  }
}

/** Names the installed plugin's records that cannot be read: its run state, identity, run records, manifest. */
async function checkRecords(
  pluginsDir: string,
  id: string,
  home: string,
  receipt: Receipt,
  report: DoctorReport,
): Promise<void> {
  const note = (path: string, why: string) =>
    report.unreadable.push({ path: shownPath(pluginsDir, path), why });
  for (const read of [readRunState(home), readRecord(identityFile(home), identitySchema)]) {
    if (!read.ok && !read.absent) note(read.path, read.why);
  }
  let replicas: ReplicaInfo[];
  try {
    const rt = loadRuntime(pluginsDir, id, receipt.version, receipt.method ?? 'subprocess');
    replicas = await backendFor(rt.entry.method).status(rt);
  } catch (err) {
    note(versionDir(home, receipt.version), (err as Error).message);
    return;
  }
  for (const r of replicas) if (r.unreadable) note(r.unreadable.path, r.unreadable.why);
}

/** Whether `path` is a folder with nothing in it (not a link to one). */
function isEmptyDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory() && readdirSync(path).length === 0;
  } catch {
    return false;
  }
}
