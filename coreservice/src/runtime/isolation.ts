// How far a plugin is kept from CoreService and from other plugins. A plugin's code, its
// dependencies and every process it starts are the plugin author's, so CoreService decides what
// they may read and signal:
//
//   uid        CoreService runs as root: each plugin runs under a uid/gid of its own (allocated and
//              recorded per plugin, like systemd's DynamicUser), owns only its data dir, and the
//              file modes keep it out of the bookkeeping, the admin token, other plugins' homes and
//              CoreService's /proc/<pid>/environ. Stopping a plugin kills every process of its uid.
//   namespace  CoreService is not root but bubblewrap works: each replica runs in its own user, PID
//              and mount namespaces; the plugins dir is replaced by an empty tmpfs in which only the
//              replica's own version, venv and data dir are mounted back, the config file is masked,
//              and CoreService's processes are not visible at all. As root (asked for explicitly),
//              the namespace is entered under the plugin's own uid, so it adds to `uid`.
//   none       nothing of the above is available (or the operator said so): the plugin runs as
//              CoreService's user and can read whatever that user can. `status` and `doctor` say so.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { onPath } from '@magellon/hub-core/node';
import { InstallError } from '../errors';
import { dataDir, homeRecordFiles, runRoot, snapshotsDir, stagingDir, uploadsDir } from '../layout';
import type { PluginIdentity } from './identity';

export const ISOLATION_SETTINGS = ['auto', 'uid', 'namespace', 'none'] as const;
export type IsolationSetting = (typeof ISOLATION_SETTINGS)[number];
export type IsolationLevel = Exclude<IsolationSetting, 'auto'>;

/** The isolation this CoreService gives its plugins, and why (for none: what is left unprotected). */
export interface Isolation {
  level: IsolationLevel;
  why: string;
}

