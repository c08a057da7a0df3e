import type { FindingCode } from '../finding-codes';
import type { FindingList } from '../findings';
import { entryFileName } from '../layout';
import { compareVersions } from '../versions/semver';
import { groupByPlugin, type LoadedEntry, type Locate } from './model';

/** What an entry rule sees: the parsed entry and where its file sits under `plugins/`. */
export interface EntryRuleContext {
  loaded: LoadedEntry;
  /** `plugins/<dir>/<fileName>` parts of the entry's path. */
  dir: string;
  fileName: string;
  findings: FindingList;
  locate: Locate;
}

export type EntryRule = (ctx: EntryRuleContext) => void;

export interface CatalogRuleContext {
  entries: readonly LoadedEntry[];
  findings: FindingList;
  locate: Locate;
}

export type CatalogRule = (ctx: CatalogRuleContext) => void;

const pathMatchesPluginId: EntryRule = ({ loaded, dir, findings, locate }) => {
  const { entry, file } = loaded;
  if (entry.plugin_id !== dir) {
    findings.error(
      'path.plugin-id-mismatch',
      `plugin_id "${entry.plugin_id}" does not match its folder "plugins/${dir}/"; move the file to plugins/${entry.plugin_id}/ or fix plugin_id`,
      { file, ...locate(file, ['plugin_id']) },
    );
  }
};

const pathMatchesVersion: EntryRule = ({ loaded, fileName, findings, locate }) => {
  const { entry, file } = loaded;
  if (fileName !== entryFileName(entry.version)) {
    findings.error(
      'path.version-mismatch',
      `version "${entry.version}" does not match the file name "${fileName}"; name the file ${entryFileName(entry.version)}`,
      { file, ...locate(file, ['version']) },
    );
  }
};

const yankedAfterPublish: EntryRule = ({ loaded, findings, locate }) => {
  const { entry, file } = loaded;
  if (entry.yanked && Date.parse(entry.yanked.at) < Date.parse(entry.published_at)) {
    findings.error('entry.yanked-before-published', 'yanked.at is earlier than published_at', {
      file,
      ...locate(file, ['yanked', 'at']),
    });
  }
};

/** Fields of a published entry that a later pull request may add or change (`hub verify`). */
export const MUTABLE_ENTRY_FIELDS = ['yanked', 'deprecated'] as const;

/**
 * Names the site uses for its own pages beside `/plugins/<plugin_id>/` (and the search index):
 * a plugin called one of these would have no page of its own.
 */
export const RESERVED_PLUGIN_IDS: readonly string[] = [
  'categories',
  'page',
  'publish',
  'pagefind',
  'feed.xml',
  '_astro',
];

const pluginIdNotReserved: EntryRule = ({ loaded, findings, locate }) => {
  const { entry, file } = loaded;
  if (RESERVED_PLUGIN_IDS.includes(entry.plugin_id)) {
    findings.error(
      'entry.reserved-id',
      `plugin_id "${entry.plugin_id}" is reserved for the catalog site's own pages (${RESERVED_PLUGIN_IDS.join(', ')}); choose another id`,
      { file, ...locate(file, ['plugin_id']) },
    );
  }
};

/** Rules applied to every entry that passed the schema, in order. */
export const ENTRY_RULES: readonly EntryRule[] = [
  pathMatchesPluginId,
  pathMatchesVersion,
  yankedAfterPublish,
  pluginIdNotReserved,
];

const uniqueVersionPrecedence: CatalogRule = ({ entries, findings, locate }) => {
  for (const [id, group] of groupByPlugin(entries)) {
    // Among equal versions the plainest (no build metadata) counts as the original.
    const sorted = [...group].sort(
      (a, b) =>
        compareVersions(a.entry.version, b.entry.version) ||
        a.entry.version.length - b.entry.version.length ||
        (a.file < b.file ? -1 : 1),
    );
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (compareVersions(prev.entry.version, cur.entry.version) === 0) {
        findings.error(
          'catalog.duplicate-version',
          `${id} ${cur.entry.version} has the same SemVer precedence as ${prev.file} (build metadata does not make a new version)`,
          { file: cur.file, ...locate(cur.file, ['version']) },
        );
      }
    }
  }
};

function uniqueField(field: 'archive_id' | 'url', code: FindingCode, what: string): CatalogRule {
  return ({ entries, findings, locate }) => {
    const seen = new Map<string, LoadedEntry>();
    for (const loaded of entries) {
      const value = field === 'url' ? loaded.entry.archive.url : loaded.entry.archive_id;
      const first = seen.get(value);
      if (!first) {
        seen.set(value, loaded);
        continue;
      }
      const path = field === 'url' ? ['archive', 'url'] : ['archive_id'];
      findings.error(
        code,
        `${what} "${value}" is already used by ${first.file}; every version needs its own archive`,
        {
          file: loaded.file,
          ...locate(loaded.file, path),
        },
      );
    }
  };
}

const replacementExists: CatalogRule = ({ entries, findings, locate }) => {
  const ids = new Set(entries.map((e) => e.entry.plugin_id));
  for (const { entry, file } of entries) {
    const replacement = entry.deprecated?.replacement;
    if (replacement && !ids.has(replacement)) {
      findings.warning(
        'entry.unknown-replacement',
        `deprecated.replacement "${replacement}" is not a plugin in this catalog`,
        {
          file,
          ...locate(file, ['deprecated', 'replacement']),
        },
      );
    }
  }
};

/** Rules that look across entries, applied after every entry is read. */
export const CATALOG_RULES: readonly CatalogRule[] = [
  uniqueVersionPrecedence,
  uniqueField('url', 'catalog.archive-url-reused', 'archive.url'),
  uniqueField('archive_id', 'catalog.archive-id-reused', 'archive_id'),
  replacementExists,
];
