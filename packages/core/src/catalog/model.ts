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

/** A GitHub login as GitHub allows it: letters, digits and hyphens, at most 39 characters. */
const githubLogin = z.string().regex(/^[A-Za-z0-9-]{1,39}$/, 'github must be a GitHub login');

/** `catalog/maintainers.yaml`: the people who may set or keep `tier: verified`. */
export const maintainersSchema = z.strictObject({
  maintainers: z
    .array(
      z.strictObject({
        github: githubLogin,
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

/**
 * `catalog/plugins/<plugin_id>/owners.yaml`: who may add versions to the plugin, yank or deprecate
 * them, and hand the plugin on. Logins compare case-insensitively, so one listed twice in any case
 * is refused.
 */
const hex64 = (what: string) => z.string().regex(/^[0-9a-f]{64}$/, `${what} must be 64 lowercase hex digits`);

/**
 * owners.yaml's optional `signing`: the ed25519 keys (TUF key ids and public halves, hex) of which
 * `threshold` must sign the plugin's `signed-targets.json` (author signing, docs/tuf.md). That each
 * key id is the TUF key id of its public half is checked where hashing is at hand (node/author-signing.ts).
 */
export const signingSchema = z
  .strictObject({
    threshold: z.int('threshold must be a whole number').min(1, 'threshold must be at least 1'),
    keys: z
      .array(z.strictObject({ keyid: hex64('keyid'), public: hex64('public') }))
      .min(1, 'list at least one key')
      .max(16, 'list at most 16 keys'),
  })
  .superRefine((s, ctx) => {
    if (s.threshold > s.keys.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['threshold'],
        message: `threshold ${s.threshold} is more than the ${s.keys.length} key(s) listed`,
      });
    }
    const seen = new Set<string>();
    for (const [i, k] of s.keys.entries()) {
      if (seen.has(k.keyid))
        ctx.addIssue({
          code: 'custom',
          path: ['keys', i, 'keyid'],
          message: `key ${k.keyid} is listed twice`,
        });
      seen.add(k.keyid);
    }
  });

export type Signing = z.infer<typeof signingSchema>;

export const ownersSchema = z.strictObject({
  owners: z
    .array(
      z.strictObject({
        github: githubLogin,
        name: lineText().min(1).optional(),
      }),
    )
    .min(1, 'list at least one owner')
    .superRefine((owners, ctx) => {
      const seen = new Set<string>();
      for (const [i, o] of owners.entries()) {
        const l = o.github.toLowerCase();
        if (seen.has(l)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'github'],
            message: `${o.github} is listed twice (logins compare case-insensitively)`,
          });
        }
        seen.add(l);
      }
    }),
  signing: signingSchema.optional(),
});

export type Owners = z.infer<typeof ownersSchema>;

/** Whether a GitHub login owns a plugin; unknown authors (undefined) and missing lists never do. */
export function isOwner(owners: Owners | undefined, login: string | undefined): boolean {
  if (!owners || !login) return false;
  const l = login.toLowerCase();
  return owners.owners.some((o) => o.github.toLowerCase() === l);
}

/** The lowercased logins of an owners or maintainers list, for comparing two versions of it. */
export function loginsOf(list: ReadonlyArray<{ github: string }> | undefined): Set<string> {
  return new Set((list ?? []).map((p) => p.github.toLowerCase()));
}

/** An owners.yaml naming `logins` (already checked to be GitHub logins), after an optional comment header. */
export function renderOwnersYaml(logins: readonly string[], header = ''): string {
  return `${header}${[
    '# Who may publish, yank and deprecate versions of this plugin, and change this list',
    '# (GitHub logins; see docs/pull-requests.md, "Plugin ownership").',
    'owners:',
    ...logins.map((l) => `  - github: ${l}`),
  ].join('\n')}\n`;
}

/**
 * Where a client downloads an archive from: the one rule for turning an entry's `archive.url` into a
 * link. An absolute https URL is used as it is; a hub-relative one (`/assets/plugins/x.mpn`) is
 * resolved against the hub's origin, as the /v1 documents tell their clients to do. Without a hub
 * (a page the hub itself serves, as `hub serve --site` does) the hub-relative path is the link.
 */
export function archiveDownloadUrl(url: string, hub?: string): string {
  if (hub === undefined) return url;
  return new URL(url, hub.endsWith('/') ? hub : `${hub}/`).toString();
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
