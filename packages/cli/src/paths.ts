// Checks on the paths a command is given, made before any work so that a wrong path is one
// clear finding (`io.not-found`, `io.not-a-directory`, …) instead of an error halfway through.
import { statSync } from 'node:fs';
import type { Finding } from '@magellon/hub-core';
import { ioFinding } from '@magellon/hub-core/node';

/** An error like the one fs throws when a folder was expected and `path` is a file. */
export function notADirectory(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`not a directory: ${path}`), { code: 'ENOTDIR', path });
}

/** `path`'s kind, or the finding saying why it cannot be used. */
export function statPath(path: string): { kind: 'dir' | 'file' } | { problem: Finding } {
  try {
    return { kind: statSync(path).isDirectory() ? 'dir' : 'file' };
  } catch (err) {
    return { problem: ioFinding(err, path) };
  }
}
