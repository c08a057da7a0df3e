// Install from the hub, fail closed: download (streamed, hashed) → verify sha256 and size → safe
// unzip into staging with file_checksums checked → manifest names what was asked → atomic move into
// <plugins_dir>/<id>/<version>/ → receipt written last. A failure at any step leaves the plugins
// dir as it was. An uploaded .mpn (install-file, an upgrade from a file) is copied bounded instead
// of downloaded; the rest is the same pipeline. Uninstall keeps the data dir and snapshots in the
// plugin's home unless purged.
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { type ArchiveManifest, archiveFileName, sdkSatisfies } from '@magellon/hub-core';
import { type Prefetched, StreamingExtractor, verifyArchive } from '@magellon/hub-core/node';
import type { Registry } from './config';
import { crashPoint } from './crash';
import { downloadArchive } from './download';
import { InstallError, logCleanupFailure } from './errors';
import type { ResolvedVersion } from './hub-client';
import {
  dataDir,
  isKeptName,
  type KeptName,
  keptNames,
  newStagingPath,
  newUploadStagingPath,
  pluginHome,
  pluginHomeNames,
  receiptFile,
  stagingDir,
  stagingFiles,
  uninstallStagingPath,
  versionDir as versionDirOf,
} from './layout';
import { withPluginLock } from './lock';
import { checkPluginId } from './plugin-id';
import {
  type Receipt,
  type RecordRead,
  readRecord,
  receiptSchema,
  recordValue,
  unreadable,
  writeRecord,
} from './records';
import { resolveInRegistries } from './registries';
import { backendFor, backendUnavailable } from './runtime/backends';
import { chooseInstall, type HostFacts, probeHost } from './runtime/host';
import { killAllOf, type PluginIdentity, readIdentity, releaseIdentity } from './runtime/identity';
import { assertReachable, keepForRoot, runsUnderOwnUid } from './runtime/isolation';
import {
  defaultReplicas,
  launch,
  loadRuntime,
  readRunState,
  retire,
  type SandboxOptions,
  writeRunState,
} from './runtime/runner';
import { envName, envNameTwin } from './runtime/settings';
import { keepSnapshot, snapshotData } from './snapshots';

export type { Receipt };

export type InstallEvent =
  | { stage: 'resolve'; hub: string }
  | { stage: 'download'; bytes: number; total: number }
  | { stage: 'verify' }
  | { stage: 'prepare'; method: string; message?: string }
  | { stage: 'start'; replicas: number }
  | { stage: 'health'; replicas: number }
  | { stage: 'activate'; path: string }
  | { stage: 'warning'; message: string };

export interface InstallOptions {
  pluginsDir: string;
  /** Registries in priority order (a private mirror before the public hub), each a URL or with a trust mode. */
  hubs: readonly (string | Registry)[];
  pluginId: string;
  version?: string;
  onEvent?: (e: InstallEvent) => void;
  timeouts?: DownloadLimits;
  /** The platform's SDK version; when set, a plugin whose requires_sdk does not admit it is refused. */
  sdkVersion?: string;
  /** Only this install method (`--method`, `install_method`); otherwise the first that fits. */
  method?: string;
  /**
   * Install and prepare, but do not start (nor health-check) it: its desired state is stopped until
   * `start`. Only for a first install; an upgrade always proves the new version healthy.
   */
  noStart?: boolean;
  run?: RunOptions;
  /**
   * The archive this must be (a lockfile's pin): a registry whose document names another sha256 or
   * size is refused before a byte is fetched (`checksum-mismatch`); the download is then checked
   * against the same sha256 as always.
   */
  pin?: { sha256: string; sizeBytes: number };
}

/** How installed versions are run and checked. */
export interface RunOptions extends SandboxOptions {
  /** Facts to use instead of probing this host (tests; an operator pinning a predicate). */
  host?: Partial<HostFacts>;
  /** Overrides the manifest's health_check.timeout_seconds. */
  healthTimeoutMs?: number;
  /** How many pre-upgrade snapshots of a plugin's data dir to keep (default 3). */
  snapshotsKeep?: number;
}

