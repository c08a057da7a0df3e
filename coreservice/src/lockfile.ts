// Reproducible labs: `export` writes a lockfile of what a plugins dir holds (each plugin's exact
// archive by sha256, the registry it came from, its install method, replicas and locked Python
// dependency set); `sync` makes another plugins dir hold exactly that, through the same install,
// upgrade, scale and uninstall functions every other command uses (each holding the plugin's
// lock), and reports the drift it found and what it did. A lockfile may choose among the
// registries this CoreService is configured with, never add one; an archive whose sha256 is not the
// lockfile's is refused before a byte is fetched. The lockfile is JSON (lockfileSchema, records.ts);
// sync reads it as YAML, of which JSON is a part, so errors name file:line:column.
import { compareVersions } from '@magellon/hub-core';
import { parseYaml } from '@magellon/hub-core/node';
import { escapeControl as safe } from '@magellon/hub-core/text';
import type { Registry } from './config';
import { asRegistry } from './config';
import { InstallError } from './errors';
import {
  type DownloadLimits,
  type InstallEvent,
  installFromHub,
  listInstalled,
  listUnreadable,
  type Receipt,
  type RunOptions,
  receiptRecord,
  uninstall,
} from './install';
import { pluginHome, pluginHomeNames } from './layout';
import { scalePlugin } from './lifecycle';
import {
  isCredentialFreeUrl,
  LOCKFILE_VERSION,
  type LockEntry,
  type Lockfile,
  lockfileSchema,
  recordValue,
  unreadable,
} from './records';
import { configuredRegistry } from './registries';
import { readSmallFile, writeFileDurably } from './runtime/files';
import { readRunState } from './runtime/runner';
import { upgradeFromHub } from './upgrade';

/** The largest lockfile read (a few thousand plugins with their dependency sets). */
const MAX_LOCKFILE_BYTES = 4 * 1024 * 1024;

/** A URL as a lockfile keeps it: never its user, password, query or fragment (a token's places). */
function withoutCredentials(url: string): string {
  if (url === 'upload' || isCredentialFreeUrl(url)) return url;
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return url;
  }
}

/** A receipt and its run state as a lock entry (times, paths and anything else local left out). */
function lockEntry(pluginsDir: string, r: Receipt): LockEntry {
  const state = recordValue(readRunState(pluginHome(pluginsDir, r.plugin_id)));
  return {
    plugin_id: r.plugin_id,
    version: r.version,
    sha256: r.sha256,
    size_bytes: r.size_bytes,
    archive_id: r.archive_id,
    registry: withoutCredentials(r.registry),
    method: r.method ?? 'subprocess',
    replicas: state?.replicas ?? 1,
    ...(r.python_dependencies ? { python_dependencies: r.python_dependencies } : {}),
    ...(r.python_index !== undefined ? { python_index: withoutCredentials(r.python_index) } : {}),
    ...(r.locked !== undefined ? { locked: r.locked } : {}),
  };
}

/**
 * The lockfile of what `pluginsDir` holds, plugins by id. A plugin whose receipt cannot be read is
 * `unreadable-record`: a lockfile that left it out would not be what is installed.
 */
export function exportLock(pluginsDir: string, opts: { sdkVersion?: string } = {}): Lockfile {
  const bad = listUnreadable(pluginsDir);
  if (bad.length > 0) {
    throw new InstallError(
      'unreadable-record',
      `cannot export: ${bad.map((b) => b.plugin_id).join(', ')} cannot be read; restore the receipt, or run coreservice doctor`,
      bad.map((b) => `${b.plugin_id}: ${b.problem}`),
    );
  }
  const plugins = listInstalled(pluginsDir)
    .map((r) => lockEntry(pluginsDir, r))
    .sort((a, b) => (a.plugin_id < b.plugin_id ? -1 : a.plugin_id > b.plugin_id ? 1 : 0));
  return lockfileSchema.parse({
    lockfile_version: LOCKFILE_VERSION,
    ...(opts.sdkVersion ? { sdk_version: opts.sdkVersion } : {}),
    plugins,
  });
}