/** Everything a backend needs to start one replica inside its sandbox. */
export interface SandboxSpec {
  level: IsolationLevel;
  /** The plugin's own uid/gid (uid isolation, and namespace isolation when CoreService is root). */
  identity?: PluginIdentity;
  /** The plugins dir: hidden from the replica (namespace). */
  pluginsDir: string;
  /** Mounted back read-only (the version's files, its venv). */
  readOnly: string[];
  /** Mounted back writable (the data dir). */
  writable: string[];
  /** Files masked with an empty one (CoreService's config file). */
  masked: string[];
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** The namespaces and mounts every replica's bubblewrap sandbox starts from. */
const BWRAP_BASE = [
  '--unshare-user',
  '--unshare-pid',
  '--unshare-ipc',
  '--unshare-uts',
  '--ro-bind',
  '/',
  '/',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  '--tmpfs',
  '/tmp',
];

let bwrapProbe: string | undefined | null = null;

/** Why bubblewrap cannot make a sandbox here, or undefined when it can (probed once per process). */
export function bubblewrapUnavailable(): string | undefined {
  if (bwrapProbe !== null) return bwrapProbe;
  if (!onPath('bwrap')) {
    bwrapProbe = 'bubblewrap (bwrap) is not installed';
    return bwrapProbe;
  }
  // The probe makes the very namespaces a replica gets.
  const r = spawnSync('bwrap', [...BWRAP_BASE, '--', 'true'], {
    timeout: 10_000,
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  bwrapProbe =
    r.status === 0
      ? undefined
      : `bubblewrap cannot create namespaces here (${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]})`;
  return bwrapProbe;
}

/** The isolation `setting` gives on this host; an explicit level the host cannot give is an error. */
export function resolveIsolation(setting: IsolationSetting = 'auto'): Isolation {
  const root = isRoot();
  switch (setting) {
    case 'uid':
      if (!root) {
        throw new InstallError(
          'incompatible',
          'isolation "uid" needs CoreService to run as root (it gives each plugin a uid of its own); use "namespace" or "auto"',
        );
      }
      return { level: 'uid', why: 'each plugin runs under its own uid and gid' };
    case 'namespace': {
      const missing = bubblewrapUnavailable();
      if (missing)
        throw new InstallError('incompatible', `isolation "namespace" is not available: ${missing}`);
      return {
        level: 'namespace',
        why: root
          ? 'each replica runs under its plugin’s own uid, in its own user, PID and mount namespaces'
          : 'each replica runs in its own user, PID and mount namespaces (bubblewrap)',
      };
    }
    case 'none':
      return {
        level: 'none',
        why: 'the operator turned isolation off: plugins run as CoreService’s user and can read its files, its token and its environment',
      };
    default: {
      if (root) return { level: 'uid', why: 'each plugin runs under its own uid and gid' };
      const missing = bubblewrapUnavailable();
      if (!missing) {
        return {
          level: 'namespace',
          why: 'each replica runs in its own user, PID and mount namespaces (bubblewrap)',
        };
      }
      return {
        level: 'none',
        why: `CoreService is not root and ${missing}: plugins run as CoreService’s user and can read its files, its token and its environment; install bubblewrap or run CoreService as root`,
      };
    }
  }
}

// ----------------------------------------------------------------------------- file modes

/**
 * Under `uid` isolation: the plugins dir may be passed through but not listed, the plugin's home
 * is root's with the plugin's group (so no other plugin may enter it), its bookkeeping is root's
 * alone, and its data dir is the plugin's. Every folder above the plugins dir must let others pass.
 */
export function applyHomeModes(pluginsDir: string, home: string, identity: PluginIdentity): void {
  chmodIfDir(pluginsDir, 0o711);
  assertReachable(pluginsDir);
  for (const own of [stagingDir(pluginsDir), uploadsDir(pluginsDir)]) chmodIfDir(own, 0o700);
  chownDir(home, 0, identity.gid);
  chmodIfDir(home, 0o750);
  for (const own of [runRoot(home), snapshotsDir(home)]) chmodIfDir(own, 0o700);
  // Written 0600 by CoreService; receipts from before isolation were 0644.
  for (const own of homeRecordFiles(home)) chmodFile(own, 0o600);
  const data = dataDir(home);
  mkdirSync(data, { recursive: true });
  chmodIfDir(data, 0o700);
  giveTree(data, identity);
}

/**
 * Refuses a plugins dir that a plugin under its own uid could not reach (a folder above it keeps
 * other users out): said before anything is downloaded, not when the plugin fails to start.
 */
export function assertReachable(pluginsDir: string): void {
  const above = dirname(resolve(pluginsDir));
  const blocked = unreachableAncestor(above);
  if (!blocked) return;
  let mode = '';
  try {
    mode = ` (mode ${(statSync(blocked).mode & 0o777).toString(8)})`;
  } catch {
    // the mode only adds to the message; the refusal stands without it
  }
  throw new InstallError(
    'incompatible',
    `${blocked} does not let other users pass${mode}, so a plugin running under its own uid could not reach its files in ${pluginsDir}; chmod o+x ${blocked}, or choose a plugins dir such as /var/lib/magellon/plugins`,
  );
}

/** Whether plugins will run under uids of their own with this setting (uid, or namespace as root). */
export const runsUnderOwnUid = (setting?: IsolationSetting): boolean => {
  const { level } = resolveIsolation(setting);
  return level === 'uid' || (level === 'namespace' && isRoot());
};

/**
 * The first folder at or above `dir` that others may not pass through, or undefined. A folder that
 * does not exist yet is no obstacle: CoreService makes it 0755.
 */
export function unreachableAncestor(dir: string): string | undefined {
  let at = resolve(dir);
  for (;;) {
    try {
      const st = statSync(at);
      if ((st.mode & 0o001) === 0) return at;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return at;
    }
    const up = dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}

/**
 * Whether a program can be run by any user: it and every folder above its real path are
 * world-executable (a python under /root is not, however its shim on PATH looks).
 */
export function runnableByOthers(file: string): boolean {
  let real: string;
  try {
    real = realpathSync(file);
    if ((statSync(real).mode & 0o005) !== 0o005) return false;
  } catch {
    return false;
  }
  return unreachableAncestor(dirname(real)) === undefined;
}

/** Sets the mode of a folder or a regular file (never through a link); a name that is absent is skipped. */
function chmodNoFollow(path: string, mode: number, kind: 'dir' | 'file'): void {
  let fd: number;
  try {
    const flags = kind === 'dir' ? constants.O_DIRECTORY : constants.O_NONBLOCK;
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | flags);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

const chmodIfDir = (path: string, mode: number) => chmodNoFollow(path, mode, 'dir');
const chmodFile = (path: string, mode: number) => chmodNoFollow(path, mode, 'file');

function chownDir(path: string, uid: number, gid: number): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchownSync(fd, uid, gid);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes the data dir and everything in it the plugin's (it holds root's files when it predates
 * isolation, was restored from a snapshot, or was kept by an uninstall).
 */
function giveTree(dir: string, identity: PluginIdentity): void {
  ownTree(dir, identity.uid, identity.gid);
}

/**
 * What an uninstall keeps of a home that ran under its own uid (its data and snapshots) becomes
 * root's alone: the uid is given back and may go to another plugin, which must not find these
 * files its own. A later install of the plugin gives the data dir to its new uid.
 */
export function keepForRoot(home: string): void {
  if (!isRoot()) return;
  chownDir(home, 0, 0);
  chmodIfDir(home, 0o700);
  const data = dataDir(home);
  try {
    if (!lstatSync(data).isDirectory()) return;
  } catch {
    return;
  }
  ownTree(data, 0, 0);
}

/**
 * Gives a tree to uid:gid. The walk is coreutils' `chown -R -P`, which never follows a link, even
 * one the plugin swaps in while it runs.
 */
function ownTree(dir: string, uid: number, gid: number): void {
  const st = lstatSync(dir);
  if (st.uid === uid && st.gid === gid) return;
  if (readdirSync(dir).length === 0) {
    chownDir(dir, uid, gid);
    return;
  }
  const r = spawnSync('chown', ['-R', '-P', '--no-dereference', `${uid}:${gid}`, '--', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) {
    throw new InstallError(
      'backend-failed',
      `could not give ${dir} to uid ${uid}: ${(r.stderr || r.error?.message || '').trim()}`,
    );
  }
}

// ----------------------------------------------------------------------------- launching

/** The command that runs `file args` for one replica inside its sandbox, and the ids to spawn it with. */
export function sandboxed(
  spec: SandboxSpec | undefined,
  file: string,
  args: string[],
  cwd: string,
): { file: string; args: string[]; uid?: number; gid?: number } {
  const ids = spec?.identity ? { uid: spec.identity.uid, gid: spec.identity.gid } : {};
  if (!spec || spec.level === 'none') return { file, args };
  // no_new_privs: a setuid program on the host gives a plugin nothing.
  const noNewPrivs = onPath('setpriv') ? ['setpriv', '--no-new-privs', '--'] : [];
  if (spec.level === 'uid') {
    const [first, ...rest] = [...noNewPrivs, file, ...args];
    return { file: first!, args: rest, ...ids };
  }
  const b = [...BWRAP_BASE, '--tmpfs', spec.pluginsDir];
  for (const p of spec.readOnly) b.push('--ro-bind', p, p);
  for (const p of spec.writable) b.push('--bind', p, p);
  for (const p of spec.masked) b.push('--ro-bind', '/dev/null', p);
  // The stand-in plugins dir holds only the mounts above; nothing new can be made in it.
  b.push('--remount-ro', spec.pluginsDir);
  b.push('--chdir', cwd, '--', ...noNewPrivs, file, ...args);
  return { file: 'bwrap', args: b, ...ids };
}

/** Whether `path` lies inside `dir` (or is it). */
export const within = (dir: string, path: string) => path === dir || path.startsWith(dir + sep);
