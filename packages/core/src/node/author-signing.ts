// Author signing, the catalog side (docs/tuf.md, "Author signing"): a plugin whose owners.yaml has
// `signing` keeps `plugins/<id>/signed-targets.json`, TUF targets metadata its author keys sign,
// listing every version's archive. The one rule — that file verifies with the owners' keys and lists
// every version the catalog has with the entry's exact size and sha256 — lives here; the catalog
// load applies it (so hub validate, hub build and hub verify refuse alike) and hands the verified
// bytes to the TUF build, which serves them as `<v>.plugin-<id>.json`.

import type { LoadedEntry, Locate, Owners, Signing } from '../catalog/model';
import type { FindingList } from '../findings';
import { SIGNED_TARGETS_FILE, signedTargetsPath, versionArchiveKey } from '../layout';
import { refusalFinding } from './fs/tree-file';
import type { CatalogSource } from './source/catalog-source';
import {
  type AuthorRole,
  keyIdOf,
  MAX_SIGNED_TARGETS_BYTES,
  pluginDelegation,
  pluginRoleName,
  roleCoversPath,
  TufError,
  verifyPluginRole,
} from './tuf';

/** The hub path (as TUF targets name it) of a version's archive: `assets/plugins/<id>-<version>.mpn`. */
/** Key ids in owners.yaml's `signing` that are not the TUF key id of their public half, by index. */
export function badSigningKeyIds(signing: Signing): number[] {
  return signing.keys.flatMap((k, i) => (keyIdOf(k.public) === k.keyid ? [] : [i]));
}

/** Reads a plugin's signed-targets.json, bounded, a regular file inside the catalog. */
export function readSignedTargets(
  source: CatalogSource,
  pluginId: string,
):
  | { ok: true; bytes: Buffer }
  | { ok: false; missing: boolean; finding?: ReturnType<typeof refusalFinding> } {
  const rel = signedTargetsPath(pluginId);
  const read = source.read(rel, MAX_SIGNED_TARGETS_BYTES);
  // A copy: a source may lend a scratch buffer that its next read overwrites.
  if (read.ok) return { ok: true, bytes: Buffer.from(read.bytes) };
  const missing =
    read.refusal.kind === 'io' && (read.refusal.error as NodeJS.ErrnoException).code === 'ENOENT';
  return {
    ok: false,
    missing,
    finding: missing ? undefined : refusalFinding(read.refusal, source.show(rel), 'yaml.too-large'),
  };
}

/** A version whose archive an author's targets metadata does not list as the entry says ("" when it does). */
export function unsignedReason(
  targets: Readonly<Record<string, { length: number; hashes: Record<string, string> }>>,
  pluginId: string,
  version: string,
  size: number,
  sha256: string,
): string {
  const path = versionArchiveKey(pluginId, version);
  const t = targets[path];
  if (!t) return `${SIGNED_TARGETS_FILE} does not list ${path}`;
  if (t.length !== size || t.hashes.sha256 !== sha256) {
    return `${SIGNED_TARGETS_FILE} lists ${path} with length ${t.length} and sha256 ${t.hashes.sha256 ?? '(none)'}, not the entry's ${size} and ${sha256}`;
  }
  return '';
}

/**
 * The author-signing rule over a loaded catalog: for each plugin whose owners.yaml has `signing`,
 * signed-targets.json must verify with those keys (threshold, not expired) — else
 * `catalog.bad-author-signature` — and list every version's archive with the entry's size and
 * sha256 — else `catalog.unsigned-version` on that entry. Another plugin's archive whose name falls
 * under a signed plugin's paths is refused too (a client would ask that plugin's author for it).
 * Returns the roles that passed, for the TUF build.
 */
export function checkAuthorSigning(
  source: CatalogSource,
  owners: ReadonlyMap<string, Owners>,
  entries: readonly LoadedEntry[],
  findings: FindingList,
  locate: Locate,
  now: Date = new Date(),
): AuthorRole[] {
  const roles: AuthorRole[] = [];
  const entryLine = (e: LoadedEntry, ...path: string[]) => locate(e.file, path);
  for (const [id, list] of [...owners].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const signing = list.signing;
    if (!signing) continue;
    const file = source.show(signedTargetsPath(id));
    const mine = entries.filter((e) => e.entry.plugin_id === id);
    const read = readSignedTargets(source, id);
    if (!read.ok) {
      if (read.finding) findings.items.push(read.finding);
      for (const e of mine) {
        findings.error(
          'catalog.unsigned-version',
          `plugin ${id} is author-signed (owners.yaml has signing) but has no ${SIGNED_TARGETS_FILE}; sign version ${e.entry.version} with hub publish --sign or hub keys sign-plugin`,
          { file: e.file, ...entryLine(e, 'version') },
        );
      }
      continue;
    }
    let targets: Record<string, { length: number; hashes: Record<string, string> }>;
    try {
      targets = verifyPluginRole(id, signing, read.bytes, now).signed.targets;
    } catch (err) {
      if (!(err instanceof TufError)) throw err;
      findings.error(
        'catalog.bad-author-signature',
        `${err.message}; the plugin's author must sign it again (hub keys sign-plugin) with the keys owners.yaml lists`,
        { file },
      );
      continue;
    }
    let ok = true;
    for (const e of mine) {
      const why = unsignedReason(
        targets,
        id,
        e.entry.version,
        e.entry.archive.size_bytes,
        e.entry.archive.sha256,
      );
      if (!why) continue;
      ok = false;
      findings.error(
        'catalog.unsigned-version',
        `version ${e.entry.version} of author-signed plugin ${id} is not signed: ${why}; sign it with hub publish --sign or hub keys sign-plugin`,
        { file: e.file, ...entryLine(e, 'archive', 'sha256') },
      );
    }
    const spec = pluginDelegation(id, signing);
    for (const e of entries) {
      if (e.entry.plugin_id === id) continue;
      const path = versionArchiveKey(e.entry.plugin_id, e.entry.version);
      if (!roleCoversPath(spec, path)) continue;
      ok = false;
      findings.error(
        'catalog.unsigned-version',
        `the archive name ${path} falls under the paths of ${pluginRoleName(id)} (author-signed plugin ${id}), so clients would only take it signed by that plugin's author; rename plugin ${e.entry.plugin_id}`,
        { file: e.file, ...entryLine(e, 'plugin_id') },
      );
    }
    if (ok) roles.push({ pluginId: id, signing, bytes: read.bytes });
  }
  return roles;
}