/** A lockfile as text: JSON, two-space indented, one trailing newline (the same set gives the same bytes). */
export const lockText = (lock: Lockfile) => `${JSON.stringify(lock, null, 2)}\n`;

/** Writes a lockfile to `path` atomically (a temp file renamed over it; mode 0600). */
export function writeLock(path: string, lock: Lockfile): void {
  writeFileDurably(path, lockText(lock));
}

/**
 * Reads a lockfile (a regular file, the path the operator named, at most 4 MiB). It is read as
 * YAML 1.2's core schema, of which JSON is a part: an exported lockfile, or the same document
 * written as YAML. Errors (`bad-request`) name the file and where: `file:line:column` for text
 * that does not parse, `file: plugins.1.sha256` for a field the schema refuses.
 */
export function readLock(path: string): Lockfile {
  const read = readSmallFile(path, MAX_LOCKFILE_BYTES, { followLink: true });
  if (!read.ok) throw new InstallError('bad-request', `cannot read the lockfile ${path}: ${read.why}`);
  const doc = parseYaml(read.text, path, { flavour: 'core', maxBytes: MAX_LOCKFILE_BYTES });
  if (!doc.ok) {
    const f = doc.finding;
    throw new InstallError('bad-request', `${f.file}:${f.line ?? 1}:${f.column ?? 1}: ${f.message}`);
  }
  const parsed = lockfileSchema.safeParse(doc.value.data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InstallError(
      'bad-request',
      `${path}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`,
    );
  }
  return parsed.data;
}

/** What sync found for one plugin, and what it did (or would do, in a dry run). */
export interface SyncItem {
  plugin_id: string;
  /** The version the lockfile pins (absent for a plugin the lockfile does not name). */
  locked?: string;
  /** The version installed before sync (absent when none was). */
  installed?: string;
  /** How the plugins dir differed from the lockfile. */
  drift:
    | 'none'
    | 'missing'
    | 'other-version'
    | 'other-archive'
    | 'replicas'
    | 'not-in-lock'
    | 'unreadable'
    | 'not-reproducible'
    | 'registry-not-configured';
  action: 'none' | 'install' | 'upgrade' | 'downgrade' | 'scale' | 'uninstall' | 'report';
  outcome: 'matches' | 'planned' | 'done' | 'failed' | 'reported';
  /** A sentence for people (values from input are not yet escaped: the CLI escapes them). */
  message: string;
  error?: { code: string; message: string; details: string[] };
}

export interface SyncReport {
  dry_run: boolean;
  prune: boolean;
  /** Whether the plugins dir now holds exactly the lockfile's set (a dry run: whether it already did). */
  matches: boolean;
  plugins: SyncItem[];
  /** Things worth knowing that are no drift (another SDK version than the lockfile's). */
  warnings: string[];
}

