import { foldName } from '../../text/fold';
import { entryPath } from './entry-name';
import { ZipError } from './zip-error';

interface NamedEntry {
  name: string;
  isDirectory: boolean;
}

/** An entry's path as a case-insensitive, normalizing file system sees it (see foldName). */
export function foldPath(name: string): string {
  return foldName(entryPath(name));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Finds entries that would overwrite or block each other when extracted: the same name twice, names
 * equal up to case or Unicode normalization, or a file that another entry needs as a directory.
 * Runs in O(n log n) over the entries only, so deep paths cannot blow up memory.
 */
export function checkEntryPaths(entries: readonly NamedEntry[], file: string): void {
  const byFolded = new Map<string, NamedEntry>();
  for (const entry of entries) {
    const key = foldPath(entry.name);
    const seen = byFolded.get(key);
    if (seen === undefined) {
      byFolded.set(key, entry);
    } else if (seen.name === entry.name) {
      throw new ZipError('zip.duplicate-entry', file, 'appears more than once', entry.name);
    } else if (entryPath(seen.name) === entryPath(entry.name)) {
      throw new ZipError(
        'zip.path-conflict',
        file,
        `is both a file and a directory (see "${seen.name}")`,
        entry.name,
      );
    } else {
      throw new ZipError(
        'zip.case-collision',
        file,
        `differs from "${seen.name}" only in case or Unicode normalization`,
        entry.name,
      );
    }
  }

  // A file "a" conflicts with any entry under "a/"; in sorted order those follow "a/" directly.
  const keys = [...byFolded.keys()].sort(compare);
  for (const [key, entry] of byFolded) {
    if (entry.isDirectory) continue;
    const prefix = `${key}/`;
    const child = keys[lowerBound(keys, prefix)];
    if (child?.startsWith(prefix)) {
      const childName = byFolded.get(child)?.name ?? child;
      throw new ZipError(
        'zip.path-conflict',
        file,
        `is a file but "${childName}" needs it as a directory`,
        entry.name,
      );
    }
  }
  checkDirectorySpellings(entries, file);
}

interface SpelledDir {
  spelled: string;
  /** The entry that first used this spelling, for the message. */
  entry: string;
  children: Map<string, SpelledDir>;
}

/**
 * Directories that entries imply must be spelled one way: "Lib/a.py" and "lib/b.py" land in one
 * directory on Windows and macOS but in two on Linux. A tree of folded segments keeps memory
 * proportional to the names themselves.
 */
function checkDirectorySpellings(entries: readonly NamedEntry[], file: string): void {
  const root = new Map<string, SpelledDir>();
  for (const entry of entries) {
    const segments = entryPath(entry.name).split('/');
    if (!entry.isDirectory) segments.pop();
    let level = root;
    for (const segment of segments) {
      const key = foldPath(segment);
      let dir = level.get(key);
      if (!dir) {
        dir = { spelled: segment, entry: entry.name, children: new Map() };
        level.set(key, dir);
      } else if (dir.spelled !== segment) {
        throw new ZipError(
          'zip.case-collision',
          file,
          `spells directory "${segment}" differently from "${dir.entry}" (only case or Unicode normalization differ)`,
          entry.name,
        );
      }
      level = dir.children;
    }
  }
}

/** Index of the first key not less than `target`. */
function lowerBound(sorted: readonly string[], target: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] ?? '') < target) low = mid + 1;
    else high = mid;
  }
  return low;
}
