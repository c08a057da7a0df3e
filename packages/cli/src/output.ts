import {
  escapeControl,
  escapeControlKeepLines,
  type Finding,
  formatFinding,
  inertJson,
} from '@magellon/hub-core';

export type FindingFormat = 'text' | 'json' | 'github';
export const FINDING_FORMATS: readonly FindingFormat[] = ['text', 'json', 'github'];

const useColor = () => process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, s: string) => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);
export const red = (s: string) => paint(31, s);
export const yellow = (s: string) => paint(33, s);
export const green = (s: string) => paint(32, s);
export const dim = (s: string) => paint(2, s);

/** GitHub Actions workflow-command escaping for property values and messages. */
function ghEscape(s: string, property = false): string {
  let out = s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  if (property) out = out.replace(/:/g, '%3A').replace(/,/g, '%2C');
  return out;
}

/** A string from input (argv, a file or folder name, a manifest value) made safe to print: see escapeControl. */
export const safe = escapeControl;

/** Multi-line text the hub composed around input strings: every control escaped but newlines and tabs. */
export const safeLines = escapeControlKeepLines;

/** A finding whose every string is escaped, so no file, key or entry name reaches the terminal raw. */
function inert(f: Finding): Finding {
  return { ...f, file: escapeControl(f.file), message: escapeControl(f.message) };
}

/** Prints findings one per line in the chosen format; strings from input are always escaped. */
export function printFindings(findings: readonly Finding[], format: FindingFormat): void {
  if (format === 'json') {
    process.stdout.write(`${inertJson(findings, 2)}\n`);
    return;
  }
  for (const f of findings.map(inert)) {
    if (format === 'github') {
      const kind = f.severity === 'error' ? 'error' : f.severity === 'warning' ? 'warning' : 'notice';
      const props = [`file=${ghEscape(f.file, true)}`];
      if (f.line) props.push(`line=${f.line}`, `col=${f.column ?? 1}`);
      props.push(`title=${ghEscape(f.code, true)}`);
      process.stdout.write(`::${kind} ${props.join(',')}::${ghEscape(f.message)}\n`);
    } else {
      const line = formatFinding(f);
      process.stdout.write(
        `${f.severity === 'error' ? red(line) : f.severity === 'warning' ? yellow(line) : dim(line)}\n`,
      );
    }
  }
}

export function countBySeverity(findings: readonly Finding[]) {
  return {
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
    infos: findings.filter((f) => f.severity === 'info').length,
  };
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A one-line status on stderr that rewrites itself on a terminal and stays quiet otherwise. */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
}

export function endProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}
