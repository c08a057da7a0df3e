// Which plugins dir a command works on: the one answer the CLI, the admin service (`coreservice
// serve`) and `npm start` share, so that `coreservice status` and the service agree on what is
// installed. In this order:
//
//   1. --plugins-dir
//   2. $MAGELLON_PLUGINS_DIR
//   3. plugins_dir in the config file (relative to the config file's folder)
//   4. the nearest `.magellon/` folder walking up from the current dir (as git finds `.git`): the
//      dir its `plugins-dir` pointer file names (written by `npm start` when it keeps plugins
//      elsewhere), else its `plugins/` folder when it has one
//   5. $XDG_DATA_HOME/magellon/plugins (when XDG_DATA_HOME is an absolute path), else
//      /var/lib/magellon/plugins for root, else ~/.local/share/magellon/plugins
//
// The answer always says where it came from. A `.magellon/` folder can be planted above a shared
// dir (/tmp), so one that is not the caller's (or root's) is refused, and its pointer file is read
// as hostile: a regular file only (never a FIFO: it is opened non-blocking), at most 4 KiB, one
// absolute path, no control characters.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { escapeControl } from '@magellon/hub-core/text';
import { InstallError } from './errors';
import {
  checkoutTmpPluginsDir,
  localPluginsDir,
  MAGELLON_DIR,
  magellonDirIn,
  POINTER_FILE,
  pointerFile,
  ROOT_PLUGINS_DIR,
  userPluginsDir,
  xdgPluginsDir,
} from './layout';
import { writeFileDurably } from './runtime/files';

export type PluginsDirSource =
  | 'flag'
  | 'env'
  | 'config'
  | 'magellon-pointer'
  | 'magellon'
  | 'xdg'
  | 'root-default'
  | 'user-default';

/** The plugins dir a command uses, and where that answer came from. */
export interface PluginsDirChoice {
  /** An absolute path. */
  path: string;
  source: PluginsDirSource;
  /** Where it came from, for people: `.magellon/ in /repo`, `$MAGELLON_PLUGINS_DIR`… */
  from: string;
}

export interface PluginsDirInputs {
  /** `--plugins-dir`. */
  flag?: string;
  /** The environment to read MAGELLON_PLUGINS_DIR, XDG_DATA_HOME and HOME from (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** `plugins_dir` from the config file, and the file it came from. */
  config?: { pluginsDir?: string; file?: string };
  /** Where the walk for `.magellon/` starts, and what relative paths are relative to (default: the current dir). */
  cwd?: string;
  /** The caller's uid (default: this process's). */
  uid?: number;
}

export { MAGELLON_DIR, POINTER_FILE, ROOT_PLUGINS_DIR };
/** The most a pointer file may hold: one path. */
export const MAX_POINTER_BYTES = 4096;

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Says where plugins live for this invocation (see the order above). Throws `bad-request` for a refused `.magellon/`. */
export function resolvePluginsDir(inputs: PluginsDirInputs = {}): PluginsDirChoice {
  const env = inputs.env ?? process.env;
  const cwd = resolve(inputs.cwd ?? process.cwd());
  const uid = inputs.uid ?? process.getuid?.() ?? -1;
  if (inputs.flag !== undefined) {
    if (inputs.flag === '') throw new InstallError('bad-request', '--plugins-dir needs a path');
    return { path: resolve(cwd, inputs.flag), source: 'flag', from: '--plugins-dir' };
  }
  if (env.MAGELLON_PLUGINS_DIR) {
    return { path: resolve(cwd, env.MAGELLON_PLUGINS_DIR), source: 'env', from: '$MAGELLON_PLUGINS_DIR' };
  }
  if (inputs.config?.pluginsDir) {
    const file = inputs.config.file ? resolve(cwd, inputs.config.file) : undefined;
    return {
      path: resolve(file ? dirname(file) : cwd, inputs.config.pluginsDir),
      source: 'config',
      from: file ? `plugins_dir in ${file}` : 'plugins_dir in the config file',
    };
  }
  const found = nearestMagellonDir(cwd);
  if (found) {
    const at = dirname(found);
    checkOwner(lstatSync(found), uid, `the ${MAGELLON_DIR}/ folder in ${at}`);
    const pointer = readPointer(pointerFile(found), uid);
    if (pointer !== undefined) {
      return {
        path: pointer,
        source: 'magellon-pointer',
        from: `${MAGELLON_DIR}/${POINTER_FILE} in ${at}`,
      };
    }
    const local = localPluginsDir(found);
    if (isDir(local)) return { path: local, source: 'magellon', from: `${MAGELLON_DIR}/ in ${at}` };
  }
  const xdg = env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) {
    return { path: xdgPluginsDir(xdg), source: 'xdg', from: '$XDG_DATA_HOME' };
  }
  if (uid === 0) return { path: ROOT_PLUGINS_DIR, source: 'root-default', from: 'the default for root' };
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
  return {
    path: userPluginsDir(home),
    source: 'user-default',
    from: 'the per-user default',
  };
}

