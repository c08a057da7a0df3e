import { basename, relative, resolve } from 'node:path';
import type { z } from 'zod';
import {
  type LoadedEntry,
  type Locate,
  type Maintainers,
  maintainersSchema,
  type Owners,
  ownersSchema,
} from '../catalog/model';
import { CATALOG_RULES } from '../catalog/rules';
import { type Finding, FindingList, sortFindings } from '../findings';
import {
  ASSETS_DIR,
  ENTRY_SUFFIX,
  MAINTAINERS_FILE,
  OWNERS_FILE,
  pluginDir,
  SIGNED_TARGETS_FILE,
} from '../layout';
import { foldName } from '../text/fold';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { type SchemaPrefix, schemaFindings } from '../yaml/schema-findings';
import { badSigningKeyIds, checkAuthorSigning } from './author-signing';
import { refusalFinding } from './fs/tree-file';
import { ioFinding } from './io-error';
import { checkEntryBytes, decodeYamlText, MAX_ENTRY_BYTES } from './read-entry';
import type { CatalogSource, SourceDirent, SourceKind } from './source/catalog-source';
import { FsCatalogSource } from './source/fs-source';
import type { AuthorRole } from './tuf';

/** maintainers.yaml is refused unread above this many bytes. */
export const MAX_MAINTAINERS_BYTES = 256 * 1024;

/** A plugin's owners.yaml is refused unread above this many bytes. */
export const MAX_OWNERS_BYTES = 64 * 1024;

export interface LoadedCatalog {
  /** Absolute path of the catalog directory (the one holding `plugins/`); "" for a git or memory source. */
  root: string;
  /** Where the files came from. */
  source?: CatalogSource;
  /** Entries that passed the schema, sorted by plugin id then file name. */
  entries: LoadedEntry[];
  maintainers?: Maintainers;
  /** Each plugin folder's valid `owners.yaml`, by plugin id (the folder's name). */
  owners: Map<string, Owners>;
  /** Every problem found, sorted by file and line. */
  findings: Finding[];
  /** Finds a field's line in an entry file (re-reading it from the source). */
  locate?: Locate;
  /**
   * The author-signed plugins whose signed-targets.json verified and lists every version (see
   * author-signing.ts); `hub build --tuf-keys` delegates their archives to them.
   */
  authorRoles?: AuthorRole[];
}

export interface LoadCatalogOptions {
  /** Paths in findings are shown relative to this directory (default: the current directory). */
  displayFrom?: string;
}

/**
 * Reads `<root>/plugins/<plugin_id>/<version>.yaml` and `<root>/maintainers.yaml` from a directory,
 * validates every entry, runs every rule, and returns all findings at once.
 * Files are read only if they are regular files whose real path stays inside the catalog,
 * and only up to their byte limit; anything else is a finding, never a read or a hang.
 */
export async function loadCatalog(rootDir: string, opts: LoadCatalogOptions = {}): Promise<LoadedCatalog> {
  let source: FsCatalogSource;
  try {
    source = new FsCatalogSource(rootDir, opts.displayFrom);
  } catch (err) {
    const abs = resolve(rootDir);
    const shown = relative(resolve(opts.displayFrom ?? process.cwd()), abs) || basename(abs);
    return { root: abs, entries: [], owners: new Map(), findings: [notFoundFinding(shown, err)] };
  }
  return { ...loadCatalogFrom(source), root: source.root };
}

function notFoundFinding(what: string, err: unknown, file = what): Finding {
  const why = ioFinding(err, what).message.replace(/; check the path$/, '');
  return {
    file,
    severity: 'error',
    code: 'catalog.not-found',
    message: `${what} ${why}; give the catalog directory (the one that holds plugins/)`,
  };
}

/**
 * The same load from any catalog source (a directory, a git commit, memory): one walk, one parser,
 * one set of rules, so a pull request's base and head are judged exactly as `hub validate` judges
 * a working tree, and findings name `<source.shown>/<catalog-relative path>`.
 */
