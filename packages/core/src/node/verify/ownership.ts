// Who may change a plugin: its owners (plugins/<id>/owners.yaml on the BASE branch), an owner's
// approval, or a hub maintainer. A pull request cannot make its author an owner of a plugin that
// exists; a new plugin's pull request makes its author the owner by adding owners.yaml.

import { isOwner, loginsOf, type Owners } from '../../catalog/model';
import { FindingList, type SourceLocation } from '../../findings';
import { OWNERS_FILE, ownersPath, pluginDir } from '../../layout';
import { YamlLocator } from '../../yaml/locate';
import { MAX_OWNERS_BYTES, readOwners } from '../load-catalog';
import { MAX_ENTRY_BYTES } from '../read-entry';
import type { CatalogSource } from '../source/catalog-source';
import type { ChangeKind } from './verify-pr';

/** What the ownership rule needs to know about a pull request. */
export interface OwnershipCheck {
  /** The base (what is published) and the head (the pull request), catalog-relative reads. */
  base: CatalogSource;
  head: CatalogSource;
  /** The head catalog's valid owners lists, by plugin id. */
  headOwners: ReadonlyMap<string, Owners>;
  /** Catalog-relative paths the pull request touches → git status letter (A, M, D, T). */
  changed: ReadonlyMap<string, string>;
  /** How each changed entry changed, by its shown file. */
  kinds: ReadonlyMap<string, ChangeKind>;
  author?: string;
  approvedBy: readonly string[];
  /** The author or an approver is a hub maintainer (base maintainers.yaml). */
  maintainerApproved: boolean;
}

const PLUGIN_FILE = /^plugins\/([^/]+)\/(.+)$/;

/** Files this pull request changes, grouped by the plugin folder they are in. */
function touchedPlugins(changed: ReadonlyMap<string, string>): Map<string, string[]> {
  const byPlugin = new Map<string, string[]>();
  for (const rel of [...changed.keys()].sort()) {
    const m = PLUGIN_FILE.exec(rel);
    if (!m) continue;
    const list = byPlugin.get(m[1]!);
    if (list) list.push(rel);
    else byPlugin.set(m[1]!, [rel]);
  }
  return byPlugin;
}

/** Catalog-relative owners.yaml paths of the plugins a pull request touches (to read them from the base). */
export function ownersFilesTouched(changed: ReadonlyMap<string, string>): Set<string> {
  return new Set([...touchedPlugins(changed).keys()].map(ownersPath));
}

/**
 * The ownership rule for every plugin the pull request touches: a `verify.not-owner` error on each
 * entry (or owners.yaml) changed by someone the base branch does not let change it, a
 * `verify.new-plugin-owner` error for a new plugin whose owners.yaml does not name its author, and
 * a `verify.owners-changed` warning whenever a plugin's owners change.
 */
export function checkOwnership(c: OwnershipCheck, findings: FindingList): void {
  const who = c.author ? `@${c.author}` : 'an unknown author (hub verify was not given --author)';
  for (const [id, rels] of touchedPlugins(c.changed)) {
    const ownersRel = ownersPath(id);
    const folder = c.base.list(pluginDir(id));
    const isNew = !folder.ok && folder.refusal.kind === 'io';
    if (isNew) {
      checkNewPlugin(c, id, rels, ownersRel, who, findings);
      continue;
    }
    // Only a valid list on the base counts; an invalid one makes nobody an owner.
    const baseOwners = readOwners(c.base, ownersRel, new FindingList());
    const ownerApprover = c.approvedBy.find((l) => isOwner(baseOwners, l));
    const byOwner = isOwner(baseOwners, c.author) || ownerApprover !== undefined;
    const listed = baseOwners
      ? `its owners are ${baseOwners.owners.map((o) => `@${o.github}`).join(', ')}`
      : `it has no valid ${OWNERS_FILE} on the base branch, so only maintainers may change it`;
    for (const rel of rels.filter((r) => r !== ownersRel)) {
      if (byOwner || c.maintainerApproved) continue;
      const file = c.head.show(rel);
      const kind = c.kinds.get(file) ?? (c.changed.get(rel) === 'D' ? 'deleted' : undefined);
      findings.error(
        'verify.not-owner',
        `${who} is not an owner of plugin ${id} and may not ${verbOf(kind)} (${listed}); ask an owner or a maintainer to approve this pull request, or to add you to plugins/${id}/${OWNERS_FILE}`,
        { file, ...entryLine(c.head, rel, kind) },
      );
    }
    if (c.changed.has(ownersRel)) {
      // Handing a plugin on is for its owners; maintainers only seed a list where there is none.
      const allowed = byOwner || (!baseOwners && c.maintainerApproved);
      checkOwnersChange(c, id, ownersRel, baseOwners, allowed, who, listed, findings);
    }
  }
}

