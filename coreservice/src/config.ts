// CoreService's configuration: built-in defaults < the config file (`--config`,
// MAGELLON_CORESERVICE_CONFIG) < environment variables < command-line flags. The file names the
// registries in priority order with a trust mode each, the platform SDK version, the plugins dir
// and per-plugin settings:
//
//   registries:
//     - url: http://mirror.lab.internal:8080   # asked first
//       root: magellon-hub.root.json           # verified with the hub's pinned TUF root, as the hub is
//       trust: all
//     - url: https://hub.magellon.org
//       root: magellon-hub.root.json           # the pinned root (relative: to this file's folder)
//       trust: verified-only                   # or allow-list, with allow: [fft, ctf]
//     - url: https://hub.lab.internal          # a private registry behind a bearer token:
//       token_env: MAGELLON_LAB_HUB_TOKEN      # or token: …; sent to this origin only
//       unsigned: true                         # it serves no signed metadata: accepted only when said so
//   sdk_version: 2.3.0
//   plugins_dir: /var/lib/magellon/plugins     # relative: to this file's folder
//   log_level: info                            # coreservice serve: error, warn, info, debug
//   plugins:
//     fft:
//       log_level: debug
//   isolation: auto                            # uid (root), namespace (bubblewrap), none
//   supervisor: coreservice                    # or systemd: process/uv replicas run as units
//   admin:
//     allowed_hosts: [coreservice.lab.internal] # Host names it answers to besides loopback
//     allowed_origins: [https://magellon.lab.internal]
//   docker:
//     network: host                            # where docker replicas run: host, none, container:<name>
//   python:                                  # where uv entries' dependencies come from
//     indexes:                               # PEP 503 simple indexes: the first --index-url, the rest extra
//       - url: https://pypi.org/simple       # the default when none is configured
//       - url: https://pypi.lab.internal/simple
//         username: ci                       # or username_env
//         password_env: LAB_PYPI_PASSWORD    # or password: …; never on a command line nor logged
//     offline: false                         # true: the archive's wheels/ only (MAGELLON_PYTHON_OFFLINE=1)
//   download:
//     min_bytes_per_second: 1024               # a hub slower than this over the window is given up on
//     min_rate_window_seconds: 30
//   broker:
//     url_env: MAGELLON_LAB_BROKER_URL         # or url: amqp://user:password@rabbitmq:5672/ (plugin
//                                              # liveness; MAGELLON_BROKER_URL wins over both)

import { dirname, resolve } from 'node:path';
import { parseYaml } from '@magellon/hub-core/node';
import { z } from 'zod';
import { InstallError } from './errors';
import { isPluginId } from './plugin-id';
import { dockerNetworkProblem } from './runtime/docker';
import { readSmallFile } from './runtime/files';
import { ISOLATION_SETTINGS } from './runtime/isolation';
import { NETRC_TOKEN, PYTHON_INDEX_URL } from './runtime/python-index';
import { SUPERVISORS } from './runtime/systemd';

export const TRUST_MODES = ['all', 'verified-only', 'allow-list'] as const;
export type TrustMode = (typeof TRUST_MODES)[number];

const registrySchema = z
  .object({
    url: z.string().regex(/^https?:\/\/\S+$/, 'a registry url must be an http(s) URL'),
    trust: z.enum(TRUST_MODES, { message: 'trust must be all, verified-only or allow-list' }).default('all'),
    /** With trust allow-list: the plugin ids accepted from this registry. */
    allow: z.array(z.string()).optional(),
    /**
     * A bearer token for a private registry (or `token_env`: the variable that holds it). It is sent
     * to the registry's own origin only (its documents, and archives it serves itself), never to
     * another host and never across a redirect; it is never logged nor written anywhere.
     */
    token: z
      .string()
      .regex(/^[\x21-\x7e]{1,4096}$/, 'a token is printable ASCII, without spaces')
      .optional(),
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'token_env names an environment variable')
      .optional(),
    /**
     * The registry's pinned TUF root (a path to a root.json the operator trusts): every document and
     * archive from it is verified against its signed metadata first (trust.ts). A mirror names the
     * root of the hub it mirrors.
     */
    root: z.string().min(1, 'root names a root.json file').max(4096).optional(),
    /**
     * Without a root, the registry is used only when this says so: its documents and archives are
     * then checked against each other (sha256) but nothing proves who made them nor how fresh they are.
     */
    unsigned: z.boolean().optional(),
  })
  .strict()
  .refine((r) => r.root !== undefined || r.unsigned === true, {
    message:
      'a registry needs its pinned TUF root (root: <root.json>), or unsigned: true to accept it without signed metadata',
  })
  .refine((r) => r.root === undefined || r.unsigned !== true, {
    message: 'a registry takes root or unsigned: true, not both',
  })
  .refine((r) => r.trust !== 'allow-list' || (r.allow && r.allow.length > 0), {
    message: 'a registry with trust allow-list needs allow: [plugin ids]',
  })
  .refine((r) => r.token === undefined || r.token_env === undefined, {
    message: 'a registry takes token or token_env, not both',
  });

/** A registry CoreService installs from, and what it accepts from it (a config file's `registries` entry). */
export type Registry = z.infer<typeof registrySchema>;

