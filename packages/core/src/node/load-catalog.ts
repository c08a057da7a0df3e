import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { CATALOG_RULES, ENTRY_RULES } from '../catalog/rules';
import { type LoadedEntry, type Locate, type Maintainers, maintainersSchema } from '../catalog/model';
import { type Finding, FindingList, sortFindings } from '../findings';
import { catalogEntrySchema } from '../schema/catalog-entry';
import { parseYaml } from '../yaml/parse-yaml';
import { YamlLocator } from '../yaml/locate';
import { schemaFindings } from '../yaml/schema-findings';

/** A catalog entry file larger than this is refused before parsing. */
export const MAX_ENTRY_BYTES = 64 * 1024;

export interface LoadedCatalog {
  /** Absolute path of the catalog directory (the one holding `plugins/`). */
  root: string;
  /** Entries that passed the schema, sorted by plugin id then file name. */
  entries: LoadedEntry[];
  maintainers?: Maintainers;
  /** Every problem found, sorted by file and line. */
  findings: Finding[];
}

export interface LoadCatalogOptions {
  /** Paths in findings are shown relative to this directory (default: the current directory). */
  displayFrom?: string;
}

/**
 * Reads `<root>/plugins/<plugin_id>/<version>.yaml` and `<root>/maintainers.yaml`,
 * validates every entry, runs every rule, and returns all findings at once.
 */
export function loadCatalog(rootDir: string, opts: LoadCatalogOptions = {}): LoadedCatalog {
  const root = resolve(rootDir);
  const from = resolve(opts.displayFrom ?? process.cwd());
  const show = (abs: string) => relative(from, abs) || basename(abs);
  const findings = new FindingList();
  const texts = new Map<string, string>();
  const locators = new Map<string, YamlLocator>();
  const locate: Locate = (file, path) => {
    let loc = locators.get(file);
    if (!loc) {
      loc = new YamlLocator(texts.get(file) ?? '');
      locators.set(file, loc);
    }
    return loc.locate(path);
  };

  const pluginsDir = join(root, 'plugins');
  let dirs: string[];
  try {
    dirs = readdirSync(pluginsDir, { withFileTypes: true })
      .filter((d) => {
        if (d.isDirectory()) return true;
        if (!d.name.startsWith('.') && d.name !== 'README.md') {
          findings.error('path.bad-layout', 'only plugin folders belong in plugins/; entries go in plugins/<plugin_id>/<version>.yaml', {
            file: show(join(pluginsDir, d.name)),
          });
        }
        return false;
      })
      .map((d) => d.name)
      .sort();
  } catch (err) {
    findings.error('catalog.not-found', `cannot read ${show(pluginsDir)}: ${(err as NodeJS.ErrnoException).code ?? err}; is this a catalog directory?`, {
      file: show(root),
    });
    return { root, entries: [], findings: findings.items };
  }

  const entries: LoadedEntry[] = [];
  for (const dir of dirs) {
    const names = readdirSync(join(pluginsDir, dir), { withFileTypes: true });
    names.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const d of names) {
      const abs = join(pluginsDir, dir, d.name);
      const file = show(abs);
      if (d.name.startsWith('.')) continue;
      if (!d.isFile() || !d.name.endsWith('.yaml')) {
        const hint = d.name.endsWith('.yml') ? '; rename it to .yaml' : '';
        findings.error('path.bad-layout', `not a catalog entry: entries are files named plugins/${dir}/<version>.yaml${hint}`, { file });
        continue;
      }
      const text = readFileSync(abs, 'utf8');
      const parsed = parseYaml(text, file, { flavour: 'core', maxBytes: MAX_ENTRY_BYTES });
      if (!parsed.ok) {
        findings.items.push(parsed.finding);
        continue;
      }
      texts.set(file, text);
      const data = parsed.value.data;
      if (typeof data !== 'object' || data === null || Array.isArray(data)) {
        findings.error('yaml.not-mapping', 'a catalog entry must be a YAML mapping of fields (plugin_id: …, version: …)', {
          file,
          line: 1,
          column: 1,
        });
        continue;
      }
      const result = catalogEntrySchema.safeParse(data);
      if (!result.success) {
        findings.items.push(...schemaFindings(result.error.issues, data, text, file, 'entry'));
        continue;
      }
      const loaded: LoadedEntry = { file, entry: result.data };
      const before = findings.items.length;
      for (const rule of ENTRY_RULES) rule({ loaded, dir, fileName: d.name, findings, locate });
      if (findings.items.length === before) entries.push(loaded);
    }
  }
  for (const rule of CATALOG_RULES) rule({ entries, findings, locate });

  const maintainers = loadMaintainers(root, show, findings);
  return { root, entries, maintainers, findings: sortFindings(findings.items) };
}

function loadMaintainers(root: string, show: (abs: string) => string, findings: FindingList): Maintainers | undefined {
  const abs = join(root, 'maintainers.yaml');
  const file = show(abs);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch {
    findings.warning('catalog.no-maintainers', 'no maintainers.yaml: nobody may set tier "verified"', { file });
    return undefined;
  }
  const parsed = parseYaml(text, file, { flavour: 'core', maxBytes: MAX_ENTRY_BYTES });
  if (!parsed.ok) {
    findings.items.push(parsed.finding);
    return undefined;
  }
  const result = maintainersSchema.safeParse(parsed.value.data);
  if (!result.success) {
    findings.items.push(...schemaFindings(result.error.issues, parsed.value.data, text, file, 'maintainers'));
    return undefined;
  }
  return result.data;
}
