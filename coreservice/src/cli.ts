// The `coreservice` command (compiled to coreservice/dist/main.js by packages/cli/build.mjs):
// the installer for scripts and operators, over the same library the admin service uses.
import { parseArgs } from 'node:util';
import {
  escapeControlKeepLines,
  inertJson,
  escapeControl as safe,
  UsageError,
} from '@magellon/hub-core/text';
import type { ConfigFile, Registry, TrustMode } from './config';
import { InstallError } from './errors';
import type { DownloadLimits, InstallEvent, RunOptions } from './install';
import type { PluginStatus } from './lifecycle';
import type { PluginsDirChoice } from './plugins-dir';
import type { LogLevel } from './service/serve';
import { CORESERVICE_VERSION } from './version';

// Each command loads only what it uses (the admin service's HTTP stack, the downloader, the zip
// reader…), so `coreservice --help` and `list` start fast.
const load = {
  config: () => import('./config'),
  doctor: () => import('./doctor'),
  install: () => import('./install'),
  lifecycle: () => import('./lifecycle'),
  lockfile: () => import('./lockfile'),
  liveness: () => import('./runtime/liveness'),
  pluginsDir: () => import('./plugins-dir'),
  pythonIndex: () => import('./runtime/python-index'),
  serve: () => import('./service/serve'),
  clientToken: () => import('./service/client-token'),
  systemd: () => import('./runtime/systemd'),
  upgrade: () => import('./upgrade'),
};

/** The commands that start replicas, and so listen on the broker (when there is one) while they run. */
const LISTENING_COMMANDS = new Set([
  'install',
  'install-file',
  'upgrade',
  'start',
  'restart',
  'scale',
  'sync',
]);

/** The trust modes --trust takes (the config file may also say allow-list). */
const FLAG_TRUST = ['all', 'verified-only'] as const;
/** The log levels of `serve` (service/serve.ts has the same list; this file loads it only to serve). */
const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

export const EXIT = { ok: 0, failed: 1, usage: 2, busy: 3 } as const;

const HELP = `coreservice ${CORESERVICE_VERSION} — installs Magellon plugins from the hub, fail-closed

Usage:
  coreservice install <id>[@<version>] [--method M] [--no-start]
                                           install from the hub (latest, or that exact version),
                                           start it and wait until it is healthy (--no-start:
                                           prepared but stopped until coreservice start)
  coreservice install-file <x.mpn>         install an uploaded archive
  coreservice upgrade <id> [--to <v>] [--force-downgrade]
                                           the old version serves until the new one is healthy
                                           (already at the latest: says it is up to date)
  coreservice upgrade <id> --file <x.mpn> [--force-downgrade]
                                           the same, from an archive on this host (no registry:
                                           air-gapped sites); it must be <id>'s
  coreservice upgrades <id>                versions against the installed one (pre-releases marked)
  coreservice snapshots <id>               its data dir as it was before each upgrade or restore
  coreservice restore <id> <snapshot>      put a snapshot back as its data dir (the current data
                                           becomes a snapshot first; a running plugin restarts)
  coreservice uninstall <id> [--purge]     stop it and remove it; its data/ and snapshots/ stay
                                           for a later install unless --purge (then every trace)
  coreservice list
  coreservice status [<id>]                state, replicas, health, and the settings each plugin
                                           was started with (secrets masked)
  coreservice start|stop|restart <id>
  coreservice pause <id>                   freeze every replica (containers and Slurm jobs only)
  coreservice unpause <id>                 thaw a paused plugin
  coreservice scale <id> <n>               run n replicas (within the manifest's resources.replicas)
  coreservice logs <id> [--tail N] [-f|--follow]
                                           its last N log lines (default 100); with -f, then
                                           every new line as it is written, until Ctrl-C
  coreservice client-token <id>            make (or replace) the token that opens the plugin's
                                           namespace /plugins/<id>/ of serve; printed this once
  coreservice export [--out <file>]        a lockfile (JSON) of what is installed: each plugin's
                                           version, archive sha256, registry, method, replicas and
                                           locked Python dependencies (default: to stdout)
  coreservice sync <lockfile> [--dry-run] [--prune]
                                           make this plugins dir hold exactly the lockfile's set
                                           (installs, upgrades and downgrades to the pinned archives
                                           from configured registries only; --prune uninstalls
                                           plugins it does not name); reports the drift, exit 1
                                           unless the dir now matches (--dry-run: the plan only)
  coreservice doctor                       roll back what a crash left (staging, stale locks, …)
  coreservice serve [--port N] [--host H] [--log-level L]
                                           the admin HTTP service (default 127.0.0.1:8090); it
                                           repairs, restarts and supervises plugins

Options:
  --plugins-dir <dir>   where plugins live. Without it: $MAGELLON_PLUGINS_DIR, else plugins_dir in
                        the config file, else the nearest .magellon/ folder at or above the current
                        dir (the dir its plugins-dir file names, else its plugins/; npm start makes
                        it), else $XDG_DATA_HOME/magellon/plugins, else /var/lib/magellon/plugins
                        for root and ~/.local/share/magellon/plugins for others. Every command says
                        which dir it used and why.
  --hub <url>           a registry, asked in the order given (repeatable; default $MAGELLON_HUB_URL,
                        comma-separated, else http://127.0.0.1:8080)
  --sdk-version <v>     refuse plugins whose requires_sdk does not admit it ($MAGELLON_SDK_VERSION)
  --method <m>          install with this method only (uv, subprocess, …); default: the first that fits
  --trust <mode>        what --hub registries may install: all (default) or verified-only
  --hub-root <file>     the --hub registries' pinned TUF root (a root.json you trust): every
                        document and archive is verified against the hub's signed metadata before
                        it is used ($MAGELLON_HUB_ROOT; root: per registry in the config file)
  --unsigned            accept --hub registries that serve no signed metadata
                        ($MAGELLON_HUB_UNSIGNED=1; unsigned: true in the config file). Without a
                        root or this, installs from them are refused (unsigned-registry)
  --isolation <i>       how plugins are kept from CoreService and each other: auto (default: uid
                        as root, namespace with bubblewrap, else none), uid, namespace, none
                        ($MAGELLON_ISOLATION)
  --supervisor <s>      who restarts process and uv replicas: coreservice (default) or systemd (each
                        replica a unit of root's system manager or the user's systemd --user;
                        refused when none answers) ($MAGELLON_SUPERVISOR, supervisor in the config)
  --log-level <l>       serve: error, warn, info (default) or debug; heartbeat requests are logged
                        only at debug ($MAGELLON_LOG_LEVEL, log_level in the config file)
  --allowed-host <h>    serve: a Host name to answer to besides the loopback names (repeatable)
  --allowed-origin <o>  serve: a browser origin allowed to call it (repeatable; default none)
  --config <file>       registries with trust modes, sdk_version, plugins_dir, log_level, per-plugin
                        settings ($MAGELLON_CORESERVICE_CONFIG); flags and environment override it
  --json                one JSON document on stdout (with plugins_dir: the dir and where it came from)
  -h, --help            show this help
  -v, --version         print the version of coreservice

The admin service needs a token on every /admin route: $MAGELLON_ADMIN_TOKEN, or one it makes
and keeps in <plugins-dir>/.admin-token (mode 0600).

With a RabbitMQ broker ($MAGELLON_BROKER_URL, or broker: {url | url_env} in the config file),
plugins that expect an announce are healthy once they announce on it as Magellon's SDK does; serve
and the commands that start plugins listen, and plugins are given the broker.

Any failure leaves the plugins dir as it was. Exit codes: 0 done, 1 failed (previous state
intact), 2 bad usage, 3 another operation on that plugin is in progress.`;

