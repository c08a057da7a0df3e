import { readFileSync } from 'node:fs';
import type { LoadedEntry } from '../catalog/model';
import { ENTRY_RULES } from '../catalog/rules';
import { type Finding, FindingList } from '../findings';
import { catalogEntrySchema } from '../schema/catalog-entry';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { schemaFindings } from '../yaml/schema-findings';

/** A catalog entry file is refused before parsing above this size. */
export const MAX_ENTRY_BYTES = 64 * 1024;

/** One file to read: `plugins/<dir>/<fileName>`. */
export interface EntryJob {
  abs: string;
  /** The path shown in findings. */
  file: string;
  dir: string;
  fileName: string;
}

export interface EntryResult {
  /** Present when the file passed the schema and every entry rule. */
  loaded?: LoadedEntry;
  findings: Finding[];
}

/** Reads, parses, validates and rule-checks one entry file; all problems come back as findings. */
export function readEntry(job: EntryJob): EntryResult {
  const { abs, file, dir, fileName } = job;
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    return {
      findings: [
        { file, severity: 'error', code: 'catalog.unreadable', message: `cannot read the file (${code})` },
      ],
    };
  }
  const parsed = parseYaml(text, file, { flavour: 'core', maxBytes: MAX_ENTRY_BYTES });
  if (!parsed.ok) return { findings: [parsed.finding] };
  const data = parsed.value.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return {
      findings: [
        {
          file,
          line: 1,
          column: 1,
          severity: 'error',
          code: 'yaml.not-mapping',
          message: 'a catalog entry must be a YAML mapping of fields (plugin_id: …, version: …)',
        },
      ],
    };
  }
  const result = catalogEntrySchema.safeParse(data);
  if (!result.success) return { findings: schemaFindings(result.error.issues, data, text, file, 'entry') };
  const loaded: LoadedEntry = { file, entry: result.data };
  const findings = new FindingList();
  let locator: YamlLocator | undefined;
  const locate = (_file: string, path: ReadonlyArray<PropertyKey>) => {
    locator ??= new YamlLocator(text);
    return locator.locate(path);
  };
  for (const rule of ENTRY_RULES) rule({ loaded, dir, fileName, findings, locate });
  return findings.items.length === 0 ? { loaded, findings: [] } : { findings: findings.items };
}
