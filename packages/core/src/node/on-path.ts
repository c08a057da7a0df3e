import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Whether an executable named `name` is on PATH. Only a plain program name is looked up: one with
 * a slash, a leading dash or anything unusual (it may come from a manifest's `binary:` predicate)
 * is never found.
 */
export function onPath(name: string, path = process.env.PATH ?? ''): boolean {
  if (!/^[A-Za-z0-9._+][A-Za-z0-9._+-]*$/.test(name)) return false;
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}