function checkNewPlugin(
  c: OwnershipCheck,
  id: string,
  rels: readonly string[],
  ownersRel: string,
  who: string,
  findings: FindingList,
): void {
  const ownersFile = c.head.show(ownersRel);
  if (!c.changed.has(ownersRel) || c.changed.get(ownersRel) === 'D') {
    const first = rels[0]!;
    const example = c.author ? `owners:\n  - github: ${c.author}` : 'owners:\n  - github: <your login>';
    findings.error(
      'verify.new-plugin-owner',
      `plugin ${id} is new: add ${ownersFile} naming its author, who becomes its owner (${example.replace(/\n\s*/g, ' ')})`,
      { file: c.head.show(first), ...entryLine(c.head, first, 'added') },
    );
    return;
  }
  const owners = c.headOwners.get(id);
  if (!owners) return; // invalid: its schema findings are already reported
  const text = textOf(c.head, ownersRel);
  if (!isOwner(owners, c.author) && !c.maintainerApproved) {
    findings.error(
      'verify.new-plugin-owner',
      c.author
        ? `plugin ${id} is new, so its author becomes its owner: ${ownersFile} must name @${c.author}`
        : `plugin ${id} is new, but ${who} cannot be named its owner: run hub verify with --author <login>`,
      { file: ownersFile, ...new YamlLocator(text).locate(['owners'], true) },
    );
    return;
  }
  const others = owners.owners.filter((o) => o.github.toLowerCase() !== (c.author ?? '').toLowerCase());
  if (others.length > 0) {
    findings.warning(
      'verify.owners-changed',
      `plugin ${id} is new and ${ownersFile} makes ${others.map((o) => `@${o.github}`).join(', ')} owners besides the author: a reviewer must confirm they agreed`,
      { file: ownersFile, ...loginLine(text, others[0]!.github) },
    );
  }
}

function checkOwnersChange(
  c: OwnershipCheck,
  id: string,
  ownersRel: string,
  before: Owners | undefined,
  allowed: boolean,
  who: string,
  listed: string,
  findings: FindingList,
): void {
  const file = c.head.show(ownersRel);
  const after = c.headOwners.get(id);
  const change = listChange(before?.owners, after?.owners);
  const text = textOf(c.head, ownersRel);
  const where: SourceLocation = { file, ...(change.added[0] ? loginLine(text, change.added[0]) : {}) };
  const what = change.what || (c.changed.get(ownersRel) === 'D' ? 'is deleted' : 'changes');
  if (!allowed) {
    findings.error(
      'verify.not-owner',
      `${file} ${what}, but ${who} is not an owner of plugin ${id} and no owner approved (${listed}); only an owner hands a plugin on — ask one to approve this pull request`,
      where,
    );
  } else if (change.what) {
    const self = change.removed.includes((c.author ?? '').toLowerCase())
      ? ' (the author removes themself)'
      : '';
    findings.warning(
      'verify.owners-changed',
      `${file} ${change.what}${self}: a reviewer must confirm this change of who owns plugin ${id}`,
      where,
    );
  }
}

/** What a change to a list of logins does, as words: "adds @a and removes @b" ("" when the logins are the same). */
export function listChange(
  before: ReadonlyArray<{ github: string }> | undefined,
  after: ReadonlyArray<{ github: string }> | undefined,
): { added: string[]; removed: string[]; what: string } {
  const was = loginsOf(before);
  const now = loginsOf(after);
  const added = [...now].filter((l) => !was.has(l));
  const removed = [...was].filter((l) => !now.has(l));
  const what = [
    added.length ? `adds ${added.map((l) => `@${l}`).join(', ')}` : '',
    removed.length ? `removes ${removed.map((l) => `@${l}`).join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  return { added, removed, what };
}

/** The line of a `github: <login>` item (quoted or not), not any line that happens to contain the login. */
export function loginLine(
  text: string,
  login: string,
): { line: number; column: number } | Record<string, never> {
  const l = login.toLowerCase();
  const i = text
    .split('\n')
    .findIndex((line) => /github:\s*["']?([A-Za-z0-9-]+)/.exec(line)?.[1]?.toLowerCase() === l);
  return i >= 0 ? { line: i + 1, column: 1 } : {};
}

function textOf(source: CatalogSource, rel: string): string {
  const read = source.read(rel, MAX_OWNERS_BYTES);
  return read.ok ? read.bytes.toString('utf8') : '';
}

function verbOf(kind: ChangeKind | undefined): string {
  switch (kind) {
    case 'added':
      return 'add a version';
    case 'yanked':
      return 'yank a version';
    case 'deprecated':
      return 'deprecate a version';
    case 'deleted':
      return 'delete a version';
    case 'changed':
      return 'change a version';
    default:
      return 'change its files';
  }
}

/** Where a changed entry shows its change: the yanked or deprecated block, else its version line. */
function entryLine(
  head: CatalogSource,
  rel: string,
  kind: ChangeKind | undefined,
): { line?: number; column?: number } {
  if (kind === undefined || kind === 'deleted') return {};
  const read = head.read(rel, MAX_ENTRY_BYTES);
  if (!read.ok) return {};
  const key = kind === 'yanked' ? 'yanked' : kind === 'deprecated' ? 'deprecated' : 'version';
  return new YamlLocator(read.bytes.toString('utf8')).locate([key], true);
}
