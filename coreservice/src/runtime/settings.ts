// A plugin's settings, layered: CoreService's defaults < the config file's `plugins.<id>.settings`
// < `MAGELLON_PLUGIN_<ID>_<KEY>` in CoreService's environment. The result reaches the plugin as
// `MAGELLON_PLUGIN_<ID>_<KEY>` variables. The plugin's environment is built from scratch: CoreService's
// own secrets (the admin token, cloud keys) are never passed on, and secret-looking settings are
// masked wherever they are shown.
//
// A variable reaches exactly one plugin. `<ID>` is the id upper-cased with "-" and "." as "_", so
// ids can share a name (my-plugin, my_plugin: refused at install) or one can be the start of
// another's (ctf and ctf-gpu: MAGELLON_PLUGIN_CTF_GPU_TOKEN). A variable belongs to the known plugin
// (installed, being installed, or named in the config file) with the longest name it starts with,
// and to nobody when two known plugins share that name.

import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { brokerUrlProblem, MASKED_SECRET, scrubBrokerSecret, shownBrokerUrl } from '@magellon/hub-core';
import type { z } from 'zod';
import { InstallError } from '../errors';
import {
  brokerSettingsFile,
  dataDir,
  heartbeatKeyFile,
  homeParts,
  keptNames,
  pluginHomeNames,
} from '../layout';
import type { effectiveSettingSchema } from '../records';
import type { PluginRuntime } from './backend';
import { readSmallFile, writeFileDurably } from './files';

export interface Settings {
  /** `plugins.<id>.settings` from the config file, by plugin id. */
  file?: Record<string, Record<string, unknown>>;
  /** The environment to read overrides from (CoreService's own by default). */
  env?: NodeJS.ProcessEnv;
}

/** What a plugin id or key becomes in a variable name: upper case, anything else `_`. */
export const envName = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

const SECRET_KEY = /secret|token|passw(or)?d|credential|private|key/i;

/** Whether a setting's (or a variable's) value must never be shown (logs, status, receipts). */
export const isSecretKey = (key: string) => SECRET_KEY.test(key);

/** What a secret value is shown as. */
export const MASKED = MASKED_SECRET;

/** Variables a plugin process inherits from CoreService: the basics a program needs, nothing else. */
const INHERITED = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME'];

export type EffectiveSetting = z.infer<typeof effectiveSettingSchema>;

/** Plugin ids CoreService knows besides `pluginId`: the plugin dirs beside its home and the config file's. */
function knownIds(pluginId: string, home: string, settings: Settings): Set<string> {
  const ids = new Set([pluginId, ...Object.keys(settings.file ?? {})]);
  // A home an uninstall kept is no plugin: its name takes no variables from another.
  const { pluginsDir } = homeParts(home);
  for (const name of pluginHomeNames(pluginsDir)) if (!keptNames(join(pluginsDir, name))) ids.add(name);
  return ids;
}

/**
 * The setting keys `MAGELLON_PLUGIN_*` variables give `pluginId`: only the variables whose longest
 * matching plugin name is this plugin's, and none when another known plugin has the same name.
 */
function envOverrides(pluginId: string, known: Set<string>, env: NodeJS.ProcessEnv): [string, string][] {
  const mine = envName(pluginId);
  const names = [...known].filter((id) => id !== pluginId).map(envName);
  if (names.includes(mine)) return [];
  const longer = names.filter((n) => n.length > mine.length && n.startsWith(`${mine}_`));
  const prefix = `MAGELLON_PLUGIN_${mine}_`;
  const out: [string, string][] = [];
  for (const [name, v] of Object.entries(env)) {
    if (!name.startsWith(prefix) || name.length === prefix.length || v === undefined) continue;
    const rest = name.slice('MAGELLON_PLUGIN_'.length);
    if (longer.some((n) => rest.startsWith(`${n}_`))) continue;
    out.push([name.slice(prefix.length), v]);
  }
  return out;
}

/** Another plugin among `ids` whose variables would have the same name as `pluginId`'s. */
export function envNameTwin(pluginId: string, ids: Iterable<string>): string | undefined {
  for (const other of ids) if (other !== pluginId && envName(other) === envName(pluginId)) return other;
  return undefined;
}

