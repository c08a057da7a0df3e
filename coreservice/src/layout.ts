// Every path CoreService uses, built and parsed here and nowhere else: the folders that say where
// plugins live, the plugins dir with its bookkeeping (staging, uploads, locks, the admin token),
// each plugin's home (versions, receipt, run state, identity, heartbeat key, data, snapshots, the
// backends' run records and venvs), and the host-wide uid claims. Other modules ask for a path by
// what it is (`receiptFile(home)`), and doctor recognises a name by asking here
// (`parseStagingName`, `parseRunRecordPath`), so the layout docs/coreservice.md shows is this file.
//
//   <plugins_dir>/
//     .staging/<name>-<uuid>/            one dir per operation in progress
//       archive.mpn streamed/ files/ leftover/ snapshot/
//     .uploads/upload-<pid>-<ms>-<rand>.mpn
//     .<id>.lock/  .<id>.holder          the plugin's lock and who holds it
//     .admin-token
//     .tuf/<root sha256 16 hex>/        a registry's trusted TUF metadata (the pinned root, then the last seen)
//     <id>/                              the plugin's home
//       receipt.json state.json identity.json heartbeat.key
//       <version>/                       the verified files of a version (manifest.yaml, main.py, wheels/)
//       venvs/<version>/                 the uv backend's venv
//       run/<version>/replica-<n>.{json,out,log,env}   the process backend's run records
//       containers/<version>/image.json replica-<n>.{json,env}   the docker backend's records
//       slurm/<version>/replica-<n>.{json,log,prev.log,spec.json} batch.sh launch.py   the slurm backend's jobs
//       data/                            the plugin's data dir
//       snapshots/<time>-<old version>/  copies of data/ taken before upgrades and restores
//     <id>/ with only data/ and snapshots/   what an uninstall kept (no receipt: not installed)
//   <uid registry>/<uid>                 a host-wide uid claim (see runtime/identity.ts)
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { ARCHIVE_MANIFEST, ARCHIVE_SUFFIX } from '@magellon/hub-core';
import { InstallError } from './errors';
import { checkPluginId, isPluginId } from './plugin-id';

// ----------------------------------------------------------------------------- where plugins live

/** The folder that marks a Magellon checkout or working dir, and the pointer file in it. */
export const MAGELLON_DIR = '.magellon';
export const POINTER_FILE = 'plugins-dir';

/** The default plugins dir for root. */
export const ROOT_PLUGINS_DIR = '/var/lib/magellon/plugins';

/** `<at>/.magellon`. */
export const magellonDirIn = (at: string) => join(at, MAGELLON_DIR);
/** `.magellon/plugins-dir`: the file naming a plugins dir elsewhere. */
export const pointerFile = (magellonDir: string) => join(magellonDir, POINTER_FILE);
/** `.magellon/plugins`: the checkout's own plugins dir. */
export const localPluginsDir = (magellonDir: string) => join(magellonDir, 'plugins');
/** `$XDG_DATA_HOME/magellon/plugins`. */
export const xdgPluginsDir = (dataHome: string) => join(dataHome, 'magellon', 'plugins');
/** `~/.local/share/magellon/plugins`. */
export const userPluginsDir = (home: string) => join(home, '.local', 'share', 'magellon', 'plugins');
/** Where `npm start` keeps plugins when the checkout keeps other users out: `<tmp>/magellon-plugins-<hash>`. */
export const checkoutTmpPluginsDir = (tmp: string, hash: string) => join(tmp, `magellon-plugins-${hash}`);

// ----------------------------------------------------------------------------- the plugins dir

const STAGING = '.staging';
const UPLOADS = '.uploads';
const ADMIN_TOKEN = '.admin-token';

/** `<plugins_dir>/.staging`: one dir per operation in progress. */
export const stagingDir = (pluginsDir: string) => join(pluginsDir, STAGING);
/** `<plugins_dir>/.uploads`: upload bodies the service is receiving. */
export const uploadsDir = (pluginsDir: string) => join(pluginsDir, UPLOADS);
/** `<plugins_dir>/.admin-token`: the token the service made, when none is given. */
export const adminTokenFile = (pluginsDir: string) => join(pluginsDir, ADMIN_TOKEN);
/**
 * `<plugins_dir>/.tuf/<key>/`: the TUF metadata a registry's client trusts (the pinned root, then the
 * newest root, timestamp, snapshot and targets it verified), keyed by the pinned root's sha256, so a
 * mirror pinned to the hub's root shares what was seen from the hub: neither can go back past it.
 */
