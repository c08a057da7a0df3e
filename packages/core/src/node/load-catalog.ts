import { basename, join, relative, resolve } from 'node:path';
import { type LoadedEntry, type Locate, type Maintainers, maintainersSchema } from '../catalog/model';
import { CATALOG_RULES } from '../catalog/rules';
import { type Finding, FindingList, sortFindings } from '../findings';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { schemaFindings } from '../yaml/schema-findings';
import { FileTree, refusalFinding } from './fs/tree-file';
import { ioFinding } from './io-error';
import { listDirSorted, loadPluginDirs, type PluginDirJob, type PluginsPlace } from './load-plugin-dirs';
import { decodeYamlText, MAX_ENTRY_BYTES } from './read-entry';

/** maintainers.yaml is refused unread above this many bytes. */
export const MAX_MAINTAINERS_BYTES = 256 * 1024;

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
 * Files are read only if they are regular files whose real path stays inside the catalog,
 * and only up to their byte limit; anything else is a finding, never a read or a hang.
 */
export async function loadCatalog(rootDir: string, opts: LoadCatalogOptions = {}): Promise<LoadedCatalog> {
  const root = resolve(rootDir);
  const from = resolve(opts.displayFrom ?? process.cwd());
  const show = (abs: string) => relative(from, abs) || basename(abs);
  const findings = new FindingList();
  const pluginsDir = join(root, 'plugins');
  const notFound = (what: string, err: unknown): LoadedCatalog => {
    const why = ioFinding(err, what).message.replace(/; check the path$/, '');
    findings.error(
      'catalog.not-found',
      `${what} ${why}; give the catalog directory (the one that holds plugins/)`,
      { file: show(root) },
    );
    return { root, entries: [], findings: findings.items };
  };
  let tree: FileTree;
  try {
    tree = new FileTree(root);
  } catch (err) {
    return notFound(show(root), err);
  }
  const plugins = tree.resolve(pluginsDir, 'dir');
  if (!plugins.ok) {
    if (plugins.refusal.kind === 'io') return notFound(show(pluginsDir), plugins.refusal.error);
    findings.items.push(refusalFinding(plugins.refusal, show(pluginsDir), 'yaml.too-large'));
    return { root, entries: [], findings: findings.items };
  }
  // Positions are needed only for findings, which are rare: re-read the file then instead of keeping every text.
  const sources = new Map<string, string>();
  const locators = new Map<string, YamlLocator>();
  const locate: Locate = (file, path) => {
    let loc = locators.get(file);
    if (!loc) {
      const abs = sources.get(file);
      const read = abs ? tree.read(abs, MAX_ENTRY_BYTES) : undefined;
      loc = new YamlLocator(read?.ok ? read.bytes.toString('utf8') : '');
      locators.set(file, loc);
    }
    return loc.locate(path);
  };

  const place: PluginsPlace = { real: plugins.real, shown: show(pluginsDir) };
  const dirs: PluginDirJob[] = [];
  for (const d of listDirSorted(place.real, place.shown, findings) ?? []) {
    if (d.name.startsWith('.')) continue;
    if (d.isSymbolicLink() || d.isDirectory()) {
      dirs.push({ name: d.name, link: d.isSymbolicLink() });
      continue;
    }
    const file = `${place.shown}/${d.name}`;
    if (d.isFile()) {
      if (d.name !== 'README.md') {
        findings.error(
          'path.bad-layout',
          'only plugin folders belong in plugins/; entries go in plugins/<plugin_id>/<version>.yaml',
          { file },
        );
      }
    } else {
      findings.error('path.not-regular-file', 'is not a folder or a regular file; it was not opened', {
        file,
      });
    }
  }

  const loaded = loadPluginDirs(tree, place, dirs);
  for (const f of loaded.findings) findings.items.push(f);
  const entries: LoadedEntry[] = [];
  for (const { loaded: e, real } of loaded.entries) {
    entries.push(e);
    sources.set(e.file, real);
  }
  for (const rule of CATALOG_RULES) rule({ entries, findings, locate });

  const maintainers = loadMaintainers(tree, root, show, findings);
  return { root, entries, maintainers, findings: sortFindings(findings.items) };
}

function loadMaintainers(
  tree: FileTree,
  root: string,
  show: (abs: string) => string,
  findings: FindingList,
): Maintainers | undefined {
  const abs = join(root, 'maintainers.yaml');
  const file = show(abs);
  const read = tree.read(abs, MAX_MAINTAINERS_BYTES);
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
  const decoded = decodeYamlText(read.bytes, file);
  if (!decoded.ok) {
    findings.items.push(decoded.finding);
    return undefined;
  }
  const text = decoded.text;
  const parsed = parseYaml(text, file, { flavour: 'core', maxBytes: MAX_MAINTAINERS_BYTES });
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
