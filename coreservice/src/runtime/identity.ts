// A plugin's own uid and gid under `uid` isolation, like systemd's DynamicUser: allocated from
// 61184–65519 on first use, recorded in the plugin's identity record (layout.ts), and claimed host-wide in a registry
// (`/var/lib/magellon/uids/<uid>`, MAGELLON_UID_REGISTRY overrides) that names the plugins dir and
// plugin holding it. The registry is one per host, not per plugins dir: two CoreServices (or test
// runs) must never give one uid to two plugins, since a uid reads its files and `kill -1` as it
// reaches every process it owns. Allocation holds the registry's lock; a claim whose plugin no
// longer records that uid is stale and is taken back then.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { PLUGIN_UID_MAX, PLUGIN_UID_MIN, pluginUidRegistry } from '@magellon/hub-core/node';
import lockfile from 'proper-lockfile';
import { InstallError, logCleanupFailure } from '../errors';
import { identityFile, parseUidClaimName, pluginHome, uidClaimFile } from '../layout';
import { isPluginId } from '../plugin-id';
import {
  identitySchema,
  type PluginIdentity,
  readRecord,
  recordValue,
  type UidClaim,
  uidClaimSchema,
  writeRecord,
} from '../records';
import { isRoot } from './isolation';

export type { PluginIdentity };
export { PLUGIN_UID_MAX, PLUGIN_UID_MIN };

const registry = pluginUidRegistry;
const claimFile = (uid: number) => uidClaimFile(registry(), uid);

/** Where a plugins dir really is: claims name it by its real path. */
function realDir(pluginsDir: string): string {
  try {
    return realpathSync(pluginsDir);
  } catch {
    return pluginsDir;
  }
}

function readClaim(uid: number): UidClaim | undefined {
  return recordValue(readRecord(claimFile(uid), uidClaimSchema));
}

const holds = (c: UidClaim | undefined, dir: string, id: string) =>
  c !== undefined && c.plugins_dir === dir && c.plugin_id === id;

/** The identity recorded for a plugin, or undefined (absent, or unreadable: doctor names that). */
export function readIdentity(home: string): PluginIdentity | undefined {
  return recordValue(readRecord(identityFile(home), identitySchema));
}

/** Whether a claim's plugin no longer records that uid (its plugins dir or home is gone, or it moved on). */
function isStale(uid: number, c: UidClaim | undefined): boolean {
  if (!c || !isPluginId(c.plugin_id)) return true;
  return readIdentity(pluginHome(c.plugins_dir, c.plugin_id))?.uid !== uid;
}

function passwdIds(): Set<number> {
  const used = new Set<number>();
  for (const file of ['/etc/passwd', '/etc/group']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // no such file (a minimal container): no ids taken by it
    }
    for (const line of text.split('\n')) {
      const id = Number(line.split(':')[2]);
      if (Number.isInteger(id)) used.add(id);
    }
  }
  return used;
}

/** A stable first choice per plugin, so a reinstall tends to get the same uid. */
function firstChoice(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return h % (PLUGIN_UID_MAX - PLUGIN_UID_MIN + 1);
}

/** Runs `fn` holding the registry's lock (allocation is rare: a wait of a few ms at most). */
async function withRegistry<T>(fn: () => T): Promise<T> {
  const dir = registry();
  // Its folder may also hold plugins dirs (/var/lib/magellon/plugins): others must pass through it.
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const release = await lockfile.lock(dir, {
    lockfilePath: `${dir}.lock`,
    realpath: false,
    stale: 10_000,
    update: 2_000,
    retries: { retries: 200, factor: 1.2, minTimeout: 10, maxTimeout: 250 },
  });
  try {
    return fn();
  } finally {
    await release().catch((e: unknown) => logCleanupFailure('releasing the uid registry lock', e));
  }
}

/** Writes a claim file new (it must not exist). */
function writeClaim(uid: number, claim: UidClaim): void {
  writeRecord(claimFile(uid), uidClaimSchema, claim, { exclusive: true });
}

