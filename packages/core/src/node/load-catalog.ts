import { type Dirent, readdirSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { type LoadedEntry, type Locate, type Maintainers, maintainersSchema } from '../catalog/model';
import { CATALOG_RULES } from '../catalog/rules';
import { type Finding, FindingList, sortFindings } from '../findings';
import { YamlLocator } from '../yaml/locate';
import { parseYaml } from '../yaml/parse-yaml';
import { schemaFindings } from '../yaml/schema-findings';
import { FileTree, refusalFinding } from './fs/tree-file';
import { ioFinding } from './io-error';
import { decodeYamlText, type EntryJob, MAX_ENTRY_BYTES, readEntry } from './read-entry';

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

/** Lists a directory; a failure becomes a finding naming it, and the run goes on. */
function listDir(abs: string, file: string, findings: FindingList): Dirent[] | undefined {
  try {
    return readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  } catch (err) {
    const f = ioFinding(err, file);
    findings.error('catalog.unreadable', `cannot list this folder: ${f.message}`, { file });
    return undefined;
  }
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

  const shownPluginsDir = show(pluginsDir);
  const jobs: EntryJob[] = [];
  for (const d of listDir(plugins.real, shownPluginsDir, findings) ?? []) {
    if (d.name.startsWith('.')) continue;
    const file = `${shownPluginsDir}/${d.name}`;
    let dirAbs = join(plugins.real, d.name);
    if (d.isSymbolicLink()) {
      const linked = tree.resolve(dirAbs, 'dir');
      if (!linked.ok) {
        findings.items.push(refusalFinding(linked.refusal, file, 'yaml.too-large'));
        continue;
      }
      dirAbs = linked.real;
    } else if (!d.isDirectory()) {
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
      continue;
    }
    for (const e of listDir(dirAbs, file, findings) ?? []) {
      if (e.name.startsWith('.')) continue;
      const entryFile = `${file}/${e.name}`;
      const isYaml = e.name.endsWith('.yaml');
      if (isYaml && (e.isFile() || e.isSymbolicLink())) {
        jobs.push({
          abs: join(dirAbs, e.name),
          file: entryFile,
          dir: d.name,
          fileName: e.name,
          direntIsFile: e.isFile(),
        });
      } else if (isYaml && !e.isDirectory()) {
        findings.error(
          'path.not-regular-file',
          'is not a regular file (a FIFO, socket or device); it was not opened',
          {
            file: entryFile,
          },
        );
      } else {
        const hint = e.name.endsWith('.yml') ? '; rename it to .yaml' : '';
        findings.error(
          'path.bad-layout',
          `not a catalog entry: entries are files named plugins/${d.name}/<version>.yaml${hint}`,
          { file: entryFile },
        );
      }
    }
  }

  const entries: LoadedEntry[] = [];
  for (const job of jobs) {
    const result = readEntry(job, tree);
    findings.items.push(...result.findings);
    if (result.loaded) {
      entries.push(result.loaded);
      sources.set(result.loaded.file, result.real ?? job.abs);
    }
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