/** How long a download may take and how slow it may get (see download.ts). */
export interface DownloadLimits {
  idleMs?: number;
  totalMs?: number;
  minBytesPerSecond?: number;
  minRateWindowMs?: number;
}

/** Where a plugin's receipt is. */
export const receiptPath = (pluginsDir: string, id: string) => receiptFile(pluginHome(pluginsDir, id));

/**
 * A plugin's receipt as read: absent (not installed), the receipt, or unreadable (garbled, or not
 * this plugin's): a record that does not parse is never taken for one that does.
 */
export function receiptRecord(pluginsDir: string, id: string): RecordRead<Receipt> {
  const path = receiptPath(pluginsDir, id);
  const read = readRecord(path, receiptSchema);
  if (read.ok && read.value.plugin_id !== id) {
    return { ok: false, absent: false, path, why: `it names the plugin ${read.value.plugin_id}, not ${id}` };
  }
  return read;
}

/**
 * The receipt of an installed plugin, or undefined when it is not installed. A receipt that cannot
 * be read is `unreadable-record`, naming the file and why: the plugin is neither installed as far
 * as anyone can tell, nor absent, and nothing is done to it until an operator looks.
 */
export function readReceipt(pluginsDir: string, id: string): Receipt | undefined {
  checkPluginId(id);
  const read = receiptRecord(pluginsDir, id);
  if (read.ok || read.absent) return recordValue(read);
  throw new InstallError(
    'unreadable-record',
    `${id}: ${unreadable(read.path, read.why)}; restore it, or remove it and run coreservice doctor to remove the rest of ${id}`,
  );
}

/** Every installed plugin's receipt, by id (one that cannot be read is left out: see listUnreadable). */
export function listInstalled(pluginsDir: string): Receipt[] {
  return pluginHomeNames(pluginsDir).flatMap((n) => recordValue(receiptRecord(pluginsDir, n)) ?? []);
}

/** The plugins whose receipt cannot be read, each with what is wrong (`unreadable record <path>: …`). */
export function listUnreadable(pluginsDir: string): { plugin_id: string; problem: string }[] {
  return pluginHomeNames(pluginsDir).flatMap((n) => {
    const read = receiptRecord(pluginsDir, n);
    return read.ok || read.absent ? [] : [{ plugin_id: n, problem: unreadable(read.path, read.why) }];
  });
}

/** Installs a plugin from the hub, holding its lock; returns its receipt. */
export async function installFromHub(opts: InstallOptions): Promise<Receipt> {
  checkPluginId(opts.pluginId);
  preflight(opts.pluginsDir, opts.run);
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
  return installVersionLocked(opts);
}

/**
 * Where an operation's archive comes from: a registry (resolved, downloaded as it streams) or a
 * file on this host (an uploaded .mpn, copied bounded). Everything after the bytes are staged is
 * the same pipeline.
 */
export type ArchiveSource =
  | { from: 'registry'; resolved: ResolvedVersion }
  | {
      from: 'file';
      file: string;
      /** How messages name the archive (never the path it was received into). */
      label: string;
      maxBytes: number;
    };

/** An archive staged and verified: its files in staging, its manifest, and what the receipt records of its origin. */
interface Staged {
  files: string;
  manifest: ArchiveManifest;
  origin: Pick<Receipt, 'sha256' | 'size_bytes' | 'registry'>;
}

/** The receipt of a verified archive about to be activated: what it is, where it came from, now. */
function receiptFor(manifest: ArchiveManifest, origin: Staged['origin']) {
  return {
    plugin_id: manifest.plugin_id,
    version: manifest.version,
    archive_id: manifest.archive_id ?? '',
    ...origin,
    installed_at: new Date().toISOString(),
  };
}

/** The name messages use for a source's archive. */
const sourceLabel = (source: ArchiveSource) =>
  source.from === 'file' ? source.label : archiveFileName(source.resolved.pluginId, source.resolved.version);

