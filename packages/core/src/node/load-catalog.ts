import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { type LoadedEntry, type Locate, type Maintainers, maintainersSchema } from '../catalog/model';
import { CATALOG_RULES } from '../catalog/rules';
import { type Finding, FindingList, sortFindings } from '../findings';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { schemaFindings } from '../yaml/schema-findings';
import { type EntryJob, MAX_ENTRY_BYTES, readEntry } from './read-entry';

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
export async function loadCatalog(rootDir: string, opts: LoadCatalogOptions = {}): Promise<LoadedCatalog> {
  const root = resolve(rootDir);
  const from = resolve(opts.displayFrom ?? process.cwd());
  const show = (abs: string) => relative(from, abs) || basename(abs);
  const findings = new FindingList();
  // Positions are needed only for findings, which are rare: re-read the file then instead of keeping every text.
  const sources = new Map<string, string>();
  const locators = new Map<string, YamlLocator>();
  const locate: Locate = (file, path) => {
    let loc = locators.get(file);
    if (!loc) {
      const abs = sources.get(file);
      loc = new YamlLocator(abs ? readFileSync(abs, 'utf8') : '');
      locators.set(file, loc);
    }
    return loc.locate(path);
  };

  const pluginsDir = join(root, 'plugins');
  let dirs: string[];
  try {
    dirs = readdirSync(pluginsDir, { withFileTypes: true })
      .filter((d) => {
        if (d.name.startsWith('.')) return false;
        if (d.isDirectory()) return true;
        if (d.name !== 'README.md') {
          findings.error(
            'path.bad-layout',
            'only plugin folders belong in plugins/; entries go in plugins/<plugin_id>/<version>.yaml',
            {
              file: show(join(pluginsDir, d.name)),
            },
          );
        }
        return false;
      })
      .map((d) => d.name)
      .sort();
  } catch (err) {
    findings.error(
      'catalog.not-found',
      `cannot read ${show(pluginsDir)}: ${(err as NodeJS.ErrnoException).code ?? err}; is this a catalog directory?`,
      {
        file: show(root),
      },
    );
    return { root, entries: [], findings: findings.items };
  }

  const jobs: EntryJob[] = [];
  const shownPluginsDir = show(pluginsDir);
  for (const dir of dirs) {
    const names = readdirSync(join(pluginsDir, dir), { withFileTypes: true });
    names.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const d of names) {
      const abs = `${pluginsDir}/${dir}/${d.name}`;
      const file = `${shownPluginsDir}/${dir}/${d.name}`;
      if (d.name.startsWith('.')) continue;
      if (!d.isFile() || !d.name.endsWith('.yaml')) {
        const hint = d.name.endsWith('.yml') ? '; rename it to .yaml' : '';
        findings.error(
          'path.bad-layout',
          `not a catalog entry: entries are files named plugins/${dir}/<version>.yaml${hint}`,
          { file },
        );
        continue;
      }
      jobs.push({ abs, file, dir, fileName: d.name });
    }
  }

  const entries: LoadedEntry[] = [];
  for (const [i, result] of jobs.map(readEntry).entries()) {
    findings.items.push(...result.findings);
    if (result.loaded) {
      entries.push(result.loaded);
      sources.set(result.loaded.file, jobs[i]!.abs);
    }
  }
  for (const rule of CATALOG_RULES) rule({ entries, findings, locate });

  const maintainers = loadMaintainers(root, show, findings);
  return { root, entries, maintainers, findings: sortFindings(findings.items) };
}

function loadMaintainers(
  root: string,
  show: (abs: string) => string,
  findings: FindingList,
): Maintainers | undefined {
  const abs = join(root, 'maintainers.yaml');
  const file = show(abs);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch {
    findings.warning('catalog.no-maintainers', 'no maintainers.yaml: nobody may set tier "verified"', {
      file,
    });
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