export function loadCatalogFrom(source: CatalogSource): LoadedCatalog {
  const findings = new FindingList();
  const shown = (rel: string) => source.show(rel);
  const plugins = source.list('plugins');
  if (!plugins.ok) {
    const refusal = plugins.refusal;
    const finding =
      refusal.kind === 'io'
        ? notFoundFinding(shown('plugins'), refusal.error, shown(''))
        : refusalFinding(refusal, shown('plugins'), 'yaml.too-large');
    return { root: '', source, entries: [], owners: new Map(), findings: [finding] };
  }
  // Positions are needed only for findings, which are rare: re-read the file then instead of keeping every text.
  const relOf = new Map<string, string>();
  const locators = new Map<string, YamlLocator>();
  const locate: Locate = (file, path) => {
    let loc = locators.get(file);
    if (!loc) {
      const rel = relOf.get(file);
      const read = rel ? source.read(rel, MAX_ENTRY_BYTES) : undefined;
      loc = new YamlLocator(read?.ok ? read.bytes.toString('utf8') : '');
      locators.set(file, loc);
    }
    return loc.locate(path);
  };

  const entries: LoadedEntry[] = [];
  const owners = new Map<string, Owners>();
  for (const d of plugins.entries) {
    if (d.name.startsWith('.')) continue;
    const dirRel = pluginDir(d.name);
    const dirShown = shown(dirRel);
    if (d.kind === 'dir' || d.kind === 'link') {
      loadPluginDir(source, d, dirRel, dirShown, findings, entries, relOf, owners);
    } else if (d.kind === 'file') {
      if (d.name !== 'README.md') {
        findings.error(
          'path.bad-layout',
          'only plugin folders belong in plugins/; entries go in plugins/<plugin_id>/<version>.yaml',
          { file: dirShown },
        );
      }
    } else {
      findings.error('path.not-regular-file', 'is not a folder or a regular file; it was not opened', {
        file: dirShown,
      });
    }
  }
  for (const rule of CATALOG_RULES) rule({ entries, findings, locate });
  const authorRoles = checkAuthorSigning(source, owners, entries, findings, locate);

  const maintainers = readMaintainers(source, shown(MAINTAINERS_FILE), findings);
  checkAssetNames(source, findings);
  return {
    root: '',
    source,
    entries,
    maintainers,
    owners,
    findings: sortFindings(findings.items),
    locate,
    authorRoles,
  };
}

/**
 * One plugin folder: every `<version>.yaml` in it read and checked, and its `owners.yaml`; anything
 * else is a finding. A folder with entries and no owners.yaml is a warning: nobody is an owner, so
 * only maintainers may change the plugin (a missing list never grants anyone anything).
 */
function loadPluginDir(
  source: CatalogSource,
  { name: dir, kind }: SourceDirent,
  dirRel: string,
  dirShown: string,
  findings: FindingList,
  entries: LoadedEntry[],
  relOf: Map<string, string>,
  owners: Map<string, Owners>,
): void {
  const listed = source.list(dirRel, kind);
  if (!listed.ok) {
    if (listed.refusal.kind === 'io' && kind !== 'link') {
      const f = ioFinding(listed.refusal.error, dirShown);
      findings.error('catalog.unreadable', `cannot list this folder: ${f.message}`, { file: dirShown });
    } else {
      findings.items.push(refusalFinding(listed.refusal, dirShown, 'yaml.too-large'));
    }
    return;
  }
  let hasEntries = false;
  let hasOwners = false;
  for (const e of listed.entries) {
    if (e.name.startsWith('.')) continue;
    const rel = `${dirRel}/${e.name}`;
    const file = source.show(rel);
    const isYaml = e.name.endsWith(ENTRY_SUFFIX);
    if (e.name === SIGNED_TARGETS_FILE && e.kind !== 'dir') {
      // Read (bounded, a regular file inside the catalog) by the author-signing rule.
    } else if (e.name === OWNERS_FILE) {
      hasOwners = true;
      const list = readOwners(source, rel, findings, e.kind);
      if (list) owners.set(dir, list);
    } else if (isYaml && (e.kind === 'file' || e.kind === 'link')) {
      hasEntries = true;
      const read = source.read(rel, MAX_ENTRY_BYTES, e.kind);
      if (!read.ok) {
        findings.items.push(refusalFinding(read.refusal, file, 'yaml.too-large'));
        continue;
      }
      const result = checkEntryBytes(read.bytes, { file, dir, fileName: e.name });
      if (result.findings.length > 0) findings.items.push(...result.findings);
      if (result.loaded) {
        entries.push(result.loaded);
        relOf.set(file, rel);
      }
    } else if (isYaml && e.kind === 'other') {
      findings.error(
        'path.not-regular-file',
        'is not a regular file (a FIFO, socket or device); it was not opened',
        {
          file,
        },
      );
    } else {
      const hint =
        e.name === 'owners.yml'
          ? '; rename it to owners.yaml'
          : e.name.endsWith('.yml')
            ? '; rename it to .yaml'
            : '';
      findings.error(
        'path.bad-layout',
        `not a catalog entry: entries are files named plugins/${dir}/<version>.yaml, beside one ${OWNERS_FILE}${hint}`,
        { file },
      );
    }
  }
  if (hasEntries && !hasOwners) {
    findings.warning(
      'catalog.no-owners',
      `plugin ${dir} has no ${OWNERS_FILE}, so only maintainers may publish, yank or deprecate its versions; add one listing its owners (owners: [{github: <login>}])`,
      { file: source.show(`${dirRel}/${OWNERS_FILE}`) },
    );
  }
}

/** How deep, and over how many names, the assets/ walk goes (a catalog holds one archive per version). */
const MAX_ASSET_DEPTH = 8;
const MAX_ASSET_NAMES = 200_000;

