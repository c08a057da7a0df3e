// Checks on the paths a command is given, made before any work so that a wrong path is one
// clear finding (`io.not-found`, `io.not-a-directory`, …) instead of an error halfway through.
import { mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Finding } from '@magellon/hub-core';
import { errnoOf, ioFinding } from '@magellon/hub-core/node';
import { shownPath } from './errors';

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

/**
 * Whether `out` can become an output folder: it is a folder or does not exist yet, the nearest
 * existing folder above it is a folder, and that folder accepts new entries. The last check
 * makes a real (empty, at once removed) folder, because permissions alone do not tell: /proc
 * and /sys refuse new folders with ENOENT, and Node 20's recursive mkdir loops forever there.
 */
export function outDirProblem(out: string): Finding | undefined {
  let dir = resolve(out);
  for (;;) {
    try {
      if (!statSync(dir).isDirectory()) return ioFinding(notADirectory(dir), out);
      break;
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') return ioFinding(err, out);
    }
    const up = dirname(dir);
    if (up === dir) return ioFinding(Object.assign(new Error('no root'), { code: 'ENOENT' }), out);
    dir = up;
  }
  try {
    rmdirSync(mkdtempSync(join(dir, '.hub-write-check-')));
    return undefined;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR')
      return {
        file: shownPath(dir),
        severity: 'error',
        code: 'io.not-writable',
        message: `refuses new folders (${errnoOf(err)} from mkdir), so ${out} cannot be made there; choose another location, e.g. --out dist`,
      };
    return ioFinding(err, shownPath(dir));
  }
}