/**
 * What a command prints: with --json one document (`plugins_dir` beside the result), otherwise
 * text whose every line is escaped, the plugins dir named first.
 */
class Output {
  where: PluginsDirChoice | undefined;
  constructor(readonly json: boolean) {}

  private whereJson() {
    return this.where ? { plugins_dir: { ...this.where } } : {};
  }

  /** The line naming the plugins dir: `plugins dir: /x (from .magellon/ in /repo)`. */
  whereLine(): string | undefined {
    return this.where ? `plugins dir: ${safe(this.where.path)} (from ${safe(this.where.from)})` : undefined;
  }

  /**
   * Success. `text` is composed here: the values from input in it are escaped already (safe), so
   * its line breaks are the command's own; any other control character is escaped again.
   */
  done(
    value: unknown,
    text: string,
    opts: { namesDir?: boolean; extra?: Record<string, unknown>; failed?: boolean } = {},
  ): number {
    const ok = opts.failed !== true;
    if (this.json) {
      console.log(JSON.stringify({ ok, ...this.whereJson(), result: value, ...opts.extra }, null, 2));
      return ok ? EXIT.ok : EXIT.failed;
    }
    const where = this.whereLine();
    if (where && !opts.namesDir) console.log(where);
    console.log(`${ok ? '✔' : '✖'} ${escapeControlKeepLines(text)}`);
    return ok ? EXIT.ok : EXIT.failed;
  }

  /** A failure: the message and details, every line escaped; the exit code. */
  report(err: unknown): number {
    const usage = err instanceof UsageError;
    const install = err instanceof InstallError ? err : undefined;
    const code = usage ? 'usage' : (install?.code ?? 'internal');
    const message = err instanceof Error ? err.message : String(err);
    if (this.json) {
      console.log(
        JSON.stringify(
          {
            ok: false,
            ...this.whereJson(),
            error: {
              code,
              message,
              ...(install ? { status: install.status, details: install.details } : {}),
            },
          },
          null,
          2,
        ),
      );
    } else {
      const where = this.whereLine();
      if (where) console.error(where);
      // A message or detail may span lines (a child process's output): each is its own escaped line.
      const [first = '', ...rest] = message.split(/\r?\n/);
      console.error(`✖ ${safe(first)}`);
      for (const l of rest) console.error(`  ${safe(l)}`);
      for (const d of install?.details ?? []) for (const l of d.split(/\r?\n/)) console.error(`  ${safe(l)}`);
      if (usage) console.error('Run coreservice --help for usage.');
    }
    if (usage) return EXIT.usage;
    if (install?.code === 'busy') return EXIT.busy;
    return EXIT.failed;
  }
}

