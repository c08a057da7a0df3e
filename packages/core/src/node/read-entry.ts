import type { LoadedEntry } from '../catalog/model';
import { ENTRY_RULES } from '../catalog/rules';
import { type Finding, FindingList } from '../findings';
import { catalogEntrySchema } from '../schema/catalog-entry';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { schemaFindings } from '../yaml/schema-findings';
import { type FileTree, refusalFinding } from './fs/tree-file';

/** A catalog entry file is refused unread above this many bytes. */
export const MAX_ENTRY_BYTES = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Entries are decoded straight out of one reusable buffer: 25,000 files need no 25,000 allocations.
const scratch = Buffer.allocUnsafe(MAX_ENTRY_BYTES + 1);

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

/** One file to read: `plugins/<dir>/<fileName>`. */
export interface EntryJob {
  abs: string;
  /** The path shown in findings. */
  file: string;
  dir: string;
  fileName: string;
  /** readdir saw a plain file (not a link), so no lstat is needed before opening it. */
  direntIsFile?: boolean;
}

export interface EntryResult {
  /** Present when the file passed the schema and every entry rule. */
  loaded?: LoadedEntry;
  findings: Finding[];
}

/**
 * Reads (through the catalog's FileTree: regular files inside it only, at most MAX_ENTRY_BYTES),
 * parses, validates and rule-checks one entry file; all problems come back as findings.
 */
export function readEntry(job: EntryJob, tree: FileTree): EntryResult & { real?: string } {
  const { abs, file, dir, fileName } = job;
  const read = tree.read(abs, MAX_ENTRY_BYTES, { direntIsFile: job.direntIsFile, scratch });
  if (!read.ok) return { findings: [refusalFinding(read.refusal, file, 'yaml.too-large')] };
  const decoded = decodeYamlText(read.bytes, file);
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
  if (!result.success) return { findings: schemaFindings(result.error.issues, data, text, file, 'entry') };
  const loaded: LoadedEntry = { file, entry: result.data };
  const findings = new FindingList();
  let locator: YamlLocator | undefined;
  const locate = (_file: string, path: ReadonlyArray<PropertyKey>) => {
    locator ??= new YamlLocator(text);
    return locator.locate(path);
  };
  for (const rule of ENTRY_RULES) rule({ loaded, dir, fileName, findings, locate });
  return findings.items.length === 0
    ? { loaded, findings: [], real: read.real }
    : { findings: findings.items };
}
