// systemd units for the replicas of process and uv plugins: systemd (a user manager, or the system
// manager when CoreService is root) supervises them instead of CoreService's own supervisor. This
// file is pure: it renders one replica's `.service` unit (and names it), and the EnvironmentFile= its environment
// goes in, from what the process backend would run. Nothing here starts anything.
//
// Every string in a unit that comes from a manifest, a setting or a path is data, and is written so
// that systemd reads back exactly that string (systemd.syntax(7), systemd.service(5) "Command
// lines", systemd.unit(5) "Specifiers", systemd.exec(5) EnvironmentFile=):
//
//   - ExecStart= words are each double-quoted; inside, `\` and `"` are backslash-escaped (systemd
//     C-unescapes quoted words), `%` is `%%` (specifiers are expanded on the whole line, quotes or
//     not), `$` is `$$` (variables are expanded at start, quotes or not: `$$` is a literal `$`),
//     and other control characters are `\xNN`. A quoted `";"` is an argument, never the command
//     separator (only a bare `;` is). NUL, CR and LF are refused: a unit line cannot hold them
//     safely, and an argv never needs them. The executable must be an absolute path without quotes,
//     backslashes or control characters (systemd refuses those itself), nor `$` (systemd takes the
//     path before it expands variables, so `$$` would stay `$$`).
//   - Path settings (WorkingDirectory=, EnvironmentFile=, StandardOutput=append:…, ReadWritePaths=,
//     …) are not unquoted by systemd except the space-separated lists: their `%` is `%%`, and
//     a path with a control character, a quote, a backslash or a trailing space is refused.
//   - The environment never goes in the unit (`Environment=` would show secrets to anyone who can
//     `systemctl show` it): it goes in a 0600 EnvironmentFile= whose values are single-quoted
//     (systemd keeps a single-quoted value verbatim, newlines included; a `'` in a value is
//     written as `"'"`, which the parser appends to the same value).
//   - A line ending in `\` continues on the next: no value here can end in one.
//
// The restart policy is the manifest's: `no` → Restart=no, `on-failure` → on-failure, `always` and
// `unless-stopped` → always (systemd does not restart a unit that was stopped, which is what
// unless-stopped means). restart_max_retries N > 0 becomes StartLimitBurst=N+1 (the first start and
// N restarts) over StartLimitIntervalSec=infinity, so a replica is restarted at most N times until
// CoreService resets it (`systemctl reset-failed`); 0 (no cap) turns the start limit off.
//
// Identity: under a user manager the replica runs as that manager's user. Under the system manager
// (CoreService as root) it runs as the plugin's own uid and gid from identity.ts with User=/Group=,
// not DynamicUser=: the plugin's data dir is owned by the uid identity.ts allocated, recorded and
// claimed host-wide, while DynamicUser= would pick a uid of its own at every start from the very
// range identity.ts allocates from (61184–65519) — one that owns none of the plugin's files, and
// may be another plugin's.
import { createHash } from 'node:crypto';
import { MAIN_SCRIPT } from '../layout';

/** What a manifest's lifecycle says about restarts. */
export interface UnitLifecycle {
  restart_policy: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  restart_max_retries: number;
}

/** Which paths a replica may see and write (a SandboxSpec's paths). */
export interface UnitSandbox {
  /** The plugins dir: replaced by an empty read-only tmpfs in the replica's mount namespace. */
  pluginsDir: string;
  /** Mounted back read-only (the version's files, its venv). */
  readOnly: string[];
  /** Mounted back writable (the data dir). */
  writable: string[];
  /** Made inaccessible (CoreService's config file). */
  masked: string[];
}

export interface UnitInput {
  pluginId: string;
  version: string;
  replica: number;
  /** The command, exactly as the process backend spawns it: an absolute executable, then its arguments. */
  argv: string[];
  workingDirectory: string;
  /** The 0600 file with the replica's environment (see renderEnvironmentFile). */
  environmentFile: string;
  /** Where stdout (the READY line) and stderr (the log) go. */
  stdoutFile: string;
  stderrFile: string;
  lifecycle: UnitLifecycle;
  /** SIGTERM, then SIGKILL after this many seconds (the backend's stop grace). */
  stopGraceSeconds: number;
  /** Pause between a replica's end and its restart (default 1 s). */
  restartSeconds?: number;
  /** `user`: a `systemd --user` manager; `system`: PID 1, with User=/Group= the plugin's own. */
  manager: 'user' | 'system';
  /** The plugin's own uid/gid (identity.ts): required under the system manager. */
  identity?: { uid: number; gid: number };
  sandbox?: UnitSandbox;
  /** Without a sandbox: the paths it may write besides its private /tmp (its data dir). */
  readWritePaths?: string[];
}

/** Why a string cannot go in a unit. */
export class UnitRefusal extends Error {}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const shown = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