export const tufStateDir = (pluginsDir: string, rootSha256: string) =>
  join(pluginsDir, '.tuf', rootSha256.slice(0, 16));
/**
 * `<plugins_dir>/.categories/<slug>.json`: the backend the operator pinned as a category's default,
 * one file per category (two pins never rewrite each other's file). `slug` must be a category slug.
 */
export const categoryDefaultFile = (pluginsDir: string, slug: string) =>
  join(pluginsDir, '.categories', `${slug}.json`);

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const STAGING_NAME = new RegExp(`^(.+)-${UUID}$`);
/** The owner a staging dir of an upload names before its plugin id is known. */
const UPLOAD_OWNER = 'upload';

/** A new staging dir's path for an operation on plugin `id` (not made): `.staging/<id>-<uuid>`. */
export const newStagingPath = (pluginsDir: string, id: string) =>
  join(stagingDir(pluginsDir), `${id}-${randomUUID()}`);
/** A new staging dir's path for an upload, whose plugin is not known until it is verified. */
export const newUploadStagingPath = (pluginsDir: string) =>
  join(stagingDir(pluginsDir), `${UPLOAD_OWNER}-${randomUUID()}`);
/** Where an uninstall sets a plugin's home (or, keeping its data, the rest of it) aside before removing it. */
export const uninstallStagingPath = (pluginsDir: string, id: string) =>
  join(stagingDir(pluginsDir), `${id}-uninstall-${randomUUID()}`);

/** Whose a staging dir is: a plugin's (by id), an upload's, or nothing CoreService made. */
export function parseStagingName(name: string): { upload: true } | { upload: false; id: string } | undefined {
  const owner = STAGING_NAME.exec(name)?.[1];
  if (owner === undefined) return undefined;
  if (owner === UPLOAD_OWNER) return { upload: true };
  return { upload: false, id: owner.replace(/-uninstall$/, '') };
}

/** What an operation keeps in its staging dir. */
export const stagingFiles = (staging: string) => ({
  /** The archive as downloaded or copied. */
  archive: join(staging, 'archive.mpn'),
  /** Entries inflated while the archive downloads. */
  streamed: join(staging, 'streamed'),
  /** The verified files, moved to the version dir when it is activated. */
  files: join(staging, 'files'),
  /** A version dir a crash left, set aside to be removed with the staging dir. */
  leftover: join(staging, 'leftover'),
  /** The copy of the data dir taken before an upgrade. */
  snapshot: join(staging, 'snapshot'),
});

/** A new file for an upload body: `.uploads/upload-<pid>-<ms>-<random>.mpn`. */
export const newUploadPath = (pluginsDir: string) =>
  join(
    uploadsDir(pluginsDir),
    `upload-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}${ARCHIVE_SUFFIX}`,
  );

/** A plugin's lock: the path proper-lockfile locks, its lock dir, and the holder record. The id is checked first. */
export function lockPaths(pluginsDir: string, id: string): { target: string; dir: string; holder: string } {
  checkPluginId(id);
  return {
    target: join(pluginsDir, `.${id}`),
    dir: join(pluginsDir, `.${id}.lock`),
    holder: join(pluginsDir, `.${id}.holder`),
  };
}

/** The plugin id of a lock dir's name (`.<id>.lock`), or undefined. */
export function parseLockName(name: string): string | undefined {
  const id = /^\.(.+)\.lock$/.exec(name)?.[1];
  return id !== undefined && isPluginId(id) ? id : undefined;
}

/** The plugin id of a holder record's name (`.<id>.holder`), or undefined. */
export function parseHolderName(name: string): string | undefined {
  const id = /^\.(.+)\.holder$/.exec(name)?.[1];
  return id !== undefined && isPluginId(id) ? id : undefined;
}

/** Whether a name in the plugins dir is a plugin's home (its id). */
export const isPluginHomeName = (name: string) => isPluginId(name);

/** A plugin's home, absolute (backends run plugins with paths below it). The id is checked first. */
export function pluginHome(pluginsDir: string, id: string): string {
  checkPluginId(id);
  return resolve(pluginsDir, id);
}

/** The plugins dir and plugin id a home belongs to. */
export const homeParts = (home: string) => ({ pluginsDir: dirname(home), pluginId: basename(home) });

/** The names in the plugins dir that are plugin homes, sorted. */
export function pluginHomeNames(pluginsDir: string): string[] {
  try {
    return readdirSync(pluginsDir).filter(isPluginHomeName).sort();
  } catch {
    return [];
  }
}

