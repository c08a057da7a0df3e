// The last resort of `hub`: an error no command turned into findings. File-system errors become
// `io.*` findings and parser errors `yaml.syntax` / `json.syntax` findings, printed like any
// other finding; anything else is a bug, reported in one line (HUB_DEBUG=1 adds the stack).
import { isAbsolute, relative, sep } from 'node:path';
import type { Finding } from '@magellon/hub-core';
import { errnoOf, ioFinding } from '@magellon/hub-core/node';
import { printFindings, red, safe } from './output';
import { EXIT } from './usage';

/** A path as the user would want to read it: relative to the cwd when inside it or above it, else absolute. */
export function shownPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(process.cwd(), path);
  if (rel === '') return '.';
  const above = rel.split(sep).every((part) => part === '..');
  return isAbsolute(rel) || (rel.startsWith('..') && !above) ? path : rel;
}

interface ParserError extends Error {
  mark?: { name?: string | null; line?: number; column?: number };
  reason?: string;
  linePos?: Array<{ line: number; col: number }>;
}

/** A finding for an error thrown by a file-system call or a YAML/JSON parser; undefined for anything else. */
export function errorFinding(err: unknown, fallbackFile: string): Finding | undefined {
  if (errnoOf(err)) {
    const e = err as NodeJS.ErrnoException;
    return ioFinding(err, shownPath(e.path ?? fallbackFile));
  }
  if (!(err instanceof Error)) return undefined;
  const e = err as ParserError;
  if (e.name === 'YAMLException' && e.mark) {
    // js-yaml: 0-based mark, a `reason` without the code excerpt.
    return {
      file: shownPath(e.mark.name || fallbackFile),
      line: (e.mark.line ?? 0) + 1,
      column: (e.mark.column ?? 0) + 1,
      severity: 'error',
      code: 'yaml.syntax',
      message: `${e.reason ?? e.message}; fix the YAML`,
    };
  }
  if (e.name === 'YAMLParseError' || e.name === 'YAMLWarning') {
    const at = e.linePos?.[0];
    return {
      file: shownPath(fallbackFile),
      ...(at ? { line: at.line, column: at.col } : {}),
      severity: 'error',
      code: 'yaml.syntax',
      message: `${e.message.split('\n')[0]}; fix the YAML`,
    };
  }
  if (e instanceof SyntaxError && /JSON/.test(e.message)) {
    return {
      file: shownPath(fallbackFile),
      severity: 'error',
      code: 'json.syntax',
      message: `${e.message}; fix the JSON`,
    };
  }
  return undefined;
}

/** The finding for any error that escaped a command: an io/parser finding, else `cli.internal` (a bug). */
export function findingForError(err: unknown, target: string): Finding & { internal?: true } {
  const known = errorFinding(err, target);
  if (known) return known;
  const message = err instanceof Error ? err.message : String(err);
  return { file: target, severity: 'error', code: 'cli.internal', message, internal: true };
}

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