/** The plugin's own uid/gid: the recorded one while its claim holds, else a newly allocated one. */
export async function ensureIdentity(pluginsDir: string, id: string, home: string): Promise<PluginIdentity> {
  const dir = realDir(pluginsDir);
  const known = readIdentity(home);
  if (known && holds(readClaim(known.uid), dir, id)) return known;
  return withRegistry(() => {
    const used = passwdIds();
    const span = PLUGIN_UID_MAX - PLUGIN_UID_MIN + 1;
    // Its old uid first, when nobody else took it meanwhile (its files are already that uid's).
    const start = known ? known.uid - PLUGIN_UID_MIN : firstChoice(`${dir}\0${id}`);
    for (let i = 0; i < span; i++) {
      const uid = PLUGIN_UID_MIN + ((start + i) % span);
      if (used.has(uid)) continue;
      const c = readClaim(uid);
      if (c || existsSync(claimFile(uid))) {
        if (holds(c, dir, id)) return record(uid);
        if (!isStale(uid, c)) continue;
        rmSync(claimFile(uid), { force: true });
      }
      writeClaim(uid, { plugins_dir: dir, plugin_id: id });
      return record(uid);
    }
    throw new InstallError(
      'backend-failed',
      `no free uid is left in ${PLUGIN_UID_MIN}–${PLUGIN_UID_MAX} for ${id} (see ${registry()})`,
    );
  });

  function record(uid: number): PluginIdentity {
    const identity = { uid, gid: uid };
    writeRecord(identityFile(home), identitySchema, identity);
    return identity;
  }
}

/** Gives a plugin's uid back (after its processes are gone and its files removed). */
export function releaseIdentity(pluginsDir: string, id: string, identity: PluginIdentity | undefined): void {
  if (!identity) return;
  if (holds(readClaim(identity.uid), realDir(pluginsDir), id)) {
    rmSync(claimFile(identity.uid), { force: true });
  }
}

/**
 * Removes the stale claims of this plugins dir's plugins (doctor); returns the uids freed. Stale
 * claims of other plugins dirs are left to their doctor, or taken back when a uid is allocated.
 */
export async function freeStaleClaims(pluginsDir: string): Promise<number[]> {
  const dir = realDir(pluginsDir);
  let names: string[];
  try {
    names = readdirSync(registry());
  } catch {
    return [];
  }
  const ours = names.flatMap((n) => {
    const uid = parseUidClaimName(n);
    return uid !== undefined && readClaim(uid)?.plugins_dir === dir ? [uid] : [];
  });
  if (ours.length === 0) return [];
  return withRegistry(() =>
    ours.flatMap((uid) => {
      const c = readClaim(uid);
      if (c?.plugins_dir !== dir || !isStale(uid, c)) return [];
      rmSync(claimFile(uid), { force: true });
      return [uid];
    }),
  );
}

/** Live processes (not zombies) whose real uid is `uid`, read from /proc. */
function processesOfUid(uid: number): number[] {
  const found: number[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    // no /proc (not Linux): no processes to find
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue;
    }
    const real = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    if (Number(real) === uid && state !== 'Z' && state !== 'X') found.push(Number(name));
  }
  return found;
}

/**
 * Kills every process running as the plugin's uid (a daemon it started in a session of its own
 * included): `kill -KILL -1` run as that uid reaches exactly the processes that uid may signal, in
 * one sweep of the kernel's. What is still there after it (no `kill` program, or a process forked
 * meanwhile) is killed by pid from /proc, a few rounds at most.
 */
export function killAllOf(identity: PluginIdentity | undefined): void {
  if (!identity || !isRoot()) return;
  spawnSync('kill', ['-KILL', '--', '-1'], {
    uid: identity.uid,
    gid: identity.gid,
    stdio: 'ignore',
    timeout: 10_000,
  });
  for (let round = 0; round < 5; round++) {
    const left = processesOfUid(identity.uid);
    if (left.length === 0) return;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
