// Author signing in a pull request (docs/tuf.md, "Author signing"): for a plugin whose owners.yaml
// on the BASE branch has `signing`, a new version must come with a signed-targets.json that the
// BASE keys verify, newer than the base's, listing the new archive as its entry does. So a pull
// request only the hub could have made — the file re-signed with a hub key, or left out — fails,
// and so does one that swaps the keys and signs with the new ones in the same breath.

import type { LoadedEntry, Locate, Signing } from '../../catalog/model';
import { FindingList } from '../../findings';
import { catalogPathKind, ownersPath, SIGNED_TARGETS_FILE, signedTargetsPath } from '../../layout';
import { readSignedTargets, unsignedReason } from '../author-signing';
import { readOwners } from '../load-catalog';
import type { CatalogSource } from '../source/catalog-source';
import { TufError, verifyPluginRole } from '../tuf';

export interface AuthorSignedCheck {
  base: CatalogSource;
  head: CatalogSource;
  /** The entries the pull request adds. */
  newVersions: readonly LoadedEntry[];
  /** Catalog-relative paths the pull request touches → git status letter. */
  changed: ReadonlyMap<string, string>;
  locate: Locate;
  now?: Date;
}

/** Catalog-relative signed-targets.json paths of the plugins a pull request touches (to read from the base). */
export function signedTargetsTouched(changed: ReadonlyMap<string, string>): Set<string> {
  const ids = [...changed.keys()].flatMap((rel) => /^plugins\/([^/]+)\//.exec(rel)?.[1] ?? []);
  return new Set(ids.map(signedTargetsPath));
}

/** A change of the author keys is a change of who may publish: a reviewer must see it. */
function flagSigningChanges(c: AuthorSignedCheck, findings: FindingList): void {
  for (const rel of c.changed.keys()) {
    if (catalogPathKind(rel) !== 'owners') continue;
    const was = readOwners(c.base, rel, new FindingList())?.signing;
    const now = readOwners(c.head, rel, new FindingList())?.signing;
    if (JSON.stringify(was) === JSON.stringify(now)) continue;
    const what = !was
      ? 'makes plugin author-signed'
      : !now
        ? 'drops author signing from plugin'
        : 'changes the author signing keys of plugin';
    findings.warning(
      'verify.owners-changed',
      `${c.head.show(rel)} ${what} ${rel.split('/')[1]}: a reviewer must confirm the key change with its owners`,
      { file: c.head.show(rel) },
    );
  }
}

type VerifiedTargets = ReturnType<typeof verifyPluginRole>;

/** One base-signed plugin the pull request adds versions to (none: it touches its signed-targets.json). */
interface SignedPlugin {
  id: string;
  signing: Signing;
  added: readonly LoadedEntry[];
  /** The head's signed-targets.json, repo-relative. */
  file: string;
  /** Reports a new version as not signed, and why. */
  unsigned: (e: LoadedEntry, why: string) => void;
}

/** The base's signed-targets.json version (0 when it has none or it does not parse). */
function baseTargetsVersion(c: AuthorSignedCheck, id: string): number {
  const before = readSignedTargets(c.base, id);
  let baseVersion = 0;
  if (before.ok) {
    try {
      baseVersion = JSON.parse(before.bytes.toString('utf8')).signed.version;
    } catch {}
  }
  return baseVersion;
}

/**
 * The head's signed-targets.json, verified with the base keys and newer than the base's; undefined
 * (each new version reported unsigned, or the file itself when the pull request adds none) when not.
 */
function verifiedTargets(
  c: AuthorSignedCheck,
  p: SignedPlugin,
  findings: FindingList,
): VerifiedTargets | undefined {
  const refuse = (why: string, bad: string) => {
    for (const e of p.added) p.unsigned(e, why);
    if (p.added.length === 0) findings.error('verify.bad-author-signature', bad, { file: p.file });
  };
  const read = readSignedTargets(c.head, p.id);
  if (!read.ok) {
    refuse(
      `the pull request carries no readable ${SIGNED_TARGETS_FILE}`,
      `${SIGNED_TARGETS_FILE} of author-signed plugin ${p.id} is deleted or unreadable; only its author replaces it`,
    );
    return undefined;
  }
  let meta: VerifiedTargets;
  try {
    meta = verifyPluginRole(p.id, p.signing, read.bytes, c.now);
  } catch (err) {
    if (!(err instanceof TufError)) throw err;
    findings.error(
      'verify.bad-author-signature',
      `${SIGNED_TARGETS_FILE} does not verify with the author keys in plugin ${p.id}'s owners.yaml on the base branch: ${err.message}`,
      { file: p.file },
    );
    return undefined;
  }
  const baseVersion = baseTargetsVersion(c, p.id);
  if (Number.isInteger(baseVersion) && meta.signed.version <= baseVersion) {
    const stale = `${SIGNED_TARGETS_FILE} is version ${meta.signed.version}, not newer than the base's ${baseVersion}`;
    refuse(stale, `${stale} (a replay)`);
    return undefined;
  }
  return meta;
}

/** The plugin's rule: each new version listed, as its entry says, in a verified, newer signed-targets.json. */
function checkSignedPlugin(c: AuthorSignedCheck, id: string, findings: FindingList): void {
  const signing = readOwners(c.base, ownersPath(id), new FindingList())?.signing;
  if (!signing) return;
  const added = c.newVersions.filter((e) => e.entry.plugin_id === id);
  const headSigning = readOwners(c.head, ownersPath(id), new FindingList())?.signing;
  if (added.length === 0 && JSON.stringify(headSigning) !== JSON.stringify(signing)) return;
  const unsigned = (e: LoadedEntry, why: string) =>
    findings.error(
      'verify.unsigned-version',
      `plugin ${id} is author-signed (owners.yaml on the base branch has signing), but ${e.entry.version} is not signed: ${why}; publish it with hub publish --sign <author key>`,
      { file: e.file, ...c.locate(e.file, ['version']) },
    );
  const file = c.head.show(signedTargetsPath(id));
  const meta = verifiedTargets(c, { id, signing, added, file, unsigned }, findings);
  if (!meta) return;
  for (const e of added) {
    const { version, archive } = e.entry;
    const why = unsignedReason(meta.signed.targets, id, version, archive.size_bytes, archive.sha256);
    if (why) unsigned(e, why);
  }
}

/**
 * `verify.unsigned-version` on each new version of a base-signed plugin that its head
 * signed-targets.json does not list (or that has none, or one not newer than the base's), and
 * `verify.bad-author-signature` when that file does not verify with the base keys. A
 * signed-targets.json changed without a new version must verify with the base keys too, unless the
 * same pull request changes owners.yaml's `signing` (a key change, which the ownership rule governs).
 */
export function checkAuthorSigned(c: AuthorSignedCheck, findings: FindingList): void {
  flagSigningChanges(c, findings);
  const ids = new Set(c.newVersions.map((e) => e.entry.plugin_id));
  for (const rel of c.changed.keys()) {
    if (catalogPathKind(rel) === 'signed-targets') ids.add(rel.split('/')[1]!);
  }
  for (const id of [...ids].sort()) checkSignedPlugin(c, id, findings);
}