/**
 * Files under `assets/` whose paths collide after Unicode case folding and normalization: a checkout
 * on macOS or Windows keeps only one of them, and the other entry's sha256 stops matching. Each file
 * of a colliding group gets a finding naming the others. Links are names here, never followed.
 */
function checkAssetNames(source: CatalogSource, findings: FindingList): void {
  const groups = new Map<string, string[]>();
  let budget = MAX_ASSET_NAMES;
  const walk = (rel: string, kind: SourceKind, depth: number) => {
    const listed = source.list(rel, kind);
    if (!listed.ok) return; // no assets/ at all is fine; an archive that cannot be read is its entry's finding
    for (const e of listed.entries) {
      if (--budget < 0) return;
      const child = `${rel}/${e.name}`;
      if (e.kind === 'dir') {
        if (depth < MAX_ASSET_DEPTH) walk(child, 'dir', depth + 1);
        continue;
      }
      const key = foldName(child);
      const group = groups.get(key);
      if (group) group.push(child);
      else groups.set(key, [child]);
    }
  };
  walk(ASSETS_DIR, 'dir', 0);
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    for (const rel of group) {
      const others = group.filter((r) => r !== rel).map((r) => `"${source.show(r)}"`);
      findings.error(
        'catalog.asset-name-collision',
        `collides with ${others.join(', ')} once case and Unicode normalization are ignored: a checkout on macOS or Windows keeps only one of them; rename the archive`,
        { file: source.show(rel) },
      );
    }
  }
}

/** The catalog's maintainers.yaml (catalog-relative `maintainers.yaml`), shown in findings as `file`. */
export function readMaintainers(
  source: CatalogSource,
  file: string,
  findings: FindingList,
): Maintainers | undefined {
  const read = source.read(MAINTAINERS_FILE, MAX_MAINTAINERS_BYTES);
  if (!read.ok) {
    const missing =
      read.refusal.kind === 'io' && (read.refusal.error as NodeJS.ErrnoException).code === 'ENOENT';
    if (missing) {
      findings.warning('catalog.no-maintainers', 'no maintainers.yaml: nobody may set tier "verified"', {
        file,
      });
    } else {
      findings.items.push(refusalFinding(read.refusal, file, 'yaml.too-large'));
    }
    return undefined;
  }
  return parseListFile(read.bytes, file, maintainersSchema, 'maintainers', MAX_MAINTAINERS_BYTES, findings);
}

/**
 * A plugin's owners.yaml (`rel` is catalog-relative: `plugins/<id>/owners.yaml`), bounded like an
 * entry; undefined when it is missing (no finding: the caller knows whether that matters) or invalid
 * (findings with file:line).
 */
export function readOwners(
  source: CatalogSource,
  rel: string,
  findings: FindingList,
  kind?: SourceKind,
): Owners | undefined {
  const file = source.show(rel);
  const read = source.read(rel, MAX_OWNERS_BYTES, kind);
  if (!read.ok) {
    const missing =
      read.refusal.kind === 'io' && (read.refusal.error as NodeJS.ErrnoException).code === 'ENOENT';
    if (!missing) findings.items.push(refusalFinding(read.refusal, file, 'yaml.too-large'));
    return undefined;
  }
  const owners = parseListFile(read.bytes, file, ownersSchema, 'owners', MAX_OWNERS_BYTES, findings);
  const bad = owners?.signing ? badSigningKeyIds(owners.signing) : [];
  if (owners && bad.length > 0) {
    const locator = new YamlLocator(read.bytes.toString('utf8'));
    for (const i of bad) {
      findings.error(
        'owners.bad-signing-key',
        `signing key ${i + 1}: keyid is not the TUF key id of its public key (sha256 of the canonical JSON of {keytype: ed25519, scheme: ed25519, keyval: {public}}); copy the block hub keys generate --author printed`,
        { file, ...locator.locate(['signing', 'keys', i, 'keyid'], true) },
      );
    }
    return undefined;
  }
  return owners;
}

/** maintainers.yaml and owners.yaml alike: UTF-8, plain YAML (no aliases, no duplicate keys), then the schema. */
function parseListFile<T>(
  bytes: Buffer,
  file: string,
  schema: z.ZodType<T>,
  prefix: SchemaPrefix,
  maxBytes: number,
  findings: FindingList,
): T | undefined {
  const decoded = decodeYamlText(bytes, file);
  if (!decoded.ok) {
    findings.items.push(decoded.finding);
    return undefined;
  }
  const text = decoded.text;
  const parsed = parseYaml(text, file, { flavour: 'core', maxBytes });
  if (!parsed.ok) {
    findings.items.push(parsed.finding);
    return undefined;
  }
  const result = schema.safeParse(parsed.value.data);
  if (!result.success) {
    findings.items.push(...schemaFindings(result.error.issues, parsed.value.data, text, file, prefix));
    return undefined;
  }
  return result.data;
}