/** Puts the source's bytes into `staging` and verifies them (the strict checks of the domain library). */
async function stageArchive(
  source: ArchiveSource,
  staging: string,
  opts: Pick<InstallOptions, 'onEvent' | 'timeouts'>,
): Promise<Staged> {
  const { archive, streamed } = stagingFiles(staging);
  const label = sourceLabel(source);
  if (source.from === 'file') {
    const { sha256, size } = copyBounded(source.file, archive, source.maxBytes, label);
    opts.onEvent?.({ stage: 'verify' });
    const { files, manifest } = await verifyStaged(archive, staging, label);
    crashPoint('verify');
    return { files, manifest, origin: { sha256, size_bytes: size, registry: 'upload' } };
  }
  const { resolved } = source;
  // Entries are inflated, hashed and written while the archive downloads; the strict check after
  // the download uses them only where they match what it finds (see StreamingExtractor).
  const streaming = new StreamingExtractor(streamed);
  await downloadArchive(resolved.archiveUrl, archive, {
    authorization: resolved.authorization,
    onBytes: (chunk) => streaming.push(chunk),
    onRestart: () => streaming.discard(),
    sha256: resolved.sha256,
    sizeBytes: resolved.sizeBytes,
    idleTimeoutMs: opts.timeouts?.idleMs,
    totalTimeoutMs: opts.timeouts?.totalMs,
    minBytesPerSecond: opts.timeouts?.minBytesPerSecond,
    minRateWindowMs: opts.timeouts?.minRateWindowMs,
    onProgress: (bytes, total) => {
      opts.onEvent?.({ stage: 'download', bytes, total });
      if (bytes < total) crashPoint('download');
    },
  });
  opts.onEvent?.({ stage: 'verify' });
  const { files, manifest } = await verifyStaged(archive, staging, label, streaming.finish());
  streaming.discard();
  crashPoint('verify');
  if (manifest.plugin_id !== resolved.pluginId || manifest.version !== resolved.version) {
    throw new InstallError(
      'wrong-plugin',
      `the archive's manifest is ${manifest.plugin_id} ${manifest.version}, but ${resolved.pluginId} ${resolved.version} was asked for`,
    );
  }
  return {
    files,
    manifest,
    origin: { sha256: resolved.sha256, size_bytes: resolved.sizeBytes, registry: resolved.hub },
  };
}

/**
 * The pipeline, for a caller that holds the plugin's lock: stage the archive (downloaded from the
 * registries, or the file `ctx.source` names), verify it, let the caller `admit` its manifest (an
 * upgrade's version rule), activate. In an upgrade, the plugin dir and the old version stay as
 * they are; on failure only what this attempt made is removed, so the old version remains the
 * installed one.
 */
export async function installVersionLocked(
  opts: InstallOptions,
  ctx: { replacing?: Receipt; source?: ArchiveSource; admit?: (manifest: ArchiveManifest) => void } = {},
): Promise<Receipt> {
  // What this host offers is asked once per process; start asking while the archive downloads.
  void probeHost();
  const source: ArchiveSource = ctx.source ?? {
    from: 'registry',
    resolved: await resolveInRegistries({
      registries: opts.hubs,
      pluginsDir: opts.pluginsDir,
      pluginId: opts.pluginId,
      version: opts.version,
      onEvent: opts.onEvent,
    }),
  };
  if (source.from === 'registry') {
    checkPin(source.resolved, opts.pin);
    for (const message of source.resolved.warnings) opts.onEvent?.({ stage: 'warning', message });
  }
  const label = sourceLabel(source);
  const staging = newStaging(opts.pluginsDir, opts.pluginId);
  try {
    const { files, manifest, origin } = await stageArchive(source, staging, opts);
    if (manifest.plugin_id !== opts.pluginId) {
      throw new InstallError(
        'wrong-plugin',
        `${label} is ${manifest.plugin_id} ${manifest.version}, not ${opts.pluginId}`,
      );
    }
    ctx.admit?.(manifest);
    checkSdk(manifest.plugin_id, manifest.version, manifest.requires_sdk, opts.sdkVersion);
    return await activate({
      pluginsDir: opts.pluginsDir,
      staging,
      files,
      manifest,
      receipt: receiptFor(manifest, origin),
      opts,
      replacing: ctx.replacing,
    });
  } catch (err) {
    throw withoutPaths(err, source.from === 'file' ? [staging, source.file] : [staging], label);
  } finally {
    rmSync(staging, { recursive: true, force: true });
    tidyStaging(opts.pluginsDir);
  }
}

