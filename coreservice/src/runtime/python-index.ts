// Where a uv entry's Python dependencies come from: PEP 503 simple indexes (config `python.indexes`,
// the first one primary, the rest extra; https://pypi.org/simple when nothing is configured, as
// Magellon does), or, offline (`python.offline`, MAGELLON_PYTHON_OFFLINE=1), the archive's own
// wheels/ only. MAGELLON_PYTHON_INDEX_URL replaces the configured list with one index.
//
// An index's credentials never reach a command line (anyone on the host reads argv in /proc), a
// log, a receipt or an error: they are written to a 0600 .netrc in the installer's throw-away HOME,
// which pip and uv read for the index's host, and the URLs they are given carry none. `scrub`
// removes them from anything an installer printed, in case one echoes them anyway.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InstallError } from '../errors';

export const DEFAULT_PYTHON_INDEX = 'https://pypi.org/simple';

/** One index, as the config file names it. */
export interface PythonIndex {
  url: string;
  username?: string;
  username_env?: string;
  password?: string;
  password_env?: string;
}

export interface PythonSettings {
  indexes?: PythonIndex[];
  offline?: boolean;
}

/** What an install uses: offline, or these indexes with their credentials resolved. */
export type PythonSource =
  | { offline: true }
  | { offline: false; indexes: { url: string; host: string; username?: string; password?: string }[] };

/** A URL an index may have: http(s), no credentials in it, nothing a command line or .netrc could misread. */
export const PYTHON_INDEX_URL = /^https?:\/\/[A-Za-z0-9.:[\]-]+(?:\/[A-Za-z0-9._~%/+=-]*)?$/;
/** A user name or password a .netrc holds as one token. */
export const NETRC_TOKEN = /^[\x21-\x7e]{1,1024}$/;
const NETRC_UNSAFE = /["'\\#]/;

let configured: PythonSettings = {};

/** The config file's `python:` section (cli.ts sets it once per run). */
export function configurePython(settings: PythonSettings | undefined): void {
  configured = settings ?? {};
}

function fromEnv(name: string, what: string, url: string): string {
  const value = process.env[name];
  if (!value || !NETRC_TOKEN.test(value) || NETRC_UNSAFE.test(value)) {
    throw new InstallError(
      'bad-request',
      `the Python index ${url} takes its ${what} from ${name}, which is ${value ? 'not printable ASCII without spaces or quotes' : 'not set'}`,
    );
  }
  return value;
}

/** Where dependencies come from now: the environment over the config file over the default. */
export function pythonSource(): PythonSource {
  if (
    process.env.MAGELLON_PYTHON_OFFLINE === '1' ||
    (configured.offline && !process.env.MAGELLON_PYTHON_INDEX_URL)
  )
    return { offline: true };
  const envUrl = process.env.MAGELLON_PYTHON_INDEX_URL;
  if (envUrl !== undefined && !PYTHON_INDEX_URL.test(envUrl)) {
    throw new InstallError(
      'bad-request',
      'MAGELLON_PYTHON_INDEX_URL is not an http(s) URL without credentials (put those in the config file)',
    );
  }
  const list: PythonIndex[] = envUrl
    ? [{ url: envUrl }]
    : configured.indexes?.length
      ? configured.indexes
      : [{ url: DEFAULT_PYTHON_INDEX }];
  return {
    offline: false,
    indexes: list.map((i) => {
      const username =
        i.username ?? (i.username_env ? fromEnv(i.username_env, 'user name', i.url) : undefined);
      const password =
        i.password ?? (i.password_env ? fromEnv(i.password_env, 'password', i.url) : undefined);
      return {
        url: i.url,
        host: new URL(i.url).hostname,
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
      };
    }),
  };
}

/**
 * Writes `<home>/.netrc` (0600) with the indexes' credentials, one `machine` per host; nothing when
 * none has any. pip and uv read it for requests to that host only.
 */
export function writeNetrc(home: string, source: PythonSource): void {
  if (source.offline) return;
  const lines = source.indexes
    .filter((i) => i.username !== undefined || i.password !== undefined)
    .map((i) => `machine ${i.host} login ${i.username ?? ''} password ${i.password ?? ''}\n`);
  if (lines.length === 0) return;
  writeFileSync(join(home, '.netrc'), lines.join(''), { mode: 0o600, flag: 'wx' });
}

/** The index's secrets (passwords, and user names too) that must never be shown. */
export function secretsOf(source: PythonSource): string[] {
  if (source.offline) return [];
  return source.indexes.flatMap((i) => (i.password !== undefined ? [i.password] : []));
}

/** `text` with every secret replaced by ****. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('****');
  return out;
}