export interface SyncOptions {
  pluginsDir: string;
  hubs: readonly (string | Registry)[];
  lock: Lockfile;
  dryRun?: boolean;
  /** Uninstall installed plugins the lockfile does not name (their data is kept, as uninstall does). */
  prune?: boolean;
  sdkVersion?: string;
  run?: RunOptions;
  timeouts?: DownloadLimits;
  onEvent?: (e: InstallEvent) => void;
  /** Told each plugin's result as soon as it is known. */
  onItem?: (item: SyncItem) => void;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * Makes the plugins dir hold exactly the lockfile's set: a missing plugin is installed at the
 * locked version, another version is upgraded or downgraded to it (sync implies force_downgrade),
 * replicas are set; each archive must have the locked sha256. Plugins the lockfile does not name
 * are reported (uninstalled with `prune`). One plugin failing is reported and the others go on.
 */
export async function syncLock(opts: SyncOptions): Promise<SyncReport> {
  const { pluginsDir, lock } = opts;
  const warnings: string[] = [];
  if (lock.sdk_version && opts.sdkVersion && lock.sdk_version !== opts.sdkVersion)
    warnings.push(
      `the lockfile was exported with SDK ${lock.sdk_version}; this CoreService is configured with ${opts.sdkVersion}`,
    );
  const items: SyncItem[] = [];
  const push = (item: SyncItem) => {
    items.push(item);
    opts.onItem?.(item);
  };
  for (const entry of lock.plugins) push(await syncEntry(opts, entry));
  const named = new Set(lock.plugins.map((p) => p.plugin_id));
  for (const id of pluginHomeNames(pluginsDir)) {
    if (named.has(id)) continue;
    const read = receiptRecord(pluginsDir, id);
    if (read.ok) push(await syncExtra(opts, id, read.value));
    else if (!read.absent)
      // Neither installed as far as anyone can tell, nor absent: named, never pruned.
      push({
        plugin_id: id,
        drift: 'unreadable',
        action: 'report',
        outcome: 'failed',
        message: `${id}: ${unreadable(read.path, read.why)}; restore it, or run coreservice doctor`,
      });
    // absent: a home an uninstall kept holds nothing installed
  }
  return {
    dry_run: opts.dryRun === true,
    prune: opts.prune === true,
    matches: items.every((i) => i.outcome === 'matches' || i.outcome === 'done'),
    plugins: items,
    warnings,
  };
}

/** The item for an error: its code and message, the outcome failed. */
function failed(base: Omit<SyncItem, 'outcome' | 'message'>, err: unknown): SyncItem {
  const e =
    err instanceof InstallError
      ? { code: err.code, message: err.message, details: err.details }
      : { code: 'internal', message: err instanceof Error ? err.message : String(err), details: [] };
  return { ...base, outcome: 'failed', message: e.message, error: e };
}

async function syncEntry(opts: SyncOptions, e: LockEntry): Promise<SyncItem> {
  const id = e.plugin_id;
  const want = `${id} ${e.version}`;
  const read = receiptRecord(opts.pluginsDir, id);
  if (!read.ok && !read.absent) {
    return {
      plugin_id: id,
      locked: e.version,
      drift: 'unreadable',
      action: 'report',
      outcome: 'failed',
      message: `${id}: ${unreadable(read.path, read.why)}; restore it, or run coreservice doctor`,
    };
  }
  const r = read.ok ? read.value : undefined;
  const base = { plugin_id: id, locked: e.version, ...(r ? { installed: r.version } : {}) };
  if (r && r.version === e.version && r.sha256 === e.sha256) return syncReplicas(opts, e, base);
  if (r && r.version === e.version) {
    return {
      ...base,
      drift: 'other-archive',
      action: 'report',
      outcome: 'failed',
      message: `${want} is installed from another archive (sha256 ${r.sha256}, the lockfile pins ${e.sha256}); uninstall it and sync again`,
    };
  }
  if (e.registry === 'upload') {
    return {
      ...base,
      drift: 'not-reproducible',
      action: 'report',
      outcome: 'failed',
      message: `${want} was installed from an uploaded archive, not a registry: sync cannot fetch it (install-file the .mpn whose sha256 is ${e.sha256})`,
    };
  }
  // A lockfile chooses among the configured registries, never adds one; its registry is asked
  // first, the others after it (a mirror of it serves the same pinned bytes).
  let hubs: Registry[];
  try {
    const reg = configuredRegistry(opts.hubs, e.registry, `the lockfile's registry for ${id}`);
    hubs = [reg, ...opts.hubs.map(asRegistry).filter((h) => h !== reg && h.url !== reg.url)];
  } catch (err) {
    return failed({ ...base, drift: 'registry-not-configured', action: 'report' }, err);
  }
  const action = !r ? 'install' : compareVersions(r.version, e.version) < 0 ? 'upgrade' : 'downgrade';
  const drift = r ? 'other-version' : 'missing';
  if (opts.dryRun) {
    return {
      ...base,
      drift,
      action,
      outcome: 'planned',
      message: r
        ? `would ${action} ${id} ${r.version} → ${e.version} (sha256 ${e.sha256})`
        : `would install ${want} (sha256 ${e.sha256})`,
    };
  }
  const pin = { sha256: e.sha256, sizeBytes: e.size_bytes };
  const common = {
    pluginsDir: opts.pluginsDir,
    hubs,
    pluginId: id,
    method: e.method,
    sdkVersion: opts.sdkVersion,
    run: opts.run,
    timeouts: opts.timeouts,
    onEvent: opts.onEvent,
    pin,
  };
  let now: Receipt;
  try {
    now = r
      ? (await upgradeFromHub({ ...common, to: e.version, forceDowngrade: true })).to
      : await installFromHub({ ...common, version: e.version });
  } catch (err) {
    return failed({ ...base, drift, action }, err);
  }
  const did = r ? `${action}d ${id} ${r.version} → ${e.version}` : `installed ${want}`;
  const scaled = await syncReplicas(opts, e, base);
  const notes: string[] = [];
  if (e.python_dependencies && !same(now.python_dependencies, e.python_dependencies))
    notes.push('its Python dependency set differs from the lockfile’s');
  if (scaled.outcome === 'failed') notes.push(scaled.message);
  if (notes.length > 0)
    return { ...base, drift, action, outcome: 'failed', message: `${did}, but ${notes.join('; ')}` };
  return {
    ...base,
    drift,
    action,
    outcome: 'done',
    message: `${did}${scaled.outcome === 'done' ? `; ${scaled.message}` : ''}`,
  };
}

/** The locked replica count, set when the installed one differs. */
async function syncReplicas(
  opts: SyncOptions,
  e: LockEntry,
  base: Pick<SyncItem, 'plugin_id' | 'locked' | 'installed'>,
): Promise<SyncItem> {
  const id = e.plugin_id;
  const state = recordValue(readRunState(pluginHome(opts.pluginsDir, id)));
  if (!state || state.replicas === e.replicas)
    return {
      ...base,
      drift: 'none',
      action: 'none',
      outcome: 'matches',
      message: `${id} ${e.version} matches`,
    };
  const what = `replicas ${state.replicas} → ${e.replicas}`;
  if (opts.dryRun)
    return {
      ...base,
      drift: 'replicas',
      action: 'scale',
      outcome: 'planned',
      message: `would scale ${id}: ${what}`,
    };
  try {
    await scalePlugin(opts.pluginsDir, id, e.replicas, opts.run);
  } catch (err) {
    return failed({ ...base, drift: 'replicas', action: 'scale' }, err);
  }
  return { ...base, drift: 'replicas', action: 'scale', outcome: 'done', message: `scaled ${id}: ${what}` };
}

/** An installed plugin the lockfile does not name: reported, or uninstalled (its data kept) with prune. */
async function syncExtra(opts: SyncOptions, id: string, r: Receipt): Promise<SyncItem> {
  const base = { plugin_id: id, installed: r.version, drift: 'not-in-lock' as const };
  const what = `${id} ${r.version}`;
  if (!opts.prune)
    return {
      ...base,
      action: 'report',
      outcome: 'reported',
      message: `${what} is installed but not in the lockfile (--prune uninstalls it)`,
    };
  if (opts.dryRun)
    return {
      ...base,
      action: 'uninstall',
      outcome: 'planned',
      message: `would uninstall ${what} (its data kept)`,
    };
  try {
    await uninstall(opts.pluginsDir, id);
  } catch (err) {
    return failed({ ...base, action: 'uninstall' }, err);
  }
  return { ...base, action: 'uninstall', outcome: 'done', message: `uninstalled ${what} (its data kept)` };
}

/** The report as text lines, every value escaped. */
export function syncLines(report: SyncReport): string[] {
  const mark: Record<SyncItem['outcome'], string> = {
    matches: '=',
    planned: '→',
    done: '✔',
    failed: '✖',
    reported: '!',
  };
  const lines = report.plugins.map((i) => {
    const detail = i.error?.details.length ? ` (${i.error.details.map((d) => safe(d)).join('; ')})` : '';
    return `  ${mark[i.outcome]} ${safe(i.message)}${detail}`;
  });
  for (const w of report.warnings) lines.push(`  ⚠ ${safe(w)}`);
  return lines;
}