/** Refuses (fail closed, before any download) a version whose archive is not the one pinned. */
function checkPin(resolved: ResolvedVersion, pin: InstallOptions['pin']): void {
  if (!pin) return;
  if (resolved.sha256 === pin.sha256 && resolved.sizeBytes === pin.sizeBytes) return;
  throw new InstallError(
    'checksum-mismatch',
    `${resolved.pluginId} ${resolved.version}: ${resolved.hub} serves an archive with sha256 ${resolved.sha256} (${resolved.sizeBytes} bytes), but the lockfile pins ${pin.sha256} (${pin.sizeBytes} bytes); refused, nothing was downloaded`,
  );
}

/** Makes the plugins dir, and refuses at once one that plugins under their own uid could not reach. */
function preflight(pluginsDir: string, run: RunOptions | undefined): void {
  if (runsUnderOwnUid(run?.isolation)) assertReachable(pluginsDir);
  mkdirSync(pluginsDir, { recursive: true });
}

/** Refuses (422) a plugin whose requires_sdk does not admit the platform's SDK, when one is configured. */
function checkSdk(id: string, version: string, requires: string, sdk: string | undefined): void {
  if (sdk && !sdkSatisfies(sdk, requires)) {
    throw new InstallError(
      'incompatible',
      `${id} ${version} requires the Magellon SDK ${requires}; this platform has ${sdk}`,
    );
  }
}

/** A new, empty staging dir for one operation on plugin `id` (or an upload's, whose plugin is not known yet). */
export function newStaging(pluginsDir: string, id: string | { upload: true }): string {
  mkdirSync(stagingDir(pluginsDir), { recursive: true, mode: 0o700 });
  const staging = typeof id === 'string' ? newStagingPath(pluginsDir, id) : newUploadStagingPath(pluginsDir);
  mkdirSync(staging);
  return staging;
}

/** The domain library's strict checks, extracting into `<staging>/files`; a refusal is `bad-archive`. */
async function verifyStaged(archive: string, staging: string, label: string, prefetched?: Prefetched) {
  const { files } = stagingFiles(staging);
  const verified = await verifyArchive(archive, { extractTo: files, label, prefetched });
  if (!verified.ok || !verified.manifest) {
    const errors = verified.findings.filter((f) => f.severity === 'error');
    throw new InstallError(
      'bad-archive',
      `${label} is refused: ${errors[0]?.message ?? 'it has no valid manifest'}`,
      errors.map((f) => `${f.code}: ${f.message}`),
    );
  }
  return { files, manifest: verified.manifest };
}

/**
 * Puts a verified version in place and makes it the installed one: choose the install method this
 * host fits → move the files to `<plugins_dir>/<id>/<version>/` → the backend prepares it → start
 * it and pass its health check → write the receipt (durably: the switch) → retire the version it
 * replaces. Until the receipt is written, any failure stops and removes everything of this attempt,
 * and the version being replaced keeps running untouched.
 */
