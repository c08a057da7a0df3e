import { z } from 'zod';
import type { CatalogEntry } from '../schema/catalog-entry';
import { lineText } from '../schema/primitives';

/** A catalog entry together with the file it came from (a path relative to the catalog's parent dir). */
export interface LoadedEntry {
  file: string;
  entry: CatalogEntry;
}

/** Finds the line and column of a field in an entry's source; supplied by whoever read the file. */
export type Locate = (file: string, path: ReadonlyArray<PropertyKey>) => { line: number; column: number };

/** `catalog/maintainers.yaml`: the people who may set or keep `tier: verified`. */
export const maintainersSchema = z.strictObject({
  maintainers: z
    .array(
      z.strictObject({
        github: z.string().regex(/^[A-Za-z0-9-]{1,39}$/, 'github must be a GitHub login'),
        name: lineText().min(1).optional(),
      }),
    )
    .min(1, 'list at least one maintainer'),
});

export type Maintainers = z.infer<typeof maintainersSchema>;

/** Whether a GitHub login may set `verified`; unknown authors (undefined) never may. */
export function isMaintainer(maintainers: Maintainers, login: string | undefined): boolean {
  if (!login) return false;
  const l = login.toLowerCase();
  return maintainers.maintainers.some((m) => m.github.toLowerCase() === l);
}

/** The archive file name the hub uses for a version: `<plugin_id>-<version>.mpn`. */
export function archiveFileName(pluginId: string, version: string): string {
  return `${pluginId}-${version}.mpn`;
}

/** The hub-relative URL archives are served from. */
export function hubArchiveUrl(pluginId: string, version: string): string {
  return `/assets/plugins/${archiveFileName(pluginId, version)}`;
}

/** Groups entries by plugin id, keeping input order inside each group. */
export function groupByPlugin<T extends { entry: CatalogEntry }>(entries: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const e of entries) {
    const list = groups.get(e.entry.plugin_id);
    if (list) list.push(e);
    else groups.set(e.entry.plugin_id, [e]);
  }
  return groups;
}
