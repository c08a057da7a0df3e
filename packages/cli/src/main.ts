// The entry point of `hub`. It stays small on purpose: `hub --help` and `hub --version` load
// only this file; a command's module (and the domain library) loads when that command runs.
import { escapeControl as safe } from '@magellon/hub-core/text';
import { redErr } from './colors';
import { COMMANDS } from './commands/registry';
import { EXIT, UsageError } from './usage';
import { HUB_VERSION } from './version';

const list = (group: string) =>
  COMMANDS.filter((c) => c.group === group)
    .map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
    .join('\n');

const HELP = `hub ${HUB_VERSION} — the Magellon plugin hub's command line

Usage: hub <command> [options]      hub help <command> (or hub <command> --help) for details

Authoring:
${list('Authoring')}
Catalog:
${list('Catalog')}

Options:
  -h, --help       show this help
  -v, --version    print the version of hub

Exit codes: 0 success · 1 problems found or the operation failed · 2 bad usage.
Set NO_COLOR=1 to turn colours off.`;

const NAMES = COMMANDS.map((c) => c.name).join(', ');

/** Whether the arguments ask for `--format json` (looked at before parsing, so usage errors can honour it). */
export function wantsJson(args: readonly string[]): boolean {
  return args.some((a, i) => a === '--format=json' || (a === '--format' && args[i + 1] === 'json'));
}

/** Runs one CLI invocation and returns its exit code; never throws for bad input. */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === '-h' || first === '--help') {
    console.log(HELP);
    return first ? EXIT.ok : EXIT.usage;
  }
  if (first === '-v' || first === '--version') {
    console.log(HUB_VERSION);
    return EXIT.ok;
  }
  let name = first;
  let args = rest;
  if (first === 'help') {
    if (rest.length === 0) {
      console.log(HELP);
      return EXIT.ok;
    }
    if (rest.length > 1) {
      console.error(redErr('hub help takes one command name, e.g. hub help pack'));
      return EXIT.usage;
    }
    name = rest[0]!;
    args = ['--help'];
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    console.error(redErr(`hub: unknown command "${safe(name)}"`));
    console.error(`Commands: ${NAMES}. Run hub --help.`);
    return EXIT.usage;
  }
  try {
    const command = await entry.load();
    return await command.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      // A script that asked for JSON gets JSON even when its command line is wrong.
      if (wantsJson(args)) {
        const { printFindings } = await import('./output');
        printFindings(
          [{ file: '(command line)', severity: 'error', code: 'cli.usage', message: err.message }],
          'json',
        );
      }
      console.error(redErr(safe(err.message)));
      console.error(`Run hub ${name} --help for usage.`);
      return EXIT.usage;
    }
    const { reportError } = await import('./errors');
    return reportError(name, err, args);
  }
}
