// A plugin id from a request, a manifest or a folder name becomes part of paths under the plugins
// dir: it is checked here, before any path is built from it.
import { SLUG_PATTERN } from '@magellon/hub-core';
import { InstallError } from './errors';

/** Whether `id` can be a plugin id: a catalog slug, at most 100 characters, never hidden (`.x`) or a path step. */
export const isPluginId = (id: string): boolean =>
  id.length > 0 && id.length <= 100 && SLUG_PATTERN.test(id) && !id.startsWith('.');

/** Throws `not-found` (404) for anything that cannot be a plugin id. */
export function checkPluginId(id: string): void {
  if (!isPluginId(id)) {
    throw new InstallError(
      'not-found',
      `"${id.slice(0, 100)}" is not a plugin id (lowercase letters, digits, ".", "_", "-"; not starting with ".")`,
    );
  }
}
