// The `coreservice` command (compiled to coreservice/dist/main.js by packages/cli/build.mjs):
// the installer for scripts and operators, over the same library the admin service uses.
import { parseArgs } from 'node:util';
import { escapeControl as safe } from '@magellon/hub-core/text';
import { doctor } from './doctor';
import { InstallError } from './errors';
import { type InstallEvent, installFromFile, installFromHub, listInstalled, uninstall } from './install';
import { listUpgrades, upgradeFromHub } from './upgrade';

export const EXIT = { ok: 0, failed: 1, usage: 2, busy: 3 } as const;

const HELP = `coreservice — installs Magellon plugins from the hub, fail-closed

Usage:
  coreservice install <id>[@<version>]     install from the hub (latest, or that exact version)
  coreservice install-file <x.mpn>         install an uploaded archive
  coreservice upgrade <id> [--to <v>] [--force-downgrade]
  coreservice upgrades <id>                versions against the installed one
  coreservice uninstall <id>
  coreservice list
  coreservice doctor                       roll back what a crash left (staging, stale locks, …)

Options:
  --hub <url>           a registry, asked in the order given (repeatable; default $MAGELLON_HUB_URL,
                        comma-separated, else http://127.0.0.1:8080)
  --plugins-dir <dir>   where plugins live (default $MAGELLON_PLUGINS_DIR, else ./plugins)
  --sdk-version <v>     refuse plugins whose requires_sdk does not admit it ($MAGELLON_SDK_VERSION)
  --json                one JSON document on stdout
  -h, --help            show this help

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
  const hubs = values.hub?.length
    ? values.hub
    : (process.env.MAGELLON_HUB_URL ?? 'http://127.0.0.1:8080')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  const pluginsDir = values['plugins-dir'] ?? process.env.MAGELLON_PLUGINS_DIR ?? 'plugins';
  const sdkVersion = values['sdk-version'] ?? process.env.MAGELLON_SDK_VERSION;
  const onEvent = json ? undefined : progress;
  const one = () => {
    if (args.length !== 1) throw new UsageError(`coreservice ${command} takes one argument`);
    return args[0] as string;
  };
  try {
    switch (command) {
      case 'install': {
        const [pluginId, version] = one().split('@') as [string, string | undefined];
        const r = await installFromHub({ pluginsDir, hubs, pluginId, version, onEvent, sdkVersion });
        return done(json, r, `installed ${r.plugin_id} ${r.version} from ${r.registry}`);
      }
      case 'install-file': {
        const r = await installFromFile({ pluginsDir, file: one(), onEvent, sdkVersion });
        return done(json, r, `installed ${r.plugin_id} ${r.version} from an uploaded archive`);
      }
      case 'upgrade': {
        const r = await upgradeFromHub({
          pluginsDir,
          hubs,
          pluginId: one(),
          to: values.to,
          forceDowngrade: values['force-downgrade'],
          onEvent,
        });
        return done(json, r, `${r.to.plugin_id}: ${r.from.version} → ${r.to.version}`);
      }
      case 'upgrades': {
        const r = await listUpgrades({ pluginsDir, hubs, pluginId: one(), sdkVersion });
        const lines = r.versions.map(
          (v) =>
            `  ${v.version.padEnd(16)} ${v.verdict}${v.yanked ? ' (yanked)' : ''}${v.compatible === false ? ' (needs another SDK)' : ''}`,
        );
        return done(json, r, `installed ${r.installed}; ${r.hub} has:\n${lines.join('\n')}`);
      }
      case 'uninstall': {
        const r = await uninstall(pluginsDir, one());
        return done(json, r, `uninstalled ${r.plugin_id} ${r.version}`);
      }
      case 'list': {
        if (args.length > 0) throw new UsageError('coreservice list takes no argument');
        const r = listInstalled(pluginsDir);
        return done(
          json,
          r,
          r.length === 0
            ? 'no plugins installed'
            : r.map((x) => `${x.plugin_id} ${x.version} (${x.registry})`).join('\n'),
        );
      }
      case 'doctor': {
        if (args.length > 0) throw new UsageError('coreservice doctor takes no argument');
        const r = await doctor(pluginsDir);
        const lines = r.removed.map((x) => `  removed ${x.path}: ${x.why}`);
        if (r.busy.length > 0) lines.push(`  left alone (an operation is in progress): ${r.busy.join(', ')}`);
        return done(json, r, lines.length === 0 ? 'nothing to repair' : `repaired:\n${lines.join('\n')}`);
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
      'force-downgrade': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  return { command, args, values };
}

function progress(e: InstallEvent): void {
  if (e.stage === 'download') {
    if (e.bytes === e.total) console.error(`  downloaded ${e.total} bytes`);
  } else if (e.stage === 'warning') console.error(`  warning: ${safe(e.message)}`);
  else if (e.stage === 'resolve') console.error(`  asking ${safe(e.hub)}`);
  else console.error(`  ${e.stage}`);
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
