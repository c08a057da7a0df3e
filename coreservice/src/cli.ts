// The `coreservice` command (compiled to coreservice/dist/main.js by packages/cli/build.mjs):
// the installer for scripts and operators, over the same library the admin service uses.
import { parseArgs } from 'node:util';
import { escapeControl as safe } from '@magellon/hub-core/text';
import type { ConfigFile, Registry, TrustMode } from './config';
import { InstallError } from './errors';
import type { InstallEvent, RunOptions } from './install';
import type { PluginStatus } from './lifecycle';

// Each command loads only what it uses (the admin service's HTTP stack, the downloader, the zip
// reader…), so `coreservice --help` and `list` start fast.
const load = {
  config: () => import('./config'),
  doctor: () => import('./doctor'),
  install: () => import('./install'),
  lifecycle: () => import('./lifecycle'),
  serve: () => import('./service/serve'),
  upgrade: () => import('./upgrade'),
};

/** The trust modes --trust takes (the config file may also say allow-list). */
const FLAG_TRUST = ['all', 'verified-only'];

export const EXIT = { ok: 0, failed: 1, usage: 2, busy: 3 } as const;

const HELP = `coreservice — installs Magellon plugins from the hub, fail-closed

Usage:
  coreservice install <id>[@<version>] [--method M] [--no-start]
                                           install from the hub (latest, or that exact version),
                                           start it and wait until it is healthy (--no-start:
                                           prepared but stopped until coreservice start)
  coreservice install-file <x.mpn>         install an uploaded archive
  coreservice upgrade <id> [--to <v>] [--force-downgrade]
                                           the old version serves until the new one is healthy
  coreservice upgrades <id>                versions against the installed one
  coreservice uninstall <id>               stop it and remove every trace
  coreservice list
  coreservice status [<id>]                state, replicas, health (every plugin without <id>)
  coreservice start|stop|restart <id>
  coreservice logs <id> [--tail N]
  coreservice doctor                       roll back what a crash left (staging, stale locks, …)
  coreservice serve [--port N] [--host H]  the admin HTTP service (default 127.0.0.1:8090); it
                                           repairs, restarts and supervises plugins

Options:
  --hub <url>           a registry, asked in the order given (repeatable; default $MAGELLON_HUB_URL,
                        comma-separated, else http://127.0.0.1:8080)
  --plugins-dir <dir>   where plugins live (default $MAGELLON_PLUGINS_DIR, else ./plugins)
  --sdk-version <v>     refuse plugins whose requires_sdk does not admit it ($MAGELLON_SDK_VERSION)
  --method <m>          install with this method only (uv, subprocess, …); default: the first that fits
  --trust <mode>        what --hub registries may install: all (default) or verified-only
  --isolation <i>       how plugins are kept from CoreService and each other: auto (default: uid
                        as root, namespace with bubblewrap, else none), uid, namespace, none
                        ($MAGELLON_ISOLATION)
  --allowed-host <h>    serve: a Host name to answer to besides the loopback names (repeatable)
  --allowed-origin <o>  serve: a browser origin allowed to call it (repeatable; default none)
  --config <file>       registries with trust modes, sdk_version, plugins_dir, per-plugin settings
                        ($MAGELLON_CORESERVICE_CONFIG); flags and environment override it
  --json                one JSON document on stdout
  -h, --help            show this help

The admin service needs a token on every /admin route: $MAGELLON_ADMIN_TOKEN, or one it makes
and keeps in <plugins-dir>/.admin-token (mode 0600).

Any failure leaves the plugins dir as it was. Exit codes: 0 done, 1 failed (previous state
intact), 2 bad usage, 3 another operation on that plugin is in progress.`;

class UsageError extends Error {}

