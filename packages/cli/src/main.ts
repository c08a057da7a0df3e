import { buildCommand } from './commands/build';
import type { Command } from './commands/command';
import { lintCommand } from './commands/lint';
import { packCommand } from './commands/pack';
import { scaffoldCommand } from './commands/scaffold';
import { validateCommand } from './commands/validate';
import { printFindings, red, safe } from './output';
import { EXIT, UsageError } from './usage';

const COMMANDS: readonly Command[] = [
  scaffoldCommand,
  lintCommand,
  packCommand,
  validateCommand,
  buildCommand,
];

const HELP = `hub — the Magellon plugin hub's command line

Usage: hub <command> [options]      hub <command> --help for details

Authoring:
${COMMANDS.slice(0, 3)
  .map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
  .join('\n')}
Catalog:
${COMMANDS.slice(3)
  .map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Exit codes: 0 success · 1 problems found or the operation failed · 2 bad usage.
Set NO_COLOR=1 to turn colours off.`;

/** Whether the arguments ask for `--format json` (looked at before parsing, so usage errors can honour it). */
function wantsJson(args: readonly string[]): boolean {
  return args.some((a, i) => a === '--format=json' || (a === '--format' && args[i + 1] === 'json'));
}

/** Runs one CLI invocation and returns its exit code; never throws for bad input. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(HELP);
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(red(`hub: unknown command "${safe(name)}"`));
    console.error(`Commands: ${COMMANDS.map((c) => c.name).join(', ')}. Run hub --help.`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      // A script that asked for JSON gets JSON even when its command line is wrong.
      if (wantsJson(rest))
        printFindings(
          [{ file: '(command line)', severity: 'error', code: 'cli.usage', message: err.message }],
          'json',
        );
      console.error(red(safe(err.message)));
      console.error(`Run hub ${name} --help for usage.`);
      return EXIT.usage;
    }
    const e = err as NodeJS.ErrnoException;
    console.error(red(`hub ${name}: ${e.code ? `${e.code}: ` : ''}${e.message}`));
    if (process.env.HUB_DEBUG) console.error(e.stack);
    return EXIT.failed;
  }
}
