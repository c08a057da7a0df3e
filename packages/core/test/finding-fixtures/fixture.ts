import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FindingCode } from '../../src/finding-codes';
import type { Finding } from '../../src/findings';

/** Where a code's finding must be reported: the file, and the 1-based line (undefined: no line). */
export interface Expected {
  file: string;
  line?: number;
}

/** One fixture: it builds a bad input, runs the real code on it, and says where the finding belongs. */
export type Fixture = () => Promise<{ findings: readonly Finding[]; expected: Expected }>;

/** Fixtures for every code of one family, e.g. every `entry.*` code. */
export type FixtureTable<P extends string> = { [C in Extract<FindingCode, `${P}.${string}`>]: Fixture };

const REPO = join(import.meta.dirname, '..', '..', '..', '..');
export const STARTER = join(REPO, 'catalog');
export const EXAMPLES = join(REPO, 'examples', 'plugins');

const temps: string[] = [];

/** A fresh temp dir, removed by {@link cleanUp}. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hub-fixture-${prefix}-`));
  temps.push(dir);
  return dir;
}

export function cleanUp(): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** A private copy of the starter catalog. */
export function starterCopy(): string {
  const dir = tempDir('catalog');
  cpSync(STARTER, dir, { recursive: true });
  return dir;
}

/** Rewrites a file's text. */
export function edit(path: string, change: (text: string) => string): void {
  writeFileSync(path, change(readFileSync(path, 'utf8')));
}

/** The 1-based line of the first line of `path` that contains `needle` (the nth, with `nth`). */
export function lineOf(path: string, needle: string, nth = 1): number {
  const lines = readFileSync(path, 'utf8').split('\n');
  let seen = 0;
  for (const [i, line] of lines.entries()) {
    if (line.includes(needle) && ++seen === nth) return i + 1;
  }
  throw new Error(`fixture bug: "${needle}" not found in ${path}`);
}
