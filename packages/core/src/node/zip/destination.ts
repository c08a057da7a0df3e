import { lstat, mkdir, readdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import { ZipError } from './zip-error';

const DIR_MODE = 0o755;

/**
 * The directory an archive is extracted into. It must be new or empty, so on failure
 * removing what is inside (or the directories we created) restores the disk exactly.
 */
export class Destination {
  private readonly made = new Set<string>();

  private constructor(
    private readonly root: string,
    private readonly createdTop: string | undefined,
    private readonly file: string,
  ) {
    this.made.add(root);
  }

  /** Creates `destDir` (and missing parents) or accepts it if it is an empty directory. */
  static async prepare(destDir: string, file: string): Promise<Destination> {
    const wanted = path.resolve(destDir);
    const refuse = (why: string) =>
      new ZipError('zip.destination-not-empty', file, `cannot be extracted to ${destDir}: ${why}`);
    let createdTop: string | undefined;
    try {
      createdTop = await mkdir(wanted, { recursive: true, mode: DIR_MODE });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR') throw refuse('it exists and is not a directory');
      throw err;
    }
    if (createdTop === undefined) {
      if ((await lstat(wanted)).isSymbolicLink()) throw refuse('it is a symbolic link');
      if ((await readdir(wanted)).length > 0) throw refuse('it is not empty');
    }
    try {
      return new Destination(await realpath(wanted), createdTop, file);
    } catch (err) {
      if (createdTop) await rm(createdTop, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The absolute path for an entry, after checking (again) that it stays inside the destination.
   * The scan already refused such names; this guards against a rule ever being loosened.
   */
  resolve(name: string): string {
    const target = path.resolve(this.root, ...name.split('/').filter(Boolean));
    const relative = path.relative(this.root, target);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new ZipError('zip.path-traversal', this.file, 'escapes the destination directory', name);
    }
    return target;
  }

  /** Creates `dir` and its parents inside the destination, refusing to pass through anything but real directories. */
  async makeDirs(dir: string, name: string): Promise<void> {
    const missing: string[] = [];
    for (let current = dir; !this.made.has(current); current = path.dirname(current)) {
      if (current === path.dirname(current)) {
        throw new ZipError('zip.path-traversal', this.file, 'escapes the destination directory', name);
      }
      missing.unshift(current);
    }
    for (const current of missing) {
      try {
        await mkdir(current, { mode: DIR_MODE });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (!(await lstat(current)).isDirectory()) {
          throw new ZipError('zip.path-conflict', this.file, `needs ${current} to be a directory`, name);
        }
      }
      this.made.add(current);
    }
  }

  /** Removes everything extraction created, leaving the disk as it was before. */
  async discard(): Promise<void> {
    if (this.createdTop) {
      await rm(this.createdTop, { recursive: true, force: true });
      return;
    }
    const children = await readdir(this.root);
    await Promise.all(
      children.map((child) => rm(path.join(this.root, child), { recursive: true, force: true })),
    );
  }
}
