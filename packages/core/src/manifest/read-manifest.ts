import type { Finding } from '../findings';
import { type ArchiveManifest, archiveManifestSchema } from '../schema/archive-manifest';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { schemaFindings } from '../yaml/schema-findings';
import { keyTypoFindings } from './key-typos';

/** A manifest larger than this is refused before parsing (real ones are a few KB). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export type ManifestResult =
  | { ok: true; manifest: ArchiveManifest; raw: Record<string, unknown>; text: string }
  | { ok: false; findings: Finding[] };

/** Parses and validates manifest text the way the Magellon SDK does; problems carry file:line:column. */
export function readManifest(text: string, file: string): ManifestResult {
  const parsed = parseYaml(text, file, { flavour: 'sdk', maxBytes: MAX_MANIFEST_BYTES });
  if (!parsed.ok) return { ok: false, findings: [parsed.finding] };
  const data = parsed.value.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return {
      ok: false,
      findings: [
        {
          file,
          line: 1,
          column: 1,
          severity: 'error',
          code: 'manifest.not-mapping',
          message: 'manifest.yaml must be a YAML mapping at the top level',
        },
      ],
    };
  }
  const result = archiveManifestSchema.safeParse(data);
  if (!result.success) {
    // A misspelled key often explains a "missing" field (requires_skd: → requires_sdk is missing).
    const locator = new YamlLocator(text);
    const typos = keyTypoFindings(data, file, (path, key) => locator.locate(path, key));
    return {
      ok: false,
      findings: [...schemaFindings(result.error.issues, data, text, file, 'manifest'), ...typos],
    };
  }
  return { ok: true, manifest: result.data, raw: data as Record<string, unknown>, text };
}