// ----------------------------------------------------------------------------- a plugin's home

const RECEIPT = 'receipt.json';
const STATE = 'state.json';
const IDENTITY = 'identity.json';
const HEARTBEAT_KEY = 'heartbeat.key';
const CLIENT_TOKEN = 'client-token.json';
const BROKER_SETTINGS = 'broker-settings.yml';
const DATA = 'data';
const SNAPSHOTS = 'snapshots';
const RUN = 'run';
const VENVS = 'venvs';
const CONTAINERS = 'containers';
const SLURM = 'slurm';
/** CoreService's own files in a home: root's alone under uid isolation (0600). */
const HOME_RECORDS = [RECEIPT, STATE, IDENTITY, HEARTBEAT_KEY, CLIENT_TOKEN] as const;
/** The names in a home that are CoreService's own, which no version may take. */
const HOME_NAMES = new Set<string>([
  ...HOME_RECORDS,
  BROKER_SETTINGS,
  DATA,
  SNAPSHOTS,
  RUN,
  VENVS,
  CONTAINERS,
  SLURM,
]);

/** `<home>/receipt.json`: what is installed (written last; its presence means installed). */
export const receiptFile = (home: string) => join(home, RECEIPT);
/** `<home>/state.json`: the desired state and replica count. */
export const stateFile = (home: string) => join(home, STATE);
/** `<home>/identity.json`: the plugin's own uid and gid (uid isolation). */
export const identityFile = (home: string) => join(home, IDENTITY);
/** `<home>/heartbeat.key`: the plugin's heartbeat secret. */
export const heartbeatKeyFile = (home: string) => join(home, HEARTBEAT_KEY);
/** `<home>/client-token.json`: the hash of the token that opens the plugin's namespace (/plugins/<id>/…). */
export const clientTokenFile = (home: string) => join(home, CLIENT_TOKEN);
/**
 * `<home>/broker-settings.yml`: the broker in the Magellon SDK's settings form (MAGELLON_SETTINGS_FILE),
 * readable by the plugin (its group under uid isolation) and nobody else.
 */
export const brokerSettingsFile = (home: string) => join(home, BROKER_SETTINGS);
/** Every file CoreService keeps for itself in a home. */
export const homeRecordFiles = (home: string) => HOME_RECORDS.map((n) => join(home, n));

/**
 * A name doctor and the backends take for a version's (SemVer 2.0.0, pre-release and build
 * allowed): what they find under these names and no receipt names is left over.
 */
const VERSION_NAME = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/;
export const isVersionName = (name: string) => VERSION_NAME.test(name);

/**
 * Whether a version may name its dir: one path step (never `..`, never hidden), and none of the
 * home's own names. An uploaded archive's version need not be SemVer (`hub lint` says it should),
 * so this is wider than {@link isVersionName}.
 */
export const isVersionDirName = (version: string) =>
  /^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}$/.test(version) && !HOME_NAMES.has(version);

/** `<home>/<version>`: the verified files of a version. A version that cannot name a dir is `bad-archive`. */
export function versionDir(home: string, version: string): string {
  if (!isVersionDirName(version)) {
    throw new InstallError(
      'bad-archive',
      `the version ${JSON.stringify(version.slice(0, 130))} cannot name a folder (letters, digits, ".", "_", "+", "-"; such as 1.2.0)`,
    );
  }
  return join(home, version);
}

/** The version dirs in a home (any entry named like a version). */
export const versionDirNames = (home: string) => versionNamesIn(home);

/** `<home>/data`: the plugin's data dir (its HOME when isolated). */
export const dataDir = (home: string) => join(home, DATA);