/** Runs one invocation; returns the exit code. Never throws for bad input. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const json = argv.includes('--json');
  try {
    parsed = parse(argv);
  } catch (err) {
    return report(
      json,
      err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
        ? new UsageError((err as Error).message)
        : err,
    );
  }
  const { command, args, values } = parsed;
  if (values.help || !command) {
    console.log(HELP);
    return command || values.help ? EXIT.ok : EXIT.usage;
  }
  // defaults < config file < environment < flags
  let file: ConfigFile = {};
  const configPath = values.config ?? process.env.MAGELLON_CORESERVICE_CONFIG;
  const trust = values.trust ?? 'all';
  try {
    if (configPath) file = (await load.config()).readConfigFile(configPath);
    if (!FLAG_TRUST.includes(trust)) {
      throw new UsageError('--trust takes all or verified-only (an allow-list belongs in the config file)');
    }
    const iso = values.isolation ?? process.env.MAGELLON_ISOLATION;
    if (iso !== undefined && !['auto', 'uid', 'namespace', 'none'].includes(iso)) {
      throw new UsageError('--isolation takes auto, uid, namespace or none');
    }
  } catch (err) {
    return report(json, err);
  }
  const envHubs = (process.env.MAGELLON_HUB_URL ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const registriesFrom = (urls: readonly string[]): Registry[] =>
    urls.map((url) => ({ url, trust: trust as TrustMode }));
  const hubs: Registry[] = values.hub?.length
    ? registriesFrom(values.hub)
    : envHubs.length
      ? registriesFrom(envHubs)
      : (file.registries ?? registriesFrom(['http://127.0.0.1:8080']));
  const pluginsDir =
    values['plugins-dir'] ?? process.env.MAGELLON_PLUGINS_DIR ?? file.plugins_dir ?? 'plugins';
  const sdkVersion = values['sdk-version'] ?? process.env.MAGELLON_SDK_VERSION ?? file.sdk_version;
  const isolation = values.isolation ?? process.env.MAGELLON_ISOLATION ?? file.isolation ?? 'auto';
  const run: RunOptions = {
    settings: {
      file: Object.fromEntries(Object.entries(file.plugins ?? {}).map(([k, v]) => [k, v ?? {}])),
    },
    isolation: isolation as RunOptions['isolation'],
    ...(configPath ? { configFile: configPath } : {}),
  };
  const timeouts = {
    minBytesPerSecond: file.download?.min_bytes_per_second,
    minRateWindowMs:
      file.download?.min_rate_window_seconds !== undefined
        ? file.download.min_rate_window_seconds * 1000
        : undefined,
  };
  const onEvent = json ? undefined : progressReporter();
  const method = values.method;
  const one = () => {
    if (args.length !== 1) throw new UsageError(`coreservice ${command} takes one argument`);
    return args[0] as string;
  };
  try {
    switch (command) {
      case 'install': {
        const [pluginId, version] = one().split('@') as [string, string | undefined];
        const r = await (await load.install()).installFromHub({
          pluginsDir,
          hubs,
          pluginId,
          version,
          onEvent,
          sdkVersion,
          method,
          run,
          timeouts,
          noStart: values['no-start'],
        });
        return done(
          json,
          r,
          `installed ${r.plugin_id} ${r.version} from ${r.registry}${values['no-start'] ? ' (not started: coreservice start to run it)' : ''}`,
        );
      }
      case 'install-file': {
        const r = await (await load.install()).installFromFile({
          pluginsDir,
          file: one(),
          onEvent,
          sdkVersion,
          method,
          run,
        });
        return done(json, r, `installed ${r.plugin_id} ${r.version} from an uploaded archive`);
      }
      case 'upgrade': {
        const r = await (await load.upgrade()).upgradeFromHub({
          pluginsDir,
          hubs,
          pluginId: one(),
          to: values.to,
          forceDowngrade: values['force-downgrade'],
          onEvent,
          sdkVersion,
          method,
          run,
          timeouts,
        });
        return done(json, r, `${r.to.plugin_id}: ${r.from.version} → ${r.to.version}`);
      }
      case 'upgrades': {
        const r = await (await load.upgrade()).listUpgrades({
          pluginsDir,
          hubs,
          pluginId: one(),
          sdkVersion,
        });
        const lines = r.versions.map(
          (v) =>
            `  ${v.version.padEnd(16)} ${v.verdict}${v.yanked ? ' (yanked)' : ''}${v.compatible === false ? ' (needs another SDK)' : ''}`,
        );
        return done(json, r, `installed ${r.installed}; ${r.hub} has:\n${lines.join('\n')}`);
      }
      case 'uninstall': {
        const r = await (await load.install()).uninstall(pluginsDir, one());
        return done(json, r, `uninstalled ${r.plugin_id} ${r.version}`);
      }
      case 'list': {
        if (args.length > 0) throw new UsageError('coreservice list takes no argument');
        const r = (await load.install()).listInstalled(pluginsDir);
        return done(
          json,
          r,
          r.length === 0
            ? 'no plugins installed'
            : r.map((x) => `${x.plugin_id} ${x.version} (${x.registry})`).join('\n'),
        );
      }
      case 'status': {
        if (args.length > 1) throw new UsageError('coreservice status takes at most one plugin id');
        const ids =
          args.length === 1
            ? [args[0]!]
            : (await load.install()).listInstalled(pluginsDir).map((r) => r.plugin_id);
        const { pluginStatus } = await load.lifecycle();
        const all = await Promise.all(ids.map((id) => pluginStatus(pluginsDir, id, { run })));
        const text = all.length === 0 ? 'no plugins installed' : all.map(describeStatus).join('\n');
        return done(json, args.length === 1 ? all[0] : all, text);
      }
      case 'start':
      case 'stop':
      case 'restart': {
        const { startPlugin, stopPlugin, restartPlugin } = await load.lifecycle();
        const fn = { start: startPlugin, stop: stopPlugin, restart: restartPlugin }[command];
        const r = await fn(pluginsDir, one(), run);
        return done(json, r, describeStatus(r));
      }
      case 'logs': {
        const tail = Number(values.tail ?? '100');
        if (!Number.isInteger(tail) || tail < 0) throw new UsageError('--tail takes a whole number');
        const lines = await (await load.lifecycle()).pluginLogs(pluginsDir, one(), tail);
        if (json) return done(json, { lines }, '');
        for (const l of lines) console.log(safe(l));
        return EXIT.ok;
      }
      case 'serve': {
        if (args.length > 0) throw new UsageError('coreservice serve takes no argument');
        const port = Number(values.port ?? '8090');
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new UsageError('--port takes a port number');
        const svc = await (await load.serve()).serveCoreService({
          pluginsDir,
          hubs,
          sdkVersion,
          port,
          host: values.host ?? '127.0.0.1',
          token: process.env.MAGELLON_ADMIN_TOKEN || undefined,
          run,
          timeouts,
          allowedHosts: [...(file.admin?.allowed_hosts ?? []), ...(values['allowed-host'] ?? [])],
          allowedOrigins: [...(file.admin?.allowed_origins ?? []), ...(values['allowed-origin'] ?? [])],
          log: (entry) =>
            process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`),
        });
        const where = svc.tokenFile
          ? `the admin token is in ${svc.tokenFile}`
          : 'the admin token is $MAGELLON_ADMIN_TOKEN';
        console.log(safe(`coreservice listening on ${svc.url} (${where}); plugins in ${pluginsDir}`));
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        await svc.close();
        return EXIT.ok;
      }
      case 'doctor': {
        if (args.length > 0) throw new UsageError('coreservice doctor takes no argument');
        const r = await (await load.doctor()).doctor(pluginsDir, { isolation: run.isolation });
        const lines = r.removed.map((x) => `  removed ${x.path}: ${x.why}`);
        if (r.busy.length > 0) lines.push(`  left alone (an operation is in progress): ${r.busy.join(', ')}`);
        if (r.isolation.level === 'none')
          console.error(`⚠ plugins are not isolated: ${safe(r.isolation.why)}`);
        return done(
          json,
          r,
          `${lines.length === 0 ? 'nothing to repair' : `repaired:\n${lines.join('\n')}`}\nisolation: ${r.isolation.level} (${r.isolation.why})`,
        );
      }
      default:
        throw new UsageError(`unknown command "${command}"; run coreservice --help`);
    }
  } catch (err) {
    return report(json, err);
  }
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      hub: { type: 'string', multiple: true },
      'plugins-dir': { type: 'string' },
      'sdk-version': { type: 'string' },
      to: { type: 'string' },
      method: { type: 'string' },
      config: { type: 'string' },
      trust: { type: 'string' },
      isolation: { type: 'string' },
      'allowed-host': { type: 'string', multiple: true },
      'allowed-origin': { type: 'string', multiple: true },
      port: { type: 'string' },
      host: { type: 'string' },
      tail: { type: 'string' },
      'force-downgrade': { type: 'boolean' },
      'no-start': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
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

function describeStatus(s: PluginStatus): string {
  const iso = s.isolation;
  const head = `${s.plugin_id} ${s.version} (${s.method}): ${s.state}${s.desired === 'stopped' ? ' (stopped by the operator)' : ''}; isolation ${iso.level}${iso.uid !== undefined ? ` (uid ${iso.uid})` : ''}${iso.level === 'none' ? ` ⚠ ${iso.why}` : ''}`;
  const lines = s.replicas.map(
    (r) =>
      `  replica ${r.replica}: ${r.state}${r.healthy ? ', healthy' : ''}${r.port ? ` on ${r.host}:${r.port}` : ''}${r.pid ? `, pid ${r.pid}` : ''}${r.restarts ? `, ${r.restarts} restart(s)` : ''}`,
  );
  return [head, ...lines].join('\n');
}

function done(json: boolean, value: unknown, text: string): number {
  if (json) console.log(JSON.stringify({ ok: true, result: value }, null, 2));
  else console.log(`✔ ${safe(text).replace(/\\n/g, '\n')}`);
  return EXIT.ok;
}

function report(json: boolean, err: unknown): number {
  const usage = err instanceof UsageError;
  const install = err instanceof InstallError ? err : undefined;
  const code = usage ? 'usage' : (install?.code ?? 'internal');
  const message = err instanceof Error ? err.message : String(err);
  if (json) {
    console.log(
      JSON.stringify(
        {
          ok: false,
          error: { code, message, ...(install ? { status: install.status, details: install.details } : {}) },
        },
        null,
        2,
      ),
    );
  } else {
    console.error(`✖ ${safe(message)}`);
    for (const d of install?.details ?? []) console.error(`  ${safe(d)}`);
    if (usage) console.error('Run coreservice --help for usage.');
  }
  if (usage) return EXIT.usage;
  if (install?.code === 'busy') return EXIT.busy;
  return EXIT.failed;
}