const secretToken = (what: string) =>
  z
    .string()
    .regex(/^[^\s"'\\#]{1,1024}$/, `${what} is printable ASCII without spaces, quotes or #`)
    .refine((v) => NETRC_TOKEN.test(v), `${what} is printable ASCII`);
const envName = (what: string) =>
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, `${what} names an environment variable`);

const pythonIndexSchema = z
  .object({
    url: z.string().regex(PYTHON_INDEX_URL, 'an index url is an http(s) URL without credentials in it'),
    username: secretToken('a username').optional(),
    username_env: envName('username_env').optional(),
    password: secretToken('a password').optional(),
    password_env: envName('password_env').optional(),
  })
  .strict()
  .refine((i) => i.username === undefined || i.username_env === undefined, {
    message: 'an index takes username or username_env, not both',
  })
  .refine((i) => i.password === undefined || i.password_env === undefined, {
    message: 'an index takes password or password_env, not both',
  });

const configSchema = z
  .object({
    registries: z.array(registrySchema).optional(),
    sdk_version: z.coerce.string().optional(),
    plugins_dir: z.string().min(1, 'plugins_dir needs a path').optional(),
    log_level: z
      .enum(['error', 'warn', 'info', 'debug'], { message: 'log_level must be error, warn, info or debug' })
      .optional(),
    plugins: z
      .record(
        z.string().refine(isPluginId, 'plugins: each key is a plugin id'),
        z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a setting key'), z.unknown()).nullish(),
      )
      .optional(),
    isolation: z
      .enum(ISOLATION_SETTINGS, { message: 'isolation must be auto, uid, namespace or none' })
      .optional(),
    supervisor: z.enum(SUPERVISORS, { message: 'supervisor must be coreservice or systemd' }).optional(),
    admin: z
      .object({
        allowed_hosts: z.array(z.string().regex(/^[A-Za-z0-9.:_-]{1,253}$/, 'a host name')).optional(),
        allowed_origins: z
          .array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin such as https://magellon.lab.internal'))
          .optional(),
      })
      .strict()
      .optional(),
    docker: z
      .object({
        network: z
          .string()
          .refine(
            (v) => dockerNetworkProblem(v) === undefined,
            'network must be host, none or container:<name>',
          )
          .optional(),
      })
      .strict()
      .optional(),
    python: z
      .object({
        indexes: z.array(pythonIndexSchema).min(1, 'indexes lists at least one index').optional(),
        offline: z.boolean().optional(),
      })
      .strict()
      .optional(),
    broker: z
      .object({
        url: z.string().min(1).max(2048).optional(),
        url_env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'url_env names an environment variable')
          .optional(),
      })
      .strict()
      .refine((b) => b.url === undefined || b.url_env === undefined, {
        message: 'broker takes url or url_env, not both',
      })
      .optional(),
    download: z
      .object({
        min_bytes_per_second: z.number().int().min(0).optional(),
        min_rate_window_seconds: z.number().positive().max(3600).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configSchema>;

const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads and validates a config file (a regular file, at most 1 MiB); errors name file:line:column. */
export function readConfigFile(path: string): ConfigFile {
  const read = readSmallFile(path, MAX_CONFIG_BYTES, { followLink: true });
  if (!read.ok) throw new InstallError('bad-request', `cannot read the config file ${path}: ${read.why}`);
  const text = read.text;
  const parsed = parseYaml(text, path, { flavour: 'core', maxBytes: MAX_CONFIG_BYTES });
  if (!parsed.ok) {
    const f = parsed.finding;
    throw new InstallError('bad-request', `${f.file}:${f.line ?? 1}:${f.column ?? 1}: ${f.message}`);
  }
  const data = parsed.value.data ?? {};
  const result = configSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new InstallError(
      'bad-request',
      `${path}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`,
    );
  }
  // A pinned root is a path relative to this file's folder.
  for (const reg of result.data.registries ?? []) {
    if (reg.root !== undefined) reg.root = resolve(dirname(resolve(path)), reg.root);
  }
  return result.data;
}

/**
 * A registry given as a plain URL (the programmatic API's shorthand) trusts everything it serves,
 * unsigned: the caller chose it. The config file and the CLI never make one without a root or an
 * explicit `unsigned`.
 */
export const asRegistry = (r: string | Registry): Registry =>
  typeof r === 'string' ? { url: r, trust: 'all', unsigned: true } : r;

/**
 * Turns `--hub` URLs (or MAGELLON_HUB_URL entries) into registries with one trust mode, each
 * verified with the pinned `root` when given, else unsigned only when `unsigned` says so (else a
 * use of it is refused with unsigned-registry).
 */
export function registriesFrom(
  urls: readonly string[],
  trust: TrustMode = 'all',
  signing: { root?: string; unsigned?: boolean } = {},
): Registry[] {
  return urls.map((url) => ({
    url,
    trust,
    ...(signing.root !== undefined ? { root: resolve(signing.root) } : {}),
    ...(signing.root === undefined && signing.unsigned ? { unsigned: true } : {}),
  }));
}

/**
 * The Authorization header for a registry's own requests, or undefined when it has no token. A
 * token_env that names an unset variable is an error that names the variable (never its value).
 */
export function registryAuthorization(reg: Registry): string | undefined {
  if (reg.token !== undefined) return `Bearer ${reg.token}`;
  if (reg.token_env === undefined) return undefined;
  const token = process.env[reg.token_env];
  if (!token || !/^[\x21-\x7e]{1,4096}$/.test(token)) {
    throw new InstallError(
      'bad-request',
      `the registry ${reg.url} takes its token from ${reg.token_env}, which is ${token ? 'not a printable token' : 'not set'}`,
    );
  }
  return `Bearer ${token}`;
}

/** Why a registry's trust mode refuses a plugin version, or undefined when it accepts it. */
export function trustRefusal(reg: Registry, pluginId: string, tier: string): string | undefined {
  if (reg.trust === 'verified-only' && tier !== 'verified') {
    return `${reg.url} is trusted for verified plugins only, and ${pluginId} is ${tier}`;
  }
  if (reg.trust === 'allow-list' && !(reg.allow ?? []).includes(pluginId)) {
    return `${pluginId} is not on the allow-list of ${reg.url}`;
  }
  return undefined;
}
