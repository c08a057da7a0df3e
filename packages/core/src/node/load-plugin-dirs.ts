import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedEntry } from '../catalog/model';
import { type Finding, FindingList } from '../findings';
import { type FileTree, refusalFinding } from './fs/tree-file';
import { ioFinding } from './io-error';
import { type EntryJob, readEntry } from './read-entry';

/** One folder under `plugins/` to load: its name, and whether readdir saw a link rather than a folder. */
export interface PluginDirJob {
  name: string;
  link: boolean;
}

/** What loading some plugin folders produced: the entries that passed, in order, and every finding. */
export interface PluginDirsResult {
  /** `real` is the entry file's real path, kept so positions can be found later by re-reading it. */
  entries: { loaded: LoadedEntry; real: string }[];
  findings: Finding[];
}

/** Where the plugin folders are: `real` is the real path of `plugins/`, `shown` its path in findings. */
export interface PluginsPlace {
  real: string;
  shown: string;
}

/** Lists a directory, sorted by name; a failure becomes a finding naming it, and the run goes on. */
export function listDirSorted(
  abs: string,
  file: string,
  findings: FindingList,
): import('node:fs').Dirent[] | undefined {
  try {
    return readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  } catch (err) {
    const f = ioFinding(err, file);
    findings.error('catalog.unreadable', `cannot list this folder: ${f.message}`, { file });
    return undefined;
  }
}

/**
 * Lists each plugin folder and reads, validates and rule-checks every `<version>.yaml` in it.
 * Pure in its inputs (the tree, the place and the folder names), so the same work can run on any
 * thread and the results of separate batches simply concatenate.
 */
export function loadPluginDirs(
  tree: FileTree,
  place: PluginsPlace,
  dirs: readonly PluginDirJob[],
): PluginDirsResult {
  const findings = new FindingList();
  const entries: PluginDirsResult['entries'] = [];
  for (const d of dirs) {
    const file = `${place.shown}/${d.name}`;
    let dirAbs = join(place.real, d.name);
    if (d.link) {
      const linked = tree.resolve(dirAbs, 'dir');
      if (!linked.ok) {
        findings.items.push(refusalFinding(linked.refusal, file, 'yaml.too-large'));
        continue;
      }
      dirAbs = linked.real;
    }
    for (const job of entryJobs(dirAbs, file, d.name, findings)) {
      const result = readEntry(job, tree);
      if (result.findings.length > 0) findings.items.push(...result.findings);
      if (result.loaded) entries.push({ loaded: result.loaded, real: result.real ?? job.abs });
    }
  }
  return { entries, findings: findings.items };
}

/** The entry files of one plugin folder; anything else in it is a finding. */
function entryJobs(dirAbs: string, file: string, dir: string, findings: FindingList): EntryJob[] {
  const jobs: EntryJob[] = [];
  for (const e of listDirSorted(dirAbs, file, findings) ?? []) {
    if (e.name.startsWith('.')) continue;
    const entryFile = `${file}/${e.name}`;
    const isYaml = e.name.endsWith('.yaml');
    if (isYaml && (e.isFile() || e.isSymbolicLink())) {
      jobs.push({
        abs: join(dirAbs, e.name),
        file: entryFile,
        dir,
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
        `not a catalog entry: entries are files named plugins/${dir}/<version>.yaml${hint}`,
        { file: entryFile },
      );
    }
  }
  return jobs;
}
