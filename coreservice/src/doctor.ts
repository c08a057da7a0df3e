// After a crash (kill -9, power loss): finish or roll back what was left half-done. A plugin is
// installed exactly as its receipt says, so everything else of an interrupted operation goes.
import { readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readReceipt } from './install';
import { holderFile, isPluginLocked, LOCK_STALE_MS } from './lock';
import { isPluginId } from './plugin-id';
import { freeStaleClaims, killAllOf, readIdentity } from './runtime/identity';
import { type Isolation, type IsolationSetting, resolveIsolation } from './runtime/isolation';
import { retire, stopRecorded } from './runtime/runner';

/** How long an upload's file must have been left unwritten before doctor removes it. */
export const UPLOAD_QUIET_MS = 10 * 60_000;

const VERSION_NAME = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/;

/** Version names a plugin dir has anything of: files, a venv, run state. */
function versionsIn(dir: string): Set<string> {
  const found = new Set<string>();
  for (const sub of ['', 'run', 'venvs']) {
    try {
      for (const e of readdirSync(join(dir, sub))) if (VERSION_NAME.test(e)) found.add(e);
    } catch {}
  }
  return found;
}

export interface DoctorReport {
  /** What was removed, as paths relative to the plugins dir, with why. */
  removed: { path: string; why: string }[];
  /** Plugins skipped because a live operation holds their lock. */
  busy: string[];
  /** How plugins are isolated here (`none`: they can read CoreService's files and secrets). */
  isolation: Isolation;
}

/**
 * Rolls back what interrupted operations left: staging dirs, version dirs no receipt names (an
 * upgrade killed before its receipt switched), plugin dirs without a receipt (a first install
 * killed before it), and stale lock dirs. A plugin whose lock a live operation holds is left alone.
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
  const report: DoctorReport = { removed: [], busy: [], isolation };
  let names: string[];
  try {
    names = readdirSync(pluginsDir);
  } catch {
    return report;
  }
  const busy = new Set<string>();
  const idOf = (name: string) =>
    /^(.+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
      .exec(name)?.[1]
      ?.replace(/-uninstall$/, '');
  for (const name of names) {
    const lock = /^\.(.+)\.lock$/.exec(name);
    if (!lock || !isPluginId(lock[1]!)) continue;
    if (await isPluginLocked(pluginsDir, lock[1]!)) busy.add(lock[1]!);
    else {
      rmSync(join(pluginsDir, name), { recursive: true, force: true });
      rmSync(holderFile(pluginsDir, lock[1]!), { force: true });
      report.removed.push({ path: name, why: 'a lock left by a process that is gone' });
    }
  }
  // Holder records whose lock is gone (its holder was killed between the two removals).
  for (const name of names) {
    const m = /^\.(.+)\.holder$/.exec(name);
    if (!m || !isPluginId(m[1]!) || names.includes(`.${m[1]}.lock`)) continue;
    rmSync(join(pluginsDir, name), { force: true });
  }
  const staging = join(pluginsDir, '.staging');
  let staged: string[] = [];
  try {
    staged = readdirSync(staging);
  } catch {}
  for (const name of staged) {
    const id = idOf(name);
    const abs = join(staging, name);
    // An upload has no plugin id until verified: judge it by age instead.
    const live = id && id !== 'upload' ? busy.has(id) : Date.now() - statSync(abs).mtimeMs < LOCK_STALE_MS;
    if (live) continue;
    rmSync(abs, { recursive: true, force: true });
    report.removed.push({ path: `.staging/${name}`, why: 'staging left by an interrupted operation' });
  }
  try {
    rmdirSync(staging);
  } catch {}
  // Bodies of uploads to the admin service that it did not get to install (it was killed meanwhile).
  // An upload still arriving keeps its file fresh; ten quiet minutes mean nobody is writing it.
  const uploads = join(pluginsDir, '.uploads');
  let uploaded: string[] = [];
  try {
    uploaded = readdirSync(uploads);
  } catch {}
  for (const name of uploaded) {
    const abs = join(uploads, name);
    try {
      if (Date.now() - statSync(abs).mtimeMs < UPLOAD_QUIET_MS) continue;
    } catch {
      continue;
    }
    rmSync(abs, { recursive: true, force: true });
    report.removed.push({ path: `.uploads/${name}`, why: 'an upload left by an interrupted service' });
  }
  try {
    rmdirSync(uploads);
  } catch {}
  for (const id of names) {
    if (!isPluginId(id)) continue;
    if (busy.has(id)) {
      report.busy.push(id);
      continue;
    }
    const receipt = readReceipt(pluginsDir, id);
    const dir = join(pluginsDir, id);
    if (!receipt) {
      for (const v of versionsIn(dir)) await stopRecorded(dir, v);
      killAllOf(readIdentity(dir));
      rmSync(dir, { recursive: true, force: true });
      report.removed.push({ path: id, why: 'files of an install that never finished (no receipt)' });
      continue;
    }
    // Versions the receipt does not name: an upgrade killed before its switch, or after it but
    // before the old version was retired. Their processes are stopped, then all of them removed.
    for (const v of versionsIn(dir)) {
      if (v === receipt.version) continue;
      await retire({ home: dir, version: v });
      rmSync(join(dir, v), { recursive: true, force: true });
      report.removed.push({ path: `${id}/${v}`, why: `not the installed version (${receipt.version})` });
    }
    for (const entry of readdirSync(dir)) {
      if (!/^(receipt\.json|state\.json|identity\.json|heartbeat\.key)\.tmp-\d+(-\d+)?$/.test(entry))
        continue;
      rmSync(join(dir, entry), { force: true });
      report.removed.push({ path: `${id}/${entry}`, why: 'a temp file of an interrupted write' });
    }
  }
  // uids claimed (host-wide) by plugins that are gone: an install killed before its plugin dir stayed.
  for (const uid of await freeStaleClaims(pluginsDir)) {
    report.removed.push({ path: `uid ${uid}`, why: 'a uid claimed by a plugin that is not installed' });
  }
  return report;
}