/** Node's parseArgs errors in our words (its own quote `'-- "--x"` and leave one open). */
function usageMessage(err: Error & { code?: string }): string {
  const option = /option '([^']*)'/i.exec(err.message)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined)
    return `unknown option "${safe(option)}"`;
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined)
    return `the option "${safe(option.replace(/ <value>$/, ''))}" needs a value`;
  return safe(err.message);
}

type Parsed = ReturnType<typeof parse>;
type Values = Parsed['values'];

/** `v` when it is one of `list` (narrowed to it). */
function oneOf<T extends string>(list: readonly T[], v: string): v is T {
  return (list as readonly string[]).includes(v);
}

/** What the config file, the environment and the flags settle before any command runs. */
interface Settings {
  file: ConfigFile;
  configPath?: string;
  trust: TrustMode;
  pluginsDir: string;
  logLevel: LogLevel;
  brokerUrl?: string;
  /** The plugins dir and where it came from (also named on the output). */
  where: PluginsDirChoice;
}

/** What every command is given: the settings, the run options, the output and its arguments. */
interface CommandContext extends Settings {
  command: string;
  args: string[];
  values: Values;
  out: Output;
  json: boolean;
  hubs: Registry[];
  sdkVersion?: string;
  run: RunOptions;
  timeouts: DownloadLimits;
  onEvent?: (e: InstallEvent) => void;
  method?: string;
  /** The command's one argument (a usage error when it has none, or more). */
  one: () => string;
  /** "in <plugins dir> (from <where>)", escaped. */
  inDir: string;
}

/** Runs one invocation; returns the exit code. Never throws for bad input. */
export async function main(argv: string[]): Promise<number> {
  let parsed: Parsed;
  const out = new Output(argv.includes('--json'));
  try {
    parsed = parse(argv);
  } catch (err) {
    return out.report(
      err instanceof UsageError
        ? err
        : (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
          ? new UsageError(usageMessage(err as Error))
          : err,
    );
  }
  const { command, values } = parsed;
  if (values.version) {
    if (out.json)
      console.log(JSON.stringify({ ok: true, result: { version: CORESERVICE_VERSION } }, null, 2));
    else console.log(CORESERVICE_VERSION);
    return EXIT.ok;
  }
  if (values.help || !command) {
    console.log(HELP);
    return command || values.help ? EXIT.ok : EXIT.usage;
  }
  let settings: Settings;
  try {
    settings = await resolveSettings(values, out);
  } catch (err) {
    return out.report(err);
  }
  const ctx = await commandContext({ ...parsed, command }, settings, out);
  try {
    // Commands that start replicas wait for their announce on the broker: they listen while they run.
    if (settings.brokerUrl && LISTENING_COMMANDS.has(command)) {
      ctx.run.liveness = new (await load.liveness()).Liveness(settings.brokerUrl).start();
      await ctx.run.liveness.waitConnected(10_000);
    }
    const handler = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!handler) throw new UsageError(`unknown command "${safe(command)}"`);
    return await handler(ctx);
  } catch (err) {
    return out.report(err);
  } finally {
    await ctx.run.liveness?.close();
  }
}

/**
 * The settings every command needs, checked before it runs: defaults < config file < environment
 * < flags. Applies the process-wide ones (supervisor, Python indexes, docker network) and names
 * the plugins dir on `out`.
 */
async function resolveSettings(values: Values, out: Output): Promise<Settings> {
  let file: ConfigFile = {};
  const configPath = values.config ?? process.env.MAGELLON_CORESERVICE_CONFIG;
  const trust = values.trust ?? 'all';
  if (configPath) file = (await load.config()).readConfigFile(configPath);
  if (!oneOf(FLAG_TRUST, trust)) {
    throw new UsageError('--trust takes all or verified-only (an allow-list belongs in the config file)');
  }
  const iso = values.isolation ?? process.env.MAGELLON_ISOLATION;
  if (iso !== undefined && !['auto', 'uid', 'namespace', 'none'].includes(iso)) {
    throw new UsageError('--isolation takes auto, uid, namespace or none');
  }
  const supervisor =
    values.supervisor ?? (process.env.MAGELLON_SUPERVISOR || undefined) ?? file.supervisor ?? 'coreservice';
  if (supervisor !== 'coreservice' && supervisor !== 'systemd') {
    throw new UsageError('--supervisor takes coreservice or systemd');
  }
  if (supervisor === 'systemd') await (await load.systemd()).applySupervisor(supervisor);
  // Where uv entries' dependencies come from (the environment wins over the file; see python-index.ts).
  (await load.pythonIndex()).configurePython(file.python);
  // The docker backend reads its network from the environment, which wins over the file.
  if (file.docker?.network && !process.env.MAGELLON_DOCKER_NETWORK)
    process.env.MAGELLON_DOCKER_NETWORK = file.docker.network;
  const logLevel =
    values['log-level'] ?? (process.env.MAGELLON_LOG_LEVEL || undefined) ?? file.log_level ?? 'info';
  if (!oneOf(LOG_LEVELS, logLevel)) {
    throw new UsageError(
      `${values['log-level'] !== undefined ? '--log-level' : process.env.MAGELLON_LOG_LEVEL ? '$MAGELLON_LOG_LEVEL' : 'log_level'} takes error, warn, info or debug`,
    );
  }
  const brokerUrl = (await import('./runtime/settings')).resolveBrokerUrl(file.broker);
  out.where = (await load.pluginsDir()).resolvePluginsDir({
    flag: values['plugins-dir'],
    config: { pluginsDir: file.plugins_dir, file: configPath },
  });
  return { file, configPath, trust, pluginsDir: out.where.path, logLevel, brokerUrl, where: out.where };
}