/** The layered settings of one plugin, keys in lower case. */
export function effectiveSettings(
  pluginId: string,
  home: string,
  settings: Settings = {},
): EffectiveSetting[] {
  const out = new Map<string, EffectiveSetting>();
  const put = (key: string, value: unknown, from: EffectiveSetting['from']) => {
    if (value === null || value === undefined || typeof value === 'object') return;
    const k = key.toLowerCase();
    out.set(k, { key: k, value: String(value), from });
  };
  put('data_dir', dataDir(home), 'default');
  put('log_level', 'info', 'default');
  const fromFile = settings.file ?? {};
  if (Object.hasOwn(fromFile, pluginId))
    for (const [k, v] of Object.entries(fromFile[pluginId] ?? {})) put(k, v, 'file');
  for (const [k, v] of envOverrides(
    pluginId,
    knownIds(pluginId, home, settings),
    settings.env ?? process.env,
  )) {
    put(k, v, 'env');
  }
  return [...out.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Settings for display (and for the run record): secret values masked. */
export function shownSettings(list: EffectiveSetting[]): EffectiveSetting[] {
  return list.map((s) => (isSecretKey(s.key) ? { ...s, value: MASKED } : s));
}

/** What a replica's run record keeps of what it was started with: settings and environment, secrets masked. */
export const recordedStart = (
  settings: EffectiveSetting[] | undefined,
  env: Record<string, string>,
  pluginId: string,
) => ({
  settings: shownSettings(settings ?? []),
  environment: shownEnvironment(env, pluginId),
});

/**
 * A plugin's environment for display (and for the run record): every variable whose name looks
 * secret masked (MAGELLON_HEARTBEAT_TOKEN among them), and the secret that ends
 * MAGELLON_HEARTBEAT_URL too.
 */
export function shownEnvironment(env: Record<string, string>, pluginId?: string): Record<string, string> {
  const prefix = pluginId === undefined ? undefined : `MAGELLON_PLUGIN_${envName(pluginId)}_`;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    // A setting's variable is judged by its key (a plugin named keypicker has no secret log level).
    const key = prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (isSecretKey(key)) out[name] = MASKED;
    else if (name === 'MAGELLON_HEARTBEAT_URL') out[name] = value.replace(/\/[^/]*$/, `/${MASKED}`);
    else if (name === BROKER_URL_ENV) out[name] = shownBrokerUrl(value);
    else out[name] = value;
  }
  return out;
}

/**
 * The plugin's heartbeat secret, made on first use and kept in its home (layout.ts; root's
 * alone under isolation): only that plugin is told it, so nothing else can report for it.
 */
export function heartbeatKey(home: string, create = true): string | undefined {
  const file = heartbeatKeyFile(home);
  const kept = readSmallFile(file, 256);
  if (kept.ok && /^[A-Za-z0-9_-]{43}$/.test(kept.text.trim())) return kept.text.trim();
  if (!create) return undefined;
  const key = randomBytes(32).toString('base64url');
  writeFileDurably(file, `${key}\n`);
  return key;
}

/** How often plugins beat when CoreService does not say (the runtime contract's default). */
export const DEFAULT_HEARTBEAT_SECONDS = 5;

/** The heartbeat interval plugins are given (MAGELLON_HEARTBEAT_SECONDS), in seconds. */
export const heartbeatSeconds = (run: { heartbeatSeconds?: number }): number =>
  run.heartbeatSeconds !== undefined && run.heartbeatSeconds > 0
    ? run.heartbeatSeconds
    : DEFAULT_HEARTBEAT_SECONDS;

/** A replica's id (MAGELLON_REPLICA_ID): what its heartbeats name it by. */
export const replicaId = (pluginId: string, replica: number) => `${pluginId}-${replica}`;

/** The environment a plugin process starts with. */
export function pluginEnv(
  rt: Pick<PluginRuntime, 'pluginId' | 'home' | 'sandbox'>,
  run: PluginStartOptions = {},
): Record<string, string> {
  return pluginStart(rt, run).env;
}

/** What pluginStart needs of how replicas are run. */
export interface PluginStartOptions {
  settings?: Settings;
  heartbeatUrl?: string;
  heartbeatSeconds?: number;
  /** The broker the plugin announces on (MAGELLON_BROKER_URL and its SDK settings file). */
  brokerUrl?: string;
}

/** The environment a plugin process starts with, and the settings in it (for its run record). */
export function pluginStart(
  rt: Pick<PluginRuntime, 'pluginId' | 'home' | 'sandbox'>,
  run: PluginStartOptions = {},
): { env: Record<string, string>; settings: EffectiveSetting[] } {
  const { settings, heartbeatUrl } = run;
  const isolated = rt.sandbox !== undefined && rt.sandbox.level !== 'none';
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  const prefix = `MAGELLON_PLUGIN_${envName(rt.pluginId)}_`;
  const given = effectiveSettings(rt.pluginId, rt.home, settings);
  for (const s of given) env[prefix + envName(s.key)] = s.value;
  env.MAGELLON_PLUGIN_HOST = '127.0.0.1';
  env.MAGELLON_PLUGIN_DATA_DIR = env[`${prefix}DATA_DIR`] ?? dataDir(rt.home);
  if (isolated) {
    // Its own user: a home it may write, and not CoreService's name.
    env.HOME = dataDir(rt.home);
    delete env.USER;
    delete env.LOGNAME;
    delete env.TMPDIR;
  }
  if (heartbeatUrl) {
    // The secret travels in the URL, so plugins that only know MAGELLON_HEARTBEAT_URL send it too.
    const key = heartbeatKey(rt.home)!;
    env.MAGELLON_HEARTBEAT_URL = `${heartbeatUrl.replace(/\/+$/, '')}/${key}`;
    env.MAGELLON_HEARTBEAT_TOKEN = key;
    if (run.heartbeatSeconds) env.MAGELLON_HEARTBEAT_SECONDS = String(run.heartbeatSeconds);
  }
  if (run.brokerUrl) {
    // As Magellon's installer hands it over, and in the SDK's own settings form.
    env[BROKER_URL_ENV] = run.brokerUrl;
    env.MAGELLON_SETTINGS_FILE = writeBrokerSettings(rt, run.brokerUrl);
  }
  return { env, settings: given };
}

// ----------------------------------------------------------------------------- the broker

/** The variable that names the broker (CoreService's, and what a plugin is given). */
export const BROKER_URL_ENV = 'MAGELLON_BROKER_URL';

// The URL's rules (what is a broker URL, how it is shown, how its password is scrubbed) are the
// domain library's (shared with hub test), re-exported here for CoreService's modules.
export { brokerUrlProblem, scrubBrokerSecret, shownBrokerUrl };

/**
 * The broker CoreService uses: MAGELLON_BROKER_URL, else the config file's `broker.url`, else the
 * variable its `broker.url_env` names; undefined when none is set. A bad URL is an error that never
 * shows the URL's password.
 */
export function resolveBrokerUrl(
  file: { url?: string; url_env?: string } | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const from = env[BROKER_URL_ENV]
    ? { url: env[BROKER_URL_ENV], where: `$${BROKER_URL_ENV}` }
    : file?.url !== undefined
      ? { url: file.url, where: 'broker.url' }
      : file?.url_env !== undefined
        ? { url: env[file.url_env], where: `$${file.url_env} (broker.url_env)` }
        : undefined;
  if (from === undefined) return undefined;
  if (!from.url) throw new InstallError('bad-request', `${from.where} is not set`);
  const problem = brokerUrlProblem(from.url);
  if (problem) throw new InstallError('bad-request', `${from.where}: ${problem}`);
  return from.url;
}

/**
 * The broker in the Magellon SDK's settings form, a YAML file with its `rabbitmq_settings` block
 * (HOST_NAME, PORT, USER_NAME, PASSWORD, VIRTUAL_HOST, SSL_ENABLED), which MAGELLON_SETTINGS_FILE
 * names. Written afresh at every start into the plugin's home: 0600, and under uid isolation
 * root's with the plugin's own group, 0640, so the plugin can read it and no other plugin can.
 */
export function brokerSettingsYaml(url: string): string {
  const u = new URL(url);
  const vhost = decodeURIComponent(u.pathname.replace(/^\//, '')) || '/';
  const tls = u.protocol === 'amqps:';
  const port = u.port ? Number(u.port) : tls ? 5671 : 5672;
  // JSON strings are YAML scalars: whatever a password holds, it stays one value.
  const q = (v: string) => JSON.stringify(v);
  return [
    '# Written by CoreService at every start of this plugin: the broker it announces on.',
    'rabbitmq_settings:',
    `  HOST_NAME: ${q(u.hostname.replace(/^\[|\]$/g, ''))}`,
    `  PORT: ${port}`,
    `  USER_NAME: ${q(decodeURIComponent(u.username) || 'guest')}`,
    `  PASSWORD: ${q(decodeURIComponent(u.password) || 'guest')}`,
    `  VIRTUAL_HOST: ${q(vhost)}`,
    `  SSL_ENABLED: ${tls}`,
    '',
  ].join('\n');
}

function writeBrokerSettings(rt: Pick<PluginRuntime, 'home' | 'sandbox'>, url: string): string {
  const file = brokerSettingsFile(rt.home);
  writeFileDurably(file, brokerSettingsYaml(url));
  const identity = rt.sandbox?.identity;
  if (identity) {
    chownSync(file, 0, identity.gid);
    chmodSync(file, 0o640);
  }
  return file;
}
