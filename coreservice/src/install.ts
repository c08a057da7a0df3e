// Install from the hub, fail closed: download (streamed, hashed) → verify sha256 and size → safe
// unzip into staging with file_checksums checked → manifest names what was asked → atomic move into
// <plugins_dir>/<id>/<version>/ → receipt written last. A failure at any step leaves the plugins
// dir as it was.
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { SLUG_PATTERN } from '@magellon/hub-core';
import { verifyArchive } from '@magellon/hub-core/node';
import { downloadArchive } from './download';
import { InstallError } from './errors';
import { fetchPluginDocument, type ResolvedVersion, resolveVersion } from './hub-client';
import { withPluginLock } from './lock';

/** What CoreService records about an installed plugin, written last (its presence means "installed"). */
export interface Receipt {
  plugin_id: string;
  version: string;
  archive_id: string;
  sha256: string;
  size_bytes: number;
  /** The hub it came from, or "upload". */
  registry: string;
  installed_at: string;
}

export type InstallEvent =
  | { stage: 'resolve'; hub: string }
  | { stage: 'download'; bytes: number; total: number }
  | { stage: 'verify' }
  | { stage: 'activate'; path: string }
  | { stage: 'warning'; message: string };

export interface InstallOptions {
  pluginsDir: string;
  /** Registries in priority order (a private mirror before the public hub). */
  hubs: readonly string[];
  pluginId: string;
  version?: string;
  onEvent?: (e: InstallEvent) => void;
  timeouts?: { idleMs?: number; totalMs?: number };
}

const STAGING = '.staging';
const RECEIPT = 'receipt.json';

/** Where a plugin's receipt is. */
export const receiptPath = (pluginsDir: string, id: string) => join(pluginsDir, id, RECEIPT);

function checkId(id: string): void {
  if (!SLUG_PATTERN.test(id) || id.length > 100 || id === '.' || id === '..') {
    throw new InstallError(
      'not-found',
      `"${id.slice(0, 100)}" is not a plugin id (lowercase letters, digits, ".", "_", "-")`,
    );
  }
}

/** The receipt of an installed plugin, or undefined. */
export function readReceipt(pluginsDir: string, id: string): Receipt | undefined {
  checkId(id);
  try {
    return JSON.parse(readFileSync(receiptPath(pluginsDir, id), 'utf8')) as Receipt;
  } catch {
    return undefined;
  }
}