function checkText(what: string, s: string): void {
  if (LONE_SURROGATE.test(s)) throw new UnitRefusal(`${what} ${shown(s)} is not valid Unicode`);
}

/**
 * One argument of an ExecStart= line, quoted so that systemd passes exactly `arg` (see the file's
 * header); throws UnitRefusal for what no quoting can carry (NUL, CR, LF, invalid Unicode).
 */
export function quoteExecArg(arg: string): string {
  checkText('the argument', arg);
  if (/[\0\r\n]/.test(arg)) throw new UnitRefusal(`the argument ${shown(arg)} holds a NUL or a line break`);
  let out = '"';
  for (const ch of arg) {
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (ch === '%') out += '%%';
    else if (ch === '$') out += '$$';
    else if (CONTROL.test(ch)) out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A whole ExecStart= value: the executable (absolute, plain) and its arguments, each quoted. */
export function execLine(argv: string[]): string {
  const [file, ...args] = argv;
  if (file === undefined) throw new UnitRefusal('the command is empty');
  // Its path is taken before variables are expanded (argv[0] after): `$` could not be written once.
  if (!file.startsWith('/') || file.endsWith('/') || /["'\\$]/.test(file) || CONTROL.test(file)) {
    throw new UnitRefusal(
      `the executable ${shown(file)} must be an absolute path without quotes, backslashes, "$" or control characters`,
    );
  }
  return [file, ...args].map(quoteExecArg).join(' ');
}

/** A path for a path setting: absolute, normalized, nothing systemd would read otherwise; `%` as `%%`. */
export function unitPath(path: string): string {
  checkText('the path', path);
  if (
    !path.startsWith('/') ||
    CONTROL.test(path) ||
    /["'\\]/.test(path) ||
    /\s$/.test(path) ||
    /(^|\/)\.\.?(\/|$)/.test(path) ||
    path.includes('//') ||
    (path.length > 1 && path.endsWith('/'))
  ) {
    throw new UnitRefusal(
      `the path ${shown(path)} cannot go in a unit (absolute and normalized, without quotes, backslashes or control characters)`,
    );
  }
  return path.replaceAll('%', '%%');
}

/** A path in a space-separated list setting (ReadWritePaths=, BindPaths=, …): quoted as one word. */
const listPath = (path: string) => `"${unitPath(path)}"`;

/** Free text (Description=): no control characters, `%` as `%%`, never ending in `\`. */
export function unitText(text: string): string {
  checkText('the text', text);
  if (CONTROL.test(text) || text.endsWith('\\')) {
    throw new UnitRefusal(`the text ${shown(text)} holds control characters or ends in a backslash`);
  }
  return text.replaceAll('%', '%%');
}

/** Restart= for a manifest restart policy. */
export function restartSetting(policy: UnitLifecycle['restart_policy']): 'no' | 'on-failure' | 'always' {
  if (policy === 'no') return 'no';
  if (policy === 'on-failure') return 'on-failure';
  return 'always';
}

/** StartLimitBurst=/StartLimitIntervalSec= for restart_max_retries (0: no cap). */
export function startLimit(maxRetries: number): { burst?: number; interval: string } {
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new UnitRefusal(`restart_max_retries ${maxRetries} is not a count`);
  }
  return maxRetries === 0 ? { interval: '0' } : { burst: maxRetries + 1, interval: 'infinity' };
}

/**
 * A unit name for a replica: `magellon-<home>-<id>-<version>-<n>.service`, where `<home>` is the
 * first 8 hex digits of the SHA-256 of the plugin's home (two plugins dirs under one manager — a
 * checkout's and the user's — never share a unit), and every character systemd does not allow in a
 * unit name is written `\xNN` (as systemd-escape does), `-` too, so that the dashes between the
 * parts are the only ones (plugin `a-1` version `2.0.0` and plugin `a` version `1-2.0.0` never
 * share a name).
 */
export function unitName(home: string, pluginId: string, version: string, replica: number): string {
  const nameEscape = (text: string) =>
    [...Buffer.from(text, 'utf8')]
      .map((b) => {
        const c = String.fromCharCode(b);
        return /[A-Za-z0-9:_.]/.test(c) ? c : `\\x${b.toString(16).padStart(2, '0')}`;
      })
      .join('');
  const where = createHash('sha256').update(home).digest('hex').slice(0, 8);
  return `magellon-${where}-${nameEscape(pluginId)}-${nameEscape(version)}-${replica}.service`;
}

/** The command the process backend runs for a replica: `<interpreter> main.py --port N --host 127.0.0.1`. */
export function replicaArgv(interpreter: string, port: number): string[] {
  return [interpreter, MAIN_SCRIPT, '--port', String(port), '--host', '127.0.0.1'];
}

/** One replica's `.service` unit. Pure: the same input gives the same text. */
export function renderUnit(u: UnitInput): string {
  if (!Number.isInteger(u.replica) || u.replica < 0)
    throw new UnitRefusal(`replica ${u.replica} is not a number`);
  const grace = u.stopGraceSeconds;
  if (!(grace > 0) || !Number.isFinite(grace)) throw new UnitRefusal(`stop grace ${grace} is not positive`);
  const restartSec = u.restartSeconds ?? 1;
  if (!(restartSec >= 0) || !Number.isFinite(restartSec))
    throw new UnitRefusal(`restart pause ${restartSec} is not a duration`);
  if (u.manager === 'system' && !u.identity) {
    throw new UnitRefusal(
      'under the system manager a replica runs as its plugin’s own uid: give the identity',
    );
  }
  const restart = restartSetting(u.lifecycle.restart_policy);
  const limit = startLimit(u.lifecycle.restart_max_retries);
  const secs = (s: number) => `${Math.round(s * 1000)}ms`;

  const unit = [
    '[Unit]',
    `Description=${unitText(`Magellon plugin ${u.pluginId} ${u.version} replica ${u.replica}`)}`,
    ...(restart === 'no'
      ? []
      : [
          ...(limit.burst !== undefined ? [`StartLimitBurst=${limit.burst}`] : []),
          `StartLimitIntervalSec=${limit.interval}`,
        ]),
  ];
  const service = [
    '[Service]',
    'Type=exec',
    `ExecStart=${execLine(u.argv)}`,
    `WorkingDirectory=${unitPath(u.workingDirectory)}`,
    `EnvironmentFile=${unitPath(u.environmentFile)}`,
    `StandardOutput=truncate:${unitPath(u.stdoutFile)}`,
    `StandardError=append:${unitPath(u.stderrFile)}`,
    `Restart=${restart}`,
    `RestartSec=${secs(restartSec)}`,
    'KillMode=control-group',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${secs(grace)}`,
  ];
  if (u.manager === 'system' && u.identity) {
    service.push(`User=${u.identity.uid}`, `Group=${u.identity.gid}`);
  }
  const writable = u.sandbox?.writable ?? u.readWritePaths ?? [];
  // A private /tmp would hide a plugin whose files are kept under /tmp (a test's plugins dir).
  const paths = [
    u.argv[0] ?? '',
    u.workingDirectory,
    u.environmentFile,
    ...writable,
    ...(u.sandbox?.readOnly ?? []),
  ];
  const underTmp = paths.some((p) => /^\/(var\/)?tmp(\/|$)/.test(p));
  service.push(
    // A user manager (systemd 252) applies none of the settings below that need a mount namespace
    // unless the unit has a user namespace too: without this line they are silently dropped; with
    // it, a namespace that cannot be made fails the start (226/NAMESPACE) instead of running the
    // replica unprotected.
    ...(u.manager === 'user' ? ['PrivateUsers=yes'] : []),
    'NoNewPrivileges=yes',
    ...(underTmp ? [] : ['PrivateTmp=yes']),
    'ProtectSystem=strict',
    // "-": a data dir that is not there yet does not fail the start.
    ...(writable.length > 0 ? [`ReadWritePaths=${writable.map((p) => `"-${unitPath(p)}"`).join(' ')}`] : []),
    'ProtectHome=read-only',
    'UMask=0077',
    'LockPersonality=yes',
    'RestrictSUIDSGID=yes',
  );
  const s = u.sandbox;
  if (s) {
    // As the namespace isolation does with bubblewrap: the plugins dir is an empty read-only tmpfs
    // with only this replica's own version, venv and data dir mounted back ("-": a data dir not
    // made yet is skipped).
    service.push(`TemporaryFileSystem=${listPath(s.pluginsDir)}:ro`);
    if (s.readOnly.length > 0) service.push(`BindReadOnlyPaths=${s.readOnly.map(listPath).join(' ')}`);
    if (s.writable.length > 0)
      service.push(`BindPaths=${s.writable.map((p) => `"-${unitPath(p)}"`).join(' ')}`);
  }
  // The config file (every plugin's settings) is gone from the replica's view.
  if (s && s.masked.length > 0) {
    service.push(`InaccessiblePaths=${s.masked.map((p) => `"-${unitPath(p)}"`).join(' ')}`);
  }
  return `${[...unit, '', ...service].join('\n')}\n`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The EnvironmentFile= text for an environment: `NAME='value'` lines, each value exactly as given
 * (see the file's header). Names must be variable names; NUL and invalid Unicode are refused.
 */
export function renderEnvironmentFile(env: Record<string, string>): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new UnitRefusal(`${shown(name)} is not a variable name`);
    checkText(`the value of ${name}`, value);
    if (value.includes('\0')) throw new UnitRefusal(`the value of ${name} holds a NUL`);
    lines.push(
      `${name}=${value
        .split("'")
        .map((part) => `'${part}'`)
        .join(`"'"`)}`,
    );
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
