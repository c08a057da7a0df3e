// A plugin's settings, layered: CoreService's defaults < the config file's `plugins.<id>.settings`
// < `MAGELLON_PLUGIN_<ID>_<KEY>` in CoreService's environment. The result reaches the plugin as
// `MAGELLON_PLUGIN_<ID>_<KEY>` variables. The plugin's environment is built from scratch: CoreService's
// own secrets (the admin token, cloud keys) are never passed on, and secret-looking settings are
// masked wherever they are shown.
import { join } from 'node:path';
import type { PluginRuntime } from './backend';

export interface Settings {
  /** `plugins.<id>.settings` from the config file, by plugin id. */
  file?: Record<string, Record<string, unknown>>;
  /** The environment to read overrides from (CoreService's own by default). */
  env?: NodeJS.ProcessEnv;
}

/** What a plugin id or key becomes in a variable name: upper case, anything else `_`. */
export const envName = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

const SECRET_KEY = /secret|token|password|passwd|credential|private|api_?key/i;

/** Whether a setting's value must never be shown (logs, status, receipts). */
export const isSecretKey = (key: string) => SECRET_KEY.test(key);

/** Variables a plugin process inherits from CoreService: the basics a program needs, nothing else. */
const INHERITED = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME'];

export interface EffectiveSetting {
  key: string;
  value: string;
  from: 'default' | 'file' | 'env';
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
  put('data_dir', join(home, 'data'), 'default');
  put('log_level', 'info', 'default');
  for (const [k, v] of Object.entries(settings.file?.[pluginId] ?? {})) put(k, v, 'file');
  const prefix = `MAGELLON_PLUGIN_${envName(pluginId)}_`;
  for (const [name, v] of Object.entries(settings.env ?? process.env)) {
    if (name.startsWith(prefix) && name.length > prefix.length && v !== undefined)
      put(name.slice(prefix.length), v, 'env');
  }
  return [...out.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Settings for display: secret values masked. */
export function shownSettings(list: EffectiveSetting[]): EffectiveSetting[] {
  return list.map((s) => (isSecretKey(s.key) ? { ...s, value: '••••' } : s));
}

/** The environment a plugin process starts with. */
export function pluginEnv(
  rt: Pick<PluginRuntime, 'pluginId' | 'home'>,
  run: { settings?: Settings; heartbeatUrl?: string; heartbeatSeconds?: number } = {},
): Record<string, string> {
  const { settings, heartbeatUrl } = run;
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  const prefix = `MAGELLON_PLUGIN_${envName(rt.pluginId)}_`;
  for (const s of effectiveSettings(rt.pluginId, rt.home, settings)) env[prefix + envName(s.key)] = s.value;
  env.MAGELLON_PLUGIN_HOST = '127.0.0.1';
  env.MAGELLON_PLUGIN_DATA_DIR = env[`${prefix}DATA_DIR`] ?? join(rt.home, 'data');
  if (heartbeatUrl) {
    env.MAGELLON_HEARTBEAT_URL = heartbeatUrl;
    if (run.heartbeatSeconds) env.MAGELLON_HEARTBEAT_SECONDS = String(run.heartbeatSeconds);
  }
  return env;
}