/** The registries, run options and download limits the settings make, and the command's arguments. */
async function commandContext(
  { command, args, values }: Parsed & { command: string },
  settings: Settings,
  out: Output,
): Promise<CommandContext> {
  const { file, configPath, brokerUrl, pluginsDir } = settings;
  const envHubs = (process.env.MAGELLON_HUB_URL ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // --hub and $MAGELLON_HUB_URL registries: verified with --hub-root ($MAGELLON_HUB_ROOT), or
  // accepted unsigned with --unsigned ($MAGELLON_HUB_UNSIGNED=1); neither: refused when used.
  const signing = {
    root: values['hub-root'] ?? (process.env.MAGELLON_HUB_ROOT || undefined),
    unsigned: values.unsigned === true || process.env.MAGELLON_HUB_UNSIGNED === '1',
  };
  const configModule = await load.config();
  const registriesFrom = (urls: readonly string[]): Registry[] =>
    configModule.registriesFrom(urls, settings.trust, signing);
  const hubs: Registry[] = values.hub?.length
    ? registriesFrom(values.hub)
    : envHubs.length
      ? registriesFrom(envHubs)
      : (file.registries ?? registriesFrom(['http://127.0.0.1:8080']));
  const isolation = values.isolation ?? process.env.MAGELLON_ISOLATION ?? file.isolation ?? 'auto';
  const run: RunOptions = {
    settings: {
      file: Object.fromEntries(Object.entries(file.plugins ?? {}).map(([k, v]) => [k, v ?? {}])),
    },
    isolation: isolation as RunOptions['isolation'],
    ...(configPath ? { configFile: configPath } : {}),
    ...(brokerUrl ? { brokerUrl } : {}),
  };
  return {
    ...settings,
    command,
    args,
    values,
    out,
    json: out.json,
    hubs,
    sdkVersion: values['sdk-version'] ?? process.env.MAGELLON_SDK_VERSION ?? file.sdk_version,
    run,
    timeouts: {
      minBytesPerSecond: file.download?.min_bytes_per_second,
      minRateWindowMs:
        file.download?.min_rate_window_seconds !== undefined
          ? file.download.min_rate_window_seconds * 1000
          : undefined,
    },
    onEvent: out.json ? undefined : progressReporter(),
    method: values.method,
    one: () => {
      const [only, ...more] = args;
      if (only === undefined || more.length > 0)
        throw new UsageError(`coreservice ${safe(command)} takes one argument`);
      return only;
    },
    inDir: `in ${safe(pluginsDir)} (from ${safe(settings.where.from)})`,
  };
}

type Command = (ctx: CommandContext) => Promise<number>;

async function installCommand(ctx: CommandContext): Promise<number> {
  const [pluginId, version] = ctx.one().split('@') as [string, string | undefined];
  const noStart = ctx.values['no-start'];
  const r = await (await load.install()).installFromHub({
    pluginsDir: ctx.pluginsDir,
    hubs: ctx.hubs,
    pluginId,
    version,
    onEvent: ctx.onEvent,
    sdkVersion: ctx.sdkVersion,
    method: ctx.method,
    run: ctx.run,
    timeouts: ctx.timeouts,
    noStart,
  });
  return ctx.out.done(
    r,
    `installed ${r.plugin_id} ${r.version} from ${safe(r.registry)}${noStart ? ' (not started: coreservice start to run it)' : ''}`,
  );
}

async function installFileCommand(ctx: CommandContext): Promise<number> {
  const r = await (await load.install()).installFromFile({
    pluginsDir: ctx.pluginsDir,
    file: ctx.one(),
    onEvent: ctx.onEvent,
    sdkVersion: ctx.sdkVersion,
    method: ctx.method,
    run: ctx.run,
  });
  return ctx.out.done(r, `installed ${r.plugin_id} ${r.version} from an uploaded archive`);
}

async function upgradeCommand(ctx: CommandContext): Promise<number> {
  const { values } = ctx;
  if (values.file !== undefined && values.to !== undefined)
    throw new UsageError('--to names a version of the hub; an archive (--file) is its own version');
  const { upgradeFromFile, upgradeFromHub } = await load.upgrade();
  const common = {
    pluginsDir: ctx.pluginsDir,
    pluginId: ctx.one(),
    forceDowngrade: values['force-downgrade'],
    onEvent: ctx.onEvent,
    sdkVersion: ctx.sdkVersion,
    method: ctx.method,
    run: ctx.run,
  };
  const r =
    values.file !== undefined
      ? await upgradeFromFile({ ...common, file: values.file })
      : await upgradeFromHub({ ...common, hubs: ctx.hubs, to: values.to, timeouts: ctx.timeouts });
  return ctx.out.done(
    r,
    r.up_to_date
      ? `${r.to.plugin_id} ${r.to.version} is up to date`
      : `${r.to.plugin_id}: ${r.from.version} → ${r.to.version}`,
  );
}

async function upgradesCommand(ctx: CommandContext): Promise<number> {
  const r = await (await load.upgrade()).listUpgrades({
    pluginsDir: ctx.pluginsDir,
    hubs: ctx.hubs,
    pluginId: ctx.one(),
    sdkVersion: ctx.sdkVersion,
  });
  const lines = r.versions.map(
    (v) =>
      `  ${safe(v.version).padEnd(16)} ${v.verdict}${v.prerelease ? ' (pre-release)' : ''}${v.yanked ? ' (yanked)' : ''}${v.compatible === false ? ' (needs another SDK)' : ''}`,
  );
  return ctx.out.done(r, `installed ${r.installed}; ${safe(r.hub)} has:\n${lines.join('\n')}`);
}

async function uninstallCommand(ctx: CommandContext): Promise<number> {
  const id = ctx.one();
  const r = await (await load.install()).uninstall(ctx.pluginsDir, id, { purge: ctx.values.purge });
  const dirs = (names: string[]) => names.map((k) => `${k}/`).join(' and ');
  if (!r.uninstalled)
    return ctx.out.done(
      r,
      `removed the ${dirs(r.purged_kept ?? [])} an earlier uninstall of ${safe(id)} kept`,
    );
  const { plugin_id, version } = r.uninstalled;
  return ctx.out.done(
    r,
    r.kept.length > 0
      ? `uninstalled ${plugin_id} ${version}; kept its ${dirs(r.kept)} for a later install (--purge removes them)`
      : `uninstalled ${plugin_id} ${version}; nothing of it is left`,
  );
}

async function snapshotsCommand(ctx: CommandContext): Promise<number> {
  const id = ctx.one();
  const list = (await load.lifecycle()).pluginSnapshots(ctx.pluginsDir, id);
  if (list.length === 0) return ctx.out.done(list, `${safe(id)} has no snapshots`);
  const lines = list.map(
    (x) => `  ${safe(x.name)}  of ${safe(x.from_version)}, taken ${safe(x.taken_at)}, ${x.size_bytes} bytes`,
  );
  return ctx.out.done(list, `snapshots of ${safe(id)} (oldest first):\n${lines.join('\n')}`);
}

async function restoreCommand(ctx: CommandContext): Promise<number> {
  const [id, name, ...more] = ctx.args;
  if (id === undefined || name === undefined || more.length > 0)
    throw new UsageError('coreservice restore takes a plugin id and a snapshot name');
  const r = await (await load.lifecycle()).restoreSnapshot(ctx.pluginsDir, id, name, ctx.run);
  return ctx.out.done(
    r,
    `restored ${safe(id)}'s data from ${safe(r.restored)}${r.kept_as ? `; the data it replaced is snapshot ${safe(r.kept_as)}` : ''}\n${describeStatus(r.status)}`,
  );
}

async function clientTokenCommand(ctx: CommandContext): Promise<number> {
  const id = ctx.one();
  const { isPluginId } = await import('./plugin-id');
  if (!isPluginId(id) || !(await load.install()).readReceipt(ctx.pluginsDir, id))
    throw new InstallError(
      'not-found',
      `no plugin ${JSON.stringify(safe(id.slice(0, 100)))} is installed ${ctx.inDir}`,
    );
  const made = (await load.clientToken()).rotateClientToken(ctx.pluginsDir, id);
  return ctx.out.done(
    { plugin_id: id, ...made },
    `${made.token}\n(the client token of ${id}: it opens /plugins/${id}/ and nothing else; it replaced any earlier one and is not shown again)`,
  );
}

async function listCommand(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError('coreservice list takes no argument');
  const { listInstalled, listUnreadable } = await load.install();
  const r = listInstalled(ctx.pluginsDir);
  const bad = unreadableReport(listUnreadable(ctx.pluginsDir));
  if (r.length === 0 && bad.lines.length === 0)
    return ctx.out.done(r, `no plugins installed ${ctx.inDir}`, { namesDir: true });
  const lines = r.map((x) => `${x.plugin_id} ${x.version} (${safe(x.registry)})`);
  return ctx.out.done(r, [...lines, ...bad.lines].join('\n'), { extra: bad.extra });
}

async function statusCommand(ctx: CommandContext): Promise<number> {
  const { args, pluginsDir } = ctx;
  if (args.length > 1) throw new UsageError('coreservice status takes at most one plugin id');
  const { listInstalled, listUnreadable } = await load.install();
  const ids = args[0] !== undefined ? [args[0]] : listInstalled(pluginsDir).map((r) => r.plugin_id);
  // One plugin asked for by id: a receipt that cannot be read is its error. All of them: the
  // ones whose receipt cannot be read are named after the others.
  const bad = unreadableReport(args.length === 1 ? [] : listUnreadable(pluginsDir));
  const { pluginStatus } = await load.lifecycle();
  const all = await Promise.all(ids.map((id) => pluginStatus(pluginsDir, id, { run: ctx.run })));
  if (all.length === 0 && bad.lines.length === 0)
    return ctx.out.done(all, `no plugins installed ${ctx.inDir}`, { namesDir: true });
  return ctx.out.done(
    args.length === 1 ? all[0] : all,
    [...all.map(describeStatus), ...bad.lines].join('\n'),
    { extra: bad.extra },
  );
}

/** start, stop, restart, pause and unpause. */
async function lifecycleCommand(ctx: CommandContext): Promise<number> {
  const { startPlugin, stopPlugin, restartPlugin, pausePlugin } = await load.lifecycle();
  const actions: Record<string, (dir: string, id: string, run: RunOptions) => Promise<PluginStatus>> = {
    start: startPlugin,
    stop: stopPlugin,
    restart: restartPlugin,
    pause: (dir, id, run) => pausePlugin(dir, id, true, run),
    unpause: (dir, id, run) => pausePlugin(dir, id, false, run),
  };
  const r = await actions[ctx.command]!(ctx.pluginsDir, ctx.one(), ctx.run);
  return ctx.out.done(r, describeStatus(r));
}

async function scaleCommand(ctx: CommandContext): Promise<number> {
  const [id, n, ...more] = ctx.args;
  if (id === undefined || n === undefined || more.length > 0)
    throw new UsageError('coreservice scale takes a plugin id and a number of replicas');
  if (!/^\d{1,6}$/.test(n)) throw new UsageError(`"${safe(n)}" is not a number of replicas`);
  const r = await (await load.lifecycle()).scalePlugin(ctx.pluginsDir, id, Number(n), ctx.run);
  return ctx.out.done(r, describeStatus(r));
}

async function logsCommand(ctx: CommandContext): Promise<number> {
  const { out, values } = ctx;
  const tail = Number(values.tail ?? '100');
  if (!Number.isInteger(tail) || tail < 0) throw new UsageError('--tail takes a whole number');
  if (values.follow) return followLogs(ctx, tail);
  const lines = await (await load.lifecycle()).pluginLogs(ctx.pluginsDir, ctx.one(), tail);
  if (ctx.json) return out.done({ lines }, '');
  // stdout is the plugin's log, to be piped: where it came from goes to stderr.
  console.error(out.whereLine());
  for (const l of lines) console.log(safe(l));
  return EXIT.ok;
}

/** `logs --follow`: every new line as it is written, until Ctrl-C (or SIGTERM); then exit 0. */
async function followLogs(ctx: CommandContext, tail: number): Promise<number> {
  if (ctx.json) throw new UsageError('logs --follow prints lines as they come; --json is one document');
  const id = ctx.one();
  console.error(ctx.out.whereLine());
  // The follow then ends what it started. The handlers stay until then (`on`, not `once`): with
  // none left, signal-exit (the lock library's) would end the process by the signal itself.
  const stop = new AbortController();
  const end = () => stop.abort();
  process.on('SIGINT', end);
  process.on('SIGTERM', end);
  try {
    await (await load.lifecycle()).followPluginLogs(
      ctx.pluginsDir,
      id,
      { tail, signal: stop.signal },
      (l, several) => console.log(safe(several ? `[${l.replica}] ${l.line}` : l.line)),
    );
  } finally {
    process.off('SIGINT', end);
    process.off('SIGTERM', end);
  }
  return EXIT.ok;
}

async function serveCommand(ctx: CommandContext): Promise<number> {
  const { values, file } = ctx;
  if (ctx.args.length > 0) throw new UsageError('coreservice serve takes no argument');
  const port = Number(values.port ?? '8090');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port takes a port number');
  const svc = await (await load.serve()).serveCoreService({
    pluginsDir: ctx.pluginsDir,
    pluginsDirFrom: ctx.where.from,
    hubs: ctx.hubs,
    sdkVersion: ctx.sdkVersion,
    port,
    host: values.host ?? '127.0.0.1',
    token: process.env.MAGELLON_ADMIN_TOKEN || undefined,
    run: ctx.run,
    timeouts: ctx.timeouts,
    logLevel: ctx.logLevel,
    allowedHosts: [...(file.admin?.allowed_hosts ?? []), ...(values['allowed-host'] ?? [])],
    allowedOrigins: [...(file.admin?.allowed_origins ?? []), ...(values['allowed-origin'] ?? [])],
    // JSON whose strings print inert (a plugin's or hub's text may be in an entry).
    log: (entry) => process.stderr.write(`${inertJson({ time: new Date().toISOString(), ...entry })}\n`),
  });
  const where = svc.tokenFile
    ? `the admin token is in ${safe(svc.tokenFile)}`
    : 'the admin token is $MAGELLON_ADMIN_TOKEN';
  console.log(`coreservice listening on ${safe(svc.url)} (${where}); plugins ${ctx.inDir}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await svc.close();
  return EXIT.ok;
}

async function exportCommand(ctx: CommandContext): Promise<number> {
  const { out, values } = ctx;
  if (ctx.args.length > 0) throw new UsageError('coreservice export takes no argument (--out <file>)');
  const { exportLock, lockText, writeLock } = await load.lockfile();
  const lock = exportLock(ctx.pluginsDir, { sdkVersion: ctx.sdkVersion });
  if (values.out === undefined) {
    // The lockfile itself is the output: stdout holds nothing else.
    const where = out.whereLine();
    if (where && !ctx.json) console.error(where);
    process.stdout.write(lockText(lock));
    return EXIT.ok;
  }
  writeLock(values.out, lock);
  return out.done(
    { out: values.out, plugins: lock.plugins.length },
    `wrote the lockfile ${safe(values.out)}: ${lock.plugins.length} plugin(s)`,
  );
}

async function syncCommand(ctx: CommandContext): Promise<number> {
  const { readLock, syncLock, syncLines } = await load.lockfile();
  const lock = readLock(ctx.one());
  const r = await syncLock({
    pluginsDir: ctx.pluginsDir,
    hubs: ctx.hubs,
    lock,
    dryRun: ctx.values['dry-run'],
    prune: ctx.values.prune,
    sdkVersion: ctx.sdkVersion,
    run: ctx.run,
    timeouts: ctx.timeouts,
    onEvent: ctx.onEvent,
  });
  const head = r.dry_run
    ? r.matches
      ? 'the plugins dir matches the lockfile; nothing to do'
      : 'the plugins dir differs from the lockfile; sync would (dry run, nothing changed):'
    : r.matches
      ? 'the plugins dir matches the lockfile'
      : 'the plugins dir does not match the lockfile:';
  return ctx.out.done(r, [head, ...syncLines(r)].join('\n'), { failed: !r.matches });
}

async function doctorCommand(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0) throw new UsageError('coreservice doctor takes no argument');
  const r = await (await load.doctor()).doctor(ctx.pluginsDir, { isolation: ctx.run.isolation });
  const lines = r.removed.map((x) => `  removed ${safe(x.path)}: ${safe(x.why)}`);
  if (r.busy.length > 0) lines.push(`  left alone (an operation is in progress): ${r.busy.join(', ')}`);
  for (const x of r.unreadable)
    lines.push(`  ⚠ unreadable record ${safe(x.path)}: ${safe(x.why)} (left as it is)`);
  if (r.isolation.level === 'none') console.error(`⚠ plugins are not isolated: ${safe(r.isolation.why)}`);
  return ctx.out.done(
    r,
    `${lines.length === 0 ? 'nothing to repair' : `repaired:\n${lines.join('\n')}`}\nisolation: ${r.isolation.level} (${safe(r.isolation.why)})`,
  );
}

/** Each command's handler (the usage text of each is HELP's). */
const COMMANDS: Record<string, Command> = {
  install: installCommand,
  'install-file': installFileCommand,
  upgrade: upgradeCommand,
  upgrades: upgradesCommand,
  uninstall: uninstallCommand,
  snapshots: snapshotsCommand,
  restore: restoreCommand,
  'client-token': clientTokenCommand,
  list: listCommand,
  status: statusCommand,
  start: lifecycleCommand,
  stop: lifecycleCommand,
  restart: lifecycleCommand,
  pause: lifecycleCommand,
  unpause: lifecycleCommand,
  scale: scaleCommand,
  logs: logsCommand,
  serve: serveCommand,
  export: exportCommand,
  sync: syncCommand,
  doctor: doctorCommand,
};

/**
 * Where `npm start` keeps plugins in the checkout at `root` (scripts/start.mjs calls this from the
 * compiled build, then runs `coreservice serve` there without --plugins-dir): unless
 * $MAGELLON_PLUGINS_DIR or the config file names a dir, `.magellon/` is made to say where (see
 * prepareCheckoutPluginsDir). Returns the dir every coreservice command run in the checkout then
 * resolves, and why plugins were moved out of the checkout, when they were.
 */
export async function npmStartPluginsDir(root: string): Promise<PluginsDirChoice & { moved?: string }> {
  const { prepareCheckoutPluginsDir, resolvePluginsDir } = await load.pluginsDir();
  const configPath = process.env.MAGELLON_CORESERVICE_CONFIG;
  const file: ConfigFile = configPath ? (await load.config()).readConfigFile(configPath) : {};
  const named = Boolean(process.env.MAGELLON_PLUGINS_DIR) || Boolean(file.plugins_dir);
  const { moved } = named ? {} : prepareCheckoutPluginsDir(root);
  const choice = resolvePluginsDir({ cwd: root, config: { pluginsDir: file.plugins_dir, file: configPath } });
  return { ...choice, ...(moved ? { moved } : {}) };
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      hub: { type: 'string', multiple: true },
      'hub-root': { type: 'string' },
      unsigned: { type: 'boolean' },
      'plugins-dir': { type: 'string' },
      'sdk-version': { type: 'string' },
      to: { type: 'string' },
      method: { type: 'string' },
      config: { type: 'string' },
      trust: { type: 'string' },
      isolation: { type: 'string' },
      supervisor: { type: 'string' },
      'allowed-host': { type: 'string', multiple: true },
      'allowed-origin': { type: 'string', multiple: true },
      port: { type: 'string' },
      host: { type: 'string' },
      tail: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      'force-downgrade': { type: 'boolean' },
      file: { type: 'string' },
      purge: { type: 'boolean' },
      out: { type: 'string' },
      'dry-run': { type: 'boolean' },
      prune: { type: 'boolean' },
      'log-level': { type: 'string' },
      'no-start': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  const [command, ...args] = positionals;
  return { command, args, values };
}

/** Progress on stderr: a bar that redraws itself on a terminal, plain lines otherwise. */
function progressReporter(): (e: InstallEvent) => void {
  const tty = process.stderr.isTTY === true;
  let lastTenth = -1;
  let barShown = false;
  const endBar = () => {
    if (barShown) process.stderr.write('\n');
    barShown = false;
  };
  return (e) => {
    if (e.stage === 'download') {
      const frac = e.total > 0 ? e.bytes / e.total : 1;
      if (tty) {
        const width = 30;
        const full = Math.round(frac * width);
        const mb = (n: number) => (n / 1048576).toFixed(1);
        process.stderr.write(
          `\r  [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.floor(frac * 100)).padStart(3)}%  ${mb(e.bytes)}/${mb(e.total)} MiB`,
        );
        barShown = true;
        if (e.bytes === e.total) endBar();
      } else {
        const tenth = Math.floor(frac * 10);
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          console.error(`  download ${tenth * 10}% (${e.bytes} of ${e.total} bytes)`);
        }
      }
      return;
    }
    endBar();
    if (e.stage === 'warning') console.error(`  warning: ${safe(e.message)}`);
    else if (e.stage === 'resolve') console.error(`  asking ${safe(e.hub)}`);
    else if (e.stage === 'prepare')
      console.error(`  prepare (${e.method})${e.message ? `: ${safe(e.message)}` : ''}`);
    else if (e.stage === 'start') console.error(`  start ${e.replicas} replica(s)`);
    else if (e.stage === 'health') console.error('  healthy');
    else console.error(`  ${e.stage}`);
  };
}

/** Plugins whose receipt cannot be read: lines for text, and `unreadable` beside the result in JSON. */
function unreadableReport(list: { plugin_id: string; problem: string }[]): {
  lines: string[];
  extra?: Record<string, unknown>;
} {
  if (list.length === 0) return { lines: [] };
  return {
    lines: list.map((u) => `⚠ ${safe(u.plugin_id)}: ${safe(u.problem)}`),
    extra: { unreadable: list },
  };
}

const FROM: Record<string, string> = { default: 'default', file: 'config file', env: 'environment' };

/** A plugin's status as text; every value from input escaped. */
function describeStatus(s: PluginStatus): string {
  const iso = s.isolation;
  const head = `${s.plugin_id} ${s.version} (${s.method}): ${s.state}, ${s.health}${s.desired === 'stopped' ? ' (stopped by the operator)' : ''}; scale ${s.scale.live}/${s.scale.desired} (${s.scale.min}..${s.scale.max}); isolation ${iso.level}${iso.uid !== undefined ? ` (uid ${iso.uid})` : ''}${iso.level === 'none' ? ` ⚠ ${safe(iso.why)}` : ''}`;
  const lines = s.replicas.map((r) => {
    const beat =
      r.heartbeat === 'none'
        ? 'no heartbeat'
        : `heartbeat ${r.heartbeat_age_seconds ?? '?'} s ago${r.heartbeat === 'stale' ? ' (stale)' : ''}`;
    return `  replica ${r.replica}${r.ref ? ` [${safe(r.ref)}]` : ''}: ${r.state}${r.paused ? ', paused' : ''}, ${r.healthy ? 'healthy' : 'unhealthy'}, ${beat}${r.port ? `, on ${safe(r.host ?? '')}:${r.port}` : ''}${r.pid ? `, pid ${r.pid}` : ''}${r.restarts ? `, ${r.restarts} restart(s)` : ''}`;
  });
  // What CoreService could not read about it: named, never guessed at.
  for (const p of s.problems) lines.push(`  ⚠ ${safe(p)}`);
  // What the plugin was given when it started (its run record), not what this shell would give it.
  if (s.settings_from) {
    const when = s.settings_from.started_at ? ` at ${safe(s.settings_from.started_at)}` : '';
    lines.push(`  settings (as replica ${s.settings_from.replica} was started${when}):`);
    for (const x of s.settings)
      lines.push(`    ${safe(x.key)} = ${safe(x.value)} (${FROM[x.from] ?? safe(x.from)})`);
  } else {
    lines.push('  settings: none recorded (not started since it was installed)');
  }
  return [head, ...lines].join('\n');
}
