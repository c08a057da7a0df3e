import type { LoadedEntry } from '../catalog/model';
import { ENTRY_RULES } from '../catalog/rules';
import { type Finding, FindingList } from '../findings';
import { catalogEntrySchema } from '../schema/catalog-entry';
import { type PathLocator, YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { schemaFindings } from '../yaml/schema-findings';

/** A catalog entry file is refused unread above this many bytes. */
export const MAX_ENTRY_BYTES = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a YAML file's bytes; invalid UTF-8 is a finding rather than silently replaced characters
 * (which would make the same bytes mean different text to different tools).
 */
export function decodeYamlText(
  bytes: Buffer,
  file: string,
): { ok: true; text: string } | { ok: false; finding: Finding } {
  try {
    return { ok: true, text: utf8.decode(bytes) };
  } catch {
    const line = firstInvalidUtf8Line(bytes);
    return {
      ok: false,
      finding: {
        file,
        line,
        column: 1,
        severity: 'error',
        code: 'yaml.syntax',
        message: 'this line is not valid UTF-8; save the file as UTF-8',
      },
    };
  }
}

/** 1-based number of the first line that is not valid UTF-8 on its own. */
function firstInvalidUtf8Line(bytes: Buffer): number {
  let line = 1;
  let start = 0;
  while (start <= bytes.length) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl;
    try {
      utf8.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    if (nl === -1) break;
    start = nl + 1;
    line++;
  }
  return line;
}

/** Where an entry file sits: `plugins/<dir>/<fileName>`, shown in findings as `file`. */
export interface EntryPlace {
  file: string;
  dir: string;
  fileName: string;
  /**
   * Where findings point in `file` (default: the entry's own lines). An entry made from a manifest
   * (lint's would-be entry) points at the manifest's lines instead.
   */
  locator?: PathLocator;
}

export interface EntryResult {
  /** Present when the file passed the schema and every entry rule. */
  loaded?: LoadedEntry;
  findings: Finding[];
}

/**
 * Parses, validates and rule-checks one entry file's bytes (read by whichever catalog source
 * holds it, within MAX_ENTRY_BYTES); all problems come back as findings.
 */
export function checkEntryBytes(bytes: Buffer, place: EntryPlace): EntryResult {
  const { file, dir, fileName } = place;
  const decoded = decodeYamlText(bytes, file);
  if (!decoded.ok) return { findings: [decoded.finding] };
  const text = decoded.text;
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
  if (!result.success)
    return { findings: schemaFindings(result.error.issues, data, place.locator ?? text, file, 'entry') };
  const loaded: LoadedEntry = { file, entry: result.data };
  const findings = new FindingList();
  let locator = place.locator;
  const locate = (_file: string, path: ReadonlyArray<PropertyKey>) => {
    locator ??= new YamlLocator(text);
    return locator.locate(path);
  };
  for (const rule of ENTRY_RULES) rule({ loaded, dir, fileName, findings, locate });
  return findings.items.length === 0 ? { loaded, findings: [] } : { findings: findings.items };
}