async function activate(a: {
  pluginsDir: string;
  staging: string;
  files: string;
  manifest: ArchiveManifest;
  receipt: Receipt;
  opts: Pick<InstallOptions, 'method' | 'run' | 'onEvent' | 'noStart'>;
  replacing?: Receipt;
}): Promise<Receipt> {
  const { pluginsDir, staging, manifest, opts } = a;
  const id = a.receipt.plugin_id;
  const label = `${id} ${a.receipt.version}`;
  const host: HostFacts = { ...(await probeHost()), ...opts.run?.host };
  const entry = chooseInstall(manifest.install, host, (m) => backendUnavailable(m, host), {
    method: opts.method,
    label,
    prefer: a.replacing?.method,
  });
  const receipt: Receipt = { ...a.receipt, method: entry.method };
  // Absolute: backends run plugins with the version dir as their working dir.
  const home = pluginHome(pluginsDir, id);
  const versionDir = versionDirOf(home, receipt.version);
  const rt = { pluginId: id, version: receipt.version, home, dir: versionDir, manifest, entry };
  const backend = backendFor(entry.method);
  refuseEnvNameTwin(pluginsDir, id);
  let createdHome = false;
  let moved = false;
  let started = false;
  try {
    try {
      mkdirSync(home);
      createdHome = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // A version dir without a receipt is what a crash left: set it aside into staging to be removed.
    try {
      renameSync(versionDir, stagingFiles(staging).leftover);
    } catch {
      // no such version dir: the usual case, nothing to set aside
    }
    await retire({ pluginId: id, home, version: receipt.version });
    renameSync(a.files, versionDir);
    moved = true;
    opts.onEvent?.({ stage: 'prepare', method: entry.method });
    const prepared = await backend.prepare(rt, (message) =>
      opts.onEvent?.({ stage: 'prepare', method: entry.method, message }),
    );
    Object.assign(receipt, prepared?.receipt);
    crashPoint('prepare');
    // A first install makes the data dir, or finds the one an uninstall kept (its owner is set at launch).
    if (!a.replacing) mkdirSync(dataDir(home), { recursive: true });
    // --no-start (a first install only): installed and prepared, not started until asked.
    const noStart = opts.noStart === true && !a.replacing;
    // An unreadable run state is replaced by this switch (status named it meanwhile).
    const state = recordValue(readRunState(home)) ?? {
      desired: noStart ? ('stopped' as const) : ('running' as const),
      replicas: defaultReplicas(rt),
    };
    const bounds = manifest.resources?.replicas;
    const replicas = Math.min(
      Math.max(state.replicas, bounds?.min ?? 1, 1),
      bounds?.max ?? Number.MAX_SAFE_INTEGER,
    );
    const snapshot = a.replacing ? snapshotData(home, stagingFiles(staging).snapshot) : undefined;
    if (!noStart) opts.onEvent?.({ stage: 'start', replicas });
    started = true;
    if (!noStart) await launch(rt, { ...opts.run, replicas });
    if (!noStart) opts.onEvent?.({ stage: 'health', replicas });
    crashPoint('health');
    opts.onEvent?.({ stage: 'activate', path: versionDir });
    writeRunState(home, { ...state, replicas });
    writeRecord(receiptFile(home), receiptSchema, receipt);
    crashPoint('switch');
    // The switch is done: from here on the new version is the installed one.
    if (snapshot && a.replacing)
      keepSnapshot(home, snapshot, a.replacing.version, opts.run?.snapshotsKeep ?? 3);
    if (state.desired === 'stopped')
      await backend.stop(rt).catch((e: unknown) => logCleanupFailure(`stopping ${id} ${receipt.version}`, e));
  } catch (err) {
    // Back to exactly the before-state: nothing of this attempt stays, the replaced version runs on.
    if (started || moved)
      await retire(rt, entry.method).catch((e: unknown) =>
        logCleanupFailure(`rolling back ${id} ${receipt.version} (retiring it)`, e),
      );
    if (moved) rmSync(versionDir, { recursive: true, force: true });
    if (!a.replacing) {
      // A first install: nothing else of this plugin runs, so everything of its uid goes too; a
      // home an uninstall kept goes back to holding only what it kept.
      const identity = readIdentity(home);
      killAllOf(identity);
      if (createdHome) rmSync(home, { recursive: true, force: true });
      else stripToKept(pluginsDir, home, identity);
      releaseIdentity(pluginsDir, id, identity);
    }
    throw err;
  }
  if (a.replacing) await retireVersion(pluginsDir, id, a.replacing);
  return receipt;
}

/** Stops a version that is no longer the installed one; its backend removes what it made, then its files go. */
export async function retireVersion(pluginsDir: string, id: string, old: Receipt): Promise<void> {
  const home = pluginHome(pluginsDir, id);
  try {
    await retire(loadRuntime(pluginsDir, id, old.version, old.method ?? 'subprocess'), old.method);
  } catch {
    await retire({ pluginId: id, home, version: old.version });
  }
  rmSync(versionDirOf(home, old.version), { recursive: true, force: true });
}

/** The largest .mpn an upload may be (the hub's own archive limit is lower). */
export const MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * Installs an uploaded .mpn: copied into staging (a regular file only, at most `maxBytes`, hashed as
 * it is copied), verified like a hub download, then installed under the id and version its manifest
 * names, holding that plugin's lock.
 */
export async function installFromFile(opts: {
  pluginsDir: string;
  file: string;
  /**
   * How messages name the archive (default: the file's name). The admin service gives the name the
   * client sent: the file it received the upload into is its own business.
   */
  label?: string;
  sdkVersion?: string;
  maxBytes?: number;
  method?: string;
  noStart?: boolean;
  run?: RunOptions;
  onEvent?: (e: InstallEvent) => void;
}): Promise<Receipt> {
  preflight(opts.pluginsDir, opts.run);
  const label = opts.label ?? basename(opts.file);
  const source: ArchiveSource = {
    from: 'file',
    file: opts.file,
    label,
    maxBytes: opts.maxBytes ?? MAX_UPLOAD_BYTES,
  };
  // The plugin is known once the archive is verified: staged under an upload's name, then locked.
  const staging = newStaging(opts.pluginsDir, { upload: true });
  try {
    const { files, manifest, origin } = await stageArchive(source, staging, opts);
    checkPluginId(manifest.plugin_id);
    checkSdk(manifest.plugin_id, manifest.version, manifest.requires_sdk, opts.sdkVersion);
    return await withPluginLock(opts.pluginsDir, manifest.plugin_id, async () => {
      const installed = readReceipt(opts.pluginsDir, manifest.plugin_id);
      if (installed) {
        throw new InstallError(
          'already-installed',
          `${installed.plugin_id} ${installed.version} is already installed; use upgrade`,
        );
      }
      return activate({
        pluginsDir: opts.pluginsDir,
        staging,
        files,
        manifest,
        receipt: receiptFor(manifest, origin),
        opts,
      });
    });
  } catch (err) {
    throw withoutPaths(err, [staging, opts.file], label);
  } finally {
    rmSync(staging, { recursive: true, force: true });
    tidyStaging(opts.pluginsDir);
  }
}

/**
 * The error with the paths CoreService chose (its staging dir, the file an upload was received
 * into) replaced by the name the user knows: an error never names an internal temp file.
 */
function withoutPaths(err: unknown, paths: string[], label: string): unknown {
  const scrub = (text: string) => {
    let out = text;
    for (const p of paths) out = out.split(`${p}/`).join(`${label}: `).split(p).join(label);
    return out;
  };
  if (err instanceof InstallError) {
    const clean = new InstallError(err.code, scrub(err.message), err.details.map(scrub));
    return clean.retryIf(err.retryable);
  }
  if (err instanceof Error) err.message = scrub(err.message);
  return err;
}

/** Copies a regular file (never a FIFO or device: opened non-blocking, checked by fstat) up to `max` bytes. */
function copyBounded(from: string, to: string, max: number, label: string): { sha256: string; size: number } {
  let fd: number;
  try {
    fd = openSync(from, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new InstallError(
      'bad-archive',
      `cannot read ${label}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const out = openSync(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InstallError('bad-archive', `${label} is not a regular file`);
    if (st.size > max)
      throw new InstallError('bad-archive', `${label} is ${st.size} bytes; the limit is ${max}`);
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      size += n;
      if (size > max) throw new InstallError('bad-archive', `${label} grew past the limit of ${max} bytes`);
      hash.update(buf.subarray(0, n));
      for (let off = 0; off < n; ) off += writeSync(out, buf, off, n - off);
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    closeSync(fd);
    closeSync(out);
  }
}

/** Removes the staging dir once nothing is in it, so a finished operation leaves no trace. */
export function tidyStaging(pluginsDir: string): void {
  try {
    rmdirSync(stagingDir(pluginsDir));
  } catch {
    // another operation is using it, or it is already gone
  }
}

/** What an uninstall did: the receipt of what was installed, and what of its home it kept. */
export interface UninstallResult {
  /** What was installed; null when only the data an earlier uninstall kept was purged. */
  uninstalled: Receipt | null;
  /** `data` and `snapshots` when they existed and `purge` was not asked for; empty after a purge. */
  kept: KeptName[];
  /** With `purge` and nothing installed: what an earlier uninstall had kept, now removed. */
  purged_kept?: KeptName[];
}

/**
 * Uninstalls, holding the plugin's lock: every version is retired (its processes, venvs, run
 * records, containers, units), whatever runs under its uid is killed and the uid given back. Its
 * data dir and snapshots stay in its home for a later install unless `purge`; everything else of
 * the home is renamed aside (the receipt first: from then on it is not installed), then removed.
 */
export async function uninstall(
  pluginsDir: string,
  id: string,
  opts: { purge?: boolean } = {},
): Promise<UninstallResult> {
  checkPluginId(id);
  return withPluginLock(pluginsDir, id, async () => uninstallLocked(pluginsDir, id, opts.purge === true));
}

async function uninstallLocked(pluginsDir: string, id: string, purge: boolean): Promise<UninstallResult> {
  const receipt = readReceipt(pluginsDir, id);
  const home = pluginHome(pluginsDir, id);
  if (!receipt) {
    const kept = keptNames(home);
    if (!purge || kept === undefined)
      throw new InstallError(
        'not-found',
        `${id} is not installed${kept ? ' (its kept data stays until --purge)' : ''}`,
      );
    removeHome(pluginsDir, id);
    tidyStaging(pluginsDir);
    return { uninstalled: null, kept: [], purged_kept: kept };
  }
  const identity = readIdentity(home);
  await retireVersion(pluginsDir, id, receipt);
  // Whatever the plugin left running under its own uid (a daemon in a session of its own) goes too.
  killAllOf(identity);
  let kept: KeptName[] = [];
  if (purge) {
    removeHome(pluginsDir, id);
  } else {
    kept = stripToKept(pluginsDir, home, identity);
  }
  releaseIdentity(pluginsDir, id, identity);
  tidyStaging(pluginsDir);
  return { uninstalled: receipt, kept };
}

/** Renames the plugin's home aside into staging (one atomic step), then removes it. */
function removeHome(pluginsDir: string, id: string): void {
  const aside = uninstallStagingPath(pluginsDir, id);
  mkdirSync(stagingDir(pluginsDir), { recursive: true, mode: 0o700 });
  renameSync(pluginHome(pluginsDir, id), aside);
  rmSync(aside, { recursive: true, force: true });
}

/**
 * Leaves a home holding only what an uninstall keeps (its data and snapshots), the receipt renamed
 * aside first; root's alone when the plugin ran under its own uid (a uid given back may go to
 * another plugin, which must not find these files its own). The home goes when nothing is kept.
 * Returns what was kept.
 */
function stripToKept(pluginsDir: string, home: string, identity: PluginIdentity | undefined): KeptName[] {
  const aside = uninstallStagingPath(pluginsDir, basename(home));
  mkdirSync(stagingDir(pluginsDir), { recursive: true, mode: 0o700 });
  mkdirSync(aside);
  const names = readdirSync(home);
  const first = basename(receiptFile(home));
  for (const name of [...names.filter((n) => n === first), ...names.filter((n) => n !== first)]) {
    if (!isKeptName(name)) renameSync(join(home, name), join(aside, name));
  }
  rmSync(aside, { recursive: true, force: true });
  const kept = names.filter(isKeptName).sort();
  if (kept.length === 0) rmdirSync(home);
  else if (identity) keepForRoot(home);
  return kept;
}

/**
 * Refuses a plugin whose settings variables would have the same name as an installed plugin's
 * (my-plugin and my_plugin both read MAGELLON_PLUGIN_MY_PLUGIN_<KEY>): neither could be told its own.
 */
function refuseEnvNameTwin(pluginsDir: string, id: string): void {
  const twin = envNameTwin(
    id,
    listInstalled(pluginsDir).map((r) => r.plugin_id),
  );
  if (twin) {
    throw new InstallError(
      'name-conflict',
      `${id} cannot be installed beside ${twin}: both would read their settings from MAGELLON_PLUGIN_${envName(id)}_<KEY>, so neither could be given its own; uninstall ${twin} first`,
    );
  }
}