/** `<home>/snapshots`, and one snapshot in it. */
export const snapshotsDir = (home: string) => join(home, SNAPSHOTS);
export const snapshotPath = (home: string, name: string) => join(snapshotsDir(home), name);
/** A snapshot's name: a UTC timestamp (`20250101T000000Z`), then the version it was taken of. */
export function snapshotName(at: Date, fromVersion: string): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${fromVersion}`;
}
const SNAPSHOT_NAME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-(.+)$/;
/**
 * Whether a name is a snapshot's: the timestamp, then a version that may name a dir (one path step,
 * never `..`). A name from a request is checked here before any path is built from it.
 */
export const isSnapshotName = (name: string) => {
  const version = SNAPSHOT_NAME.exec(name)?.[7];
  return version !== undefined && isVersionDirName(version);
};
/** The time and version a snapshot's name says it was taken at and of, or undefined for no snapshot name. */
export function parseSnapshotName(name: string): { taken_at: string; from_version: string } | undefined {
  const m = SNAPSHOT_NAME.exec(name);
  if (!m || !isSnapshotName(name)) return undefined;
  return { taken_at: `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`, from_version: m[7]! };
}

/**
 * What an uninstall keeps of a home unless purged (the plugin's data and its snapshots): a home
 * without a receipt that holds only these is a kept home, not an install that never finished.
 */
export const KEPT_NAMES = [DATA, SNAPSHOTS] as const;
export type KeptName = (typeof KEPT_NAMES)[number];
export const isKeptName = (name: string): name is KeptName =>
  (KEPT_NAMES as readonly string[]).includes(name);
/** What a home an uninstall kept holds (it has nothing else); undefined when `home` is no such home. */
export function keptNames(home: string): KeptName[] | undefined {
  let names: string[];
  try {
    names = readdirSync(home);
  } catch {
    return undefined;
  }
  if (names.length === 0 || !names.every(isKeptName)) return undefined;
  return (names as KeptName[]).sort();
}

// The process backend's run records (the uv backend runs through it).

/** `<home>/run`: every version's run records. */
export const runRoot = (home: string) => join(home, RUN);
/** `<home>/run/<version>`: one version's run records. */
export const runDir = (home: string, version: string) => join(runRoot(home), version);

export type ReplicaFileKind = 'json' | 'out' | 'log' | 'env';
/**
 * `run/<version>/replica-<n>.json` (the record), `.out` (the READY line), `.log` (stderr) or `.env`
 * (its environment, when systemd runs it: runtime/systemd.ts).
 */
export const replicaFile = (home: string, version: string, n: number, kind: ReplicaFileKind) =>
  join(runDir(home, version), `replica-${n}.${kind}`);

/** The replica number and kind of a file in a run dir, or undefined. */
export function parseReplicaFileName(name: string): { replica: number; kind: ReplicaFileKind } | undefined {
  const m = /^replica-(\d+)\.(json|out|log|env)$/.exec(name);
  return m ? { replica: Number(m[1]), kind: m[2] as ReplicaFileKind } : undefined;
}

/**
 * The home, version and replica of a run record's path (`<home>/run/<version>/replica-<n>.json`, or
 * the slurm backend's `<home>/slurm/<version>/replica-<n>.json`), or undefined.
 */
export function parseRunRecordPath(
  path: string,
): { home: string; version: string; replica: number } | undefined {
  const file = parseReplicaFileName(basename(path));
  const dir = dirname(path);
  const version = basename(dir);
  const run = dirname(dir);
  if (file?.kind !== 'json' || !isVersionName(version) || ![RUN, SLURM].includes(basename(run)))
    return undefined;
  return { home: dirname(run), version, replica: file.replica };
}

/** The versions that have a run dir. */
export const runVersionNames = (home: string) => versionNamesIn(runRoot(home));

/** The run record files of a version, with their replica numbers (unsorted). */
export function runRecordFiles(home: string, version: string): { replica: number; path: string }[] {
  let names: string[];
  try {
    names = readdirSync(runDir(home, version));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const f = parseReplicaFileName(name);
    return f?.kind === 'json' ? [{ replica: f.replica, path: join(runDir(home, version), name) }] : [];
  });
}

// The uv backend's venvs.

/** `<home>/venvs`: every version's venv. */
export const venvsRoot = (home: string) => join(home, VENVS);
/** `<home>/venvs/<version>`. */
export const venvDir = (home: string, version: string) => join(venvsRoot(home), version);
/** The interpreter of a venv. */
export const venvPython = (venv: string) => join(venv, 'bin', 'python');
/** The versions that have a venv. */
export const venvVersionNames = (home: string) => versionNamesIn(venvsRoot(home));

// The docker backend's records: what it built and the containers it runs (written before docker
// makes anything, so whatever docker holds of a version has a record naming it).

/** `<home>/containers`: every version's container records. */
export const containersRoot = (home: string) => join(home, CONTAINERS);
/** `<home>/containers/<version>`: one version's records (0700). */
export const containersDir = (home: string, version: string) => join(containersRoot(home), version);
/** `containers/<version>/image.json`: the image prepare built or found. */
export const containerImageFile = (home: string, version: string) =>
  join(containersDir(home, version), 'image.json');
export type ContainerFileKind = 'json' | 'env';
/** `containers/<version>/replica-<n>.json` (the record) or `.env` (its env-file while `docker run` reads it). */
export const containerFile = (home: string, version: string, n: number, kind: ContainerFileKind) =>
  join(containersDir(home, version), `replica-${n}.${kind}`);
/** The versions that have container records. */
export const containerVersionNames = (home: string) => versionNamesIn(containersRoot(home));
/** The replica record files of a version, with their replica numbers (unsorted). */
export const containerRecordFiles = (home: string, version: string) =>
  replicaRecordsIn(containersDir(home, version));

// The slurm backend's jobs: root's alone (0700), whatever the isolation (a replica never opens them).

/** `<home>/slurm`: every version's job records. */
export const slurmRoot = (home: string) => join(home, SLURM);
/** `<home>/slurm/<version>`: one version's job records, batch script and launcher. */
export const slurmDir = (home: string, version: string) => join(slurmRoot(home), version);
export type SlurmFileKind = 'json' | 'log' | 'prev.log' | 'spec.json';
/**
 * `slurm/<version>/replica-<n>.json` (the job record), `.log` (the job's output), `.prev.log` (the
 * previous job's, kept across a restart) or `.spec.json` (its argv and env).
 */
export const slurmReplicaFile = (home: string, version: string, n: number, kind: SlurmFileKind) =>
  join(slurmDir(home, version), `replica-${n}.${kind}`);
/** `slurm/<version>/batch.sh` and `launch.py`: the batch script every job runs, and its launcher. */
export const slurmBatchScript = (home: string, version: string) => join(slurmDir(home, version), 'batch.sh');
export const slurmLauncher = (home: string, version: string) => join(slurmDir(home, version), 'launch.py');
/** The versions that have job records. */
export const slurmVersionNames = (home: string) => versionNamesIn(slurmRoot(home));
/** The job record files of a version, with their replica numbers (unsorted). */
export const slurmRecordFiles = (home: string, version: string) => replicaRecordsIn(slurmDir(home, version));

/** The `replica-<n>.json` record files in a backend's version dir, with their replica numbers (unsorted). */
function replicaRecordsIn(dir: string): { replica: number; path: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const m = /^replica-(\d+)\.json$/.exec(name);
    return m ? [{ replica: Number(m[1]), path: join(dir, name) }] : [];
  });
}

// ----------------------------------------------------------------------------- a version's files

/** The files of an archive CoreService reads: its manifest, the script it runs, its wheels. */
export const manifestFile = (dir: string) => join(dir, ARCHIVE_MANIFEST);
export const MAIN_SCRIPT = 'main.py';
export const DEFAULT_PYPROJECT = 'pyproject.toml';
export const wheelsDir = (dir: string) => join(dir, 'wheels');

/** A file an install entry names inside the version dir, or undefined when it would lead outside it. */
export function fileInVersion(dir: string, rel: string): string | undefined {
  const abs = resolve(dir, rel);
  return abs.startsWith(dir + sep) ? abs : undefined;
}

// ----------------------------------------------------------------------------- temp files

/** The temp file the durable writer writes beside `path` before renaming it over. */
export const tempPath = (path: string, pid: number, seq: number) => `${path}.tmp-${pid}-${seq}`;

/** The name a temp file (see tempPath) was to become, or undefined when `name` is no temp file. */
export function parseTempName(name: string): string | undefined {
  return /^(.+)\.tmp-\d+(-\d+)?$/.exec(name)?.[1];
}

/** Whether a name in a home is the temp file of an interrupted write of one of its records. */
export function isHomeRecordTemp(name: string): boolean {
  const target = parseTempName(name);
  return target !== undefined && (HOME_RECORDS as readonly string[]).includes(target);
}

// ----------------------------------------------------------------------------- host-wide uid claims

/** A uid's claim in the host's registry: `<registry>/<uid>`. */
export const uidClaimFile = (registry: string, uid: number) => join(registry, String(uid));
/** The uid a claim file's name stands for, or undefined. */
export const parseUidClaimName = (name: string): number | undefined =>
  /^\d+$/.test(name) ? Number(name) : undefined;

// ----------------------------------------------------------------------------- helpers

/** Entries of `dir` named like versions, sorted; none when it cannot be listed. */
function versionNamesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter(isVersionName).sort();
  } catch {
    return [];
  }
}

/** A path for people: relative to the plugins dir when inside it. */
export function shownPath(pluginsDir: string, path: string): string {
  const rel = relative(pluginsDir, path);
  return rel && !rel.startsWith('..') ? rel : path;
}
