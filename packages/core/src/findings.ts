import type { FindingCode } from './finding-codes';

/** Where a finding points: a file and, when known, a 1-based line and column. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
}

export type Severity = 'error' | 'warning' | 'info';

/**
 * One problem found in a catalog entry, a manifest or an archive.
 * `code` is a stable string that tools and docs can rely on; `message` says what to do.
 */
export interface Finding extends SourceLocation {
  severity: Severity;
  code: FindingCode;
  message: string;
}

/** Formats a finding as `file:line:column: severity code: message` (compiler style, clickable in editors). */
export function formatFinding(f: Finding): string {
  const where = f.line ? `${f.file}:${f.line}:${f.column ?? 1}` : f.file;
  const label = f.severity === 'error' ? f.code : `${f.severity} ${f.code}`;
  return `${where}: ${label}: ${f.message}`;
}

/** Orders findings by file, then line, then column, so output is stable across runs. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

/** Collects findings for one source file; rules push into it. */
export class FindingList {
  readonly items: Finding[] = [];

  error(code: FindingCode, message: string, at: SourceLocation): void {
    this.items.push({ ...at, severity: 'error', code, message });
  }

  warning(code: FindingCode, message: string, at: SourceLocation): void {
    this.items.push({ ...at, severity: 'warning', code, message });
  }

  info(code: FindingCode, message: string, at: SourceLocation): void {
    this.items.push({ ...at, severity: 'info', code, message });
  }
}