/** Every installed plugin's receipt, by id. */
export function listInstalled(pluginsDir: string): Receipt[] {
  let names: string[];
  try {
    names = readdirSync(pluginsDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && SLUG_PATTERN.test(n))
    .sort()
    .flatMap((n) => readReceipt(pluginsDir, n) ?? []);
}

/** Writes a file so that a crash leaves the old one or the new one, never half: temp, fsync, rename. */
function writeDurably(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Resolves the plugin in the first registry that has it. */
async function resolveFromHubs(opts: InstallOptions): Promise<ResolvedVersion> {
  if (opts.hubs.length === 0)
    throw new InstallError('hub-unreachable', 'no hub configured (--hub or MAGELLON_HUB_URL)');
  for (const hub of opts.hubs) {
    opts.onEvent?.({ stage: 'resolve', hub });
    const doc = await fetchPluginDocument(hub, opts.pluginId);
    if (doc) return resolveVersion(doc, hub, opts.version);
  }
  throw new InstallError(
    'not-found',
    `no hub has a plugin "${opts.pluginId}" (asked ${opts.hubs.join(', ')})`,
  );
}

/** Installs a plugin from the hub, holding its lock; returns its receipt. */
export async function installFromHub(opts: InstallOptions): Promise<Receipt> {
  checkId(opts.pluginId);
  mkdirSync(opts.pluginsDir, { recursive: true });
  return withPluginLock(opts.pluginsDir, opts.pluginId, () => installLocked(opts));
}

async function installLocked(opts: InstallOptions): Promise<Receipt> {
  if (readReceipt(opts.pluginsDir, opts.pluginId)) {
    const r = readReceipt(opts.pluginsDir, opts.pluginId)!;
    throw new InstallError(
      'already-installed',
      `${r.plugin_id} ${r.version} is already installed; use upgrade`,
    );
  }
  const resolved = await resolveFromHubs(opts);
  for (const message of resolved.warnings) opts.onEvent?.({ stage: 'warning', message });

  mkdirSync(join(opts.pluginsDir, STAGING), { recursive: true });
  const staging = join(opts.pluginsDir, STAGING, `${opts.pluginId}-${randomUUID()}`);
  mkdirSync(staging);
  const pluginDir = join(opts.pluginsDir, opts.pluginId);
  const versionDir = join(pluginDir, resolved.version);
  let createdPluginDir = false;
  let moved = false;
  try {
    const archive = join(staging, 'archive.mpn');
    await downloadArchive(resolved.archiveUrl, archive, {
      sha256: resolved.sha256,
      sizeBytes: resolved.sizeBytes,
      idleTimeoutMs: opts.timeouts?.idleMs,
      totalTimeoutMs: opts.timeouts?.totalMs,
      onProgress: (bytes, total) => opts.onEvent?.({ stage: 'download', bytes, total }),
    });
    opts.onEvent?.({ stage: 'verify' });
    const files = join(staging, 'files');
    const verified = await verifyArchive(archive, {
      extractTo: files,
      label: `${opts.pluginId}-${resolved.version}.mpn`,
    });
    if (!verified.ok || !verified.manifest) {
      const errors = verified.findings.filter((f) => f.severity === 'error');
      throw new InstallError(
        'bad-archive',
        `the archive of ${opts.pluginId} ${resolved.version} is refused: ${errors[0]?.message ?? 'it has no valid manifest'}`,
        errors.map((f) => `${f.code}: ${f.message}`),
      );
    }
    const m = verified.manifest;
    if (m.plugin_id !== opts.pluginId || m.version !== resolved.version) {
      throw new InstallError(
        'wrong-plugin',
        `the archive's manifest is ${m.plugin_id} ${m.version}, but ${opts.pluginId} ${resolved.version} was asked for`,
      );
    }
    try {
      mkdirSync(pluginDir);
      createdPluginDir = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // A version dir without a receipt is what a crash left: set it aside into staging to be removed.
    try {
      renameSync(versionDir, join(staging, 'leftover'));
    } catch {}
    renameSync(files, versionDir);
    moved = true;
    opts.onEvent?.({ stage: 'activate', path: versionDir });
    const receipt: Receipt = {
      plugin_id: m.plugin_id,
      version: m.version,
      archive_id: m.archive_id ?? '',
      sha256: resolved.sha256,
      size_bytes: resolved.sizeBytes,
      registry: resolved.hub,
      installed_at: new Date().toISOString(),
    };
    writeDurably(receiptPath(opts.pluginsDir, opts.pluginId), `${JSON.stringify(receipt, null, 2)}\n`);
    return receipt;
  } catch (err) {
    // Back to exactly the before-state: nothing of this attempt stays.
    if (moved) rmSync(versionDir, { recursive: true, force: true });
    if (createdPluginDir) rmSync(pluginDir, { recursive: true, force: true });
    throw err;
  } finally {
    rmSync(staging, { recursive: true, force: true });
    tidyStaging(opts.pluginsDir);
  }
}

/** Removes the staging dir once nothing is in it, so a finished operation leaves no trace. */
function tidyStaging(pluginsDir: string): void {
  try {
    rmdirSync(join(pluginsDir, STAGING));
  } catch {
    // another operation is using it, or it is already gone
  }
}

/** Uninstalls, holding the plugin's lock: the whole plugin dir is renamed aside, then removed. */
export async function uninstall(pluginsDir: string, id: string): Promise<Receipt> {
  checkId(id);
  return withPluginLock(pluginsDir, id, async () => uninstallLocked(pluginsDir, id));
}

function uninstallLocked(pluginsDir: string, id: string): Receipt {
  const receipt = readReceipt(pluginsDir, id);
  if (!receipt) throw new InstallError('not-found', `${id} is not installed`);
  const aside = join(pluginsDir, STAGING, `${id}-uninstall-${randomUUID()}`);
  mkdirSync(join(pluginsDir, STAGING), { recursive: true });
  renameSync(join(pluginsDir, id), aside);
  rmSync(aside, { recursive: true, force: true });
  tidyStaging(pluginsDir);
  return receipt;
}
