// The last resort of `hub`: an error no command turned into findings. File-system errors become
// `io.*` findings and parser errors `yaml.syntax` / `json.syntax` findings (hub-core's
// findingForError), printed like any other finding; anything else is a bug, reported in one line
// (HUB_DEBUG=1 adds the stack).
import { findingForError } from '@magellon/hub-core/node';
import { printFindings, red, safe } from './output';
import { EXIT } from './usage';

/** Prints an error that escaped command `name` and returns the exit code (1). */
export function reportError(name: string, err: unknown, args: readonly string[]): number {
  const target = args.find((a) => !a.startsWith('-')) ?? '.';
  const { internal, ...finding } = findingForError(err, target);
  const json = args.some((a, i) => a === '--format=json' || (a === '--format' && args[i + 1] === 'json'));
  // Whatever happened, a script that asked for JSON gets a JSON list of findings.
  if (json) printFindings([finding], 'json');
  if (!internal) {
    if (!json) printFindings([finding], 'text');
    console.error(red(`✖ hub ${name} failed: ${finding.code} (see above)`));
  } else {
    console.error(red(`✖ hub ${name} failed: ${safe(finding.message)}`));
    if (!process.env.HUB_DEBUG) console.error('  this is a bug in hub; HUB_DEBUG=1 shows where it happened');
  }
  if (process.env.HUB_DEBUG && err instanceof Error) console.error(err.stack);
  return EXIT.failed;
}