/** `/x (from .magellon/ in /repo)`, escaped for a terminal. */
export function describePluginsDir(choice: PluginsDirChoice): string {
  return `${escapeControl(choice.path)} (from ${escapeControl(choice.from)})`;
}

/** The nearest `.magellon` folder at or above `cwd`, or undefined. */
export function nearestMagellonDir(cwd: string): string | undefined {
  for (let at = resolve(cwd); ; at = dirname(at)) {
    const candidate = magellonDirIn(at);
    try {
      if (lstatSync(candidate).isDirectory()) return candidate;
    } catch {
      // not there: look one folder up
    }
    if (dirname(at) === at) return undefined;
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Refuses what someone else could have planted: owned by neither the caller nor root, or writable by anyone. */
function checkOwner(st: { uid: number; mode: number }, uid: number, what: string): void {
  if (st.uid !== uid && st.uid !== 0) {
    throw new InstallError(
      'bad-request',
      `${escapeControl(what)} belongs to uid ${st.uid}, not to you (uid ${uid}) or root, so it is not trusted to say where plugins live; remove it or pass --plugins-dir`,
    );
  }
  if ((st.mode & 0o002) !== 0) {
    throw new InstallError(
      'bad-request',
      `${escapeControl(what)} is writable by every user, so it is not trusted to say where plugins live; chmod o-w it or pass --plugins-dir`,
    );
  }
}

/**
 * The dir a `.magellon/plugins-dir` pointer names, or undefined when there is none. Anything but
 * one absolute path in a regular file of at most 4 KiB is refused, naming the file.
 */
export function readPointer(file: string, uid: number): string | undefined {
  const shown = escapeControl(file);
  const refuse = (why: string): never => {
    throw new InstallError(
      'bad-request',
      `${shown} is refused: ${why}; it should hold one absolute path (npm start writes it), or remove it`,
    );
  };
  let fd: number;
  try {
    // Non-blocking and never through a link: a FIFO planted here must not hang the command.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    return refuse(code === 'ELOOP' ? 'it is a symbolic link' : `it cannot be read (${code})`);
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return refuse(`it is ${kindOf(st)}, not a regular file`);
    checkOwner(st, uid, file);
    if (st.size > MAX_POINTER_BYTES) return refuse(`it is ${st.size} bytes, over ${MAX_POINTER_BYTES}`);
    const buf = Buffer.alloc(MAX_POINTER_BYTES + 1);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got > MAX_POINTER_BYTES) return refuse(`it is over ${MAX_POINTER_BYTES} bytes`);
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, got));
    } catch {
      return refuse('it is not UTF-8 text');
    }
  } finally {
    closeSync(fd);
  }
  const path = text.replace(/\r?\n$/, '');
  if (path === '') return refuse('it is empty');
  if (UNSAFE.test(path)) return refuse('it holds more than one line or a control character');
  if (!isAbsolute(path)) return refuse('the path in it is not absolute');
  return resolve(path);
}

function kindOf(st: { isFIFO(): boolean; isDirectory(): boolean; isSocket(): boolean }): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a folder';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

/**
 * Makes `<root>/.magellon/` say where `npm start` keeps plugins, so every `coreservice` command run
 * in the checkout finds them: `<root>/.magellon/plugins`, unless CoreService runs as root and a
 * folder above the checkout keeps other users out (a clone under /root): plugins run under uids of
 * their own and could not reach their files there, so they go to a dir under the temp dir, which
 * `.magellon/plugins-dir` names. Returns why they were moved, when they were.
 */
export function prepareCheckoutPluginsDir(
  root: string,
  opts: { uid?: number; tmp?: string } = {},
): { moved?: string } {
  const magellon = magellonDirIn(resolve(root));
  const local = localPluginsDir(magellon);
  const pointer = pointerFile(magellon);
  const closed = (opts.uid ?? process.getuid?.()) === 0 ? closedAncestor(local) : undefined;
  mkdirSync(magellon, { recursive: true, mode: 0o755 });
  if (!closed) {
    rmSync(pointer, { force: true });
    mkdirSync(local, { recursive: true, mode: 0o755 });
    return {};
  }
  const dir = checkoutTmpPluginsDir(
    opts.tmp ?? tmpdir(),
    createHash('sha256').update(local).digest('hex').slice(0, 12),
  );
  writeFileDurably(pointer, `${dir}\n`);
  chmodSync(pointer, 0o644);
  return { moved: `${closed} keeps other users out, and plugins run each under a uid of its own` };
}

/** The nearest folder above `path` that other users may not pass through (no o+x), if any. */
function closedAncestor(path: string): string | undefined {
  for (let at = dirname(path); ; at = dirname(at)) {
    let mode: number;
    try {
      mode = statSync(at).mode;
    } catch {
      mode = 0o755; // not made yet: CoreService makes it 0755
    }
    if ((mode & 0o001) === 0) return at;
    if (dirname(at) === at) return undefined;
  }
}
