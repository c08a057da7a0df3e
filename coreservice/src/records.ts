// The JSON records CoreService keeps (receipts, run state, replica run records, identities, lock
// holders, uid claims): one zod schema each, the types inferred from them, read only through
// `readRecord` (a bounded, no-follow read, then `safeParse`) and written only through
// `writeRecord` (the one durable writer, files.ts). A running plugin, a crash or an operator can
// leave anything at these names, so a record that does not parse is never cast into shape: the
// reader says it is unreadable and why, and status and doctor name it.
import { INSTALL_METHODS } from '@magellon/hub-core';
import { PLUGIN_UID_MAX, PLUGIN_UID_MIN } from '@magellon/hub-core/node';
import { z } from 'zod';
import { isVersionDirName } from './layout';
import { isPluginId } from './plugin-id';
import { readSmallFile, writeFileDurably } from './runtime/files';
import { ISOLATION_SETTINGS } from './runtime/isolation';

const MAX_RECORD_BYTES = 1024 * 1024;

const pluginId = z.string().refine(isPluginId, 'a plugin id');
const version = z.string().refine(isVersionDirName, 'a version such as 1.2.0');

/** What CoreService records about an installed plugin, written last (its presence means "installed"). */
export const receiptSchema = z.object({
  plugin_id: pluginId,
  version,
  archive_id: z.string(),
  sha256: z.string(),
  size_bytes: z.number().int().nonnegative(),
  /** The hub it came from, or "upload". */
  registry: z.string(),
  /** The install method (backend) it runs with (receipts before backends: the process backend). */
  method: z.enum(INSTALL_METHODS).optional(),
  installed_at: z.string(),
  /**
   * A uv venv's Python packages as installed (name, version, sha256 of the file when the installer
   * said), so the set can be reproduced; the primary index they came from (no credentials; absent
   * offline); whether they were a uv.lock's exact set. Receipts before them have none.
   */
  python_dependencies: z
    .array(
      z.object({
        name: z.string(),
        version: z.string(),
        sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .optional(),
      }),
    )
    .optional(),
  python_index: z.string().optional(),
  locked: z.boolean().optional(),
});
export type Receipt = z.infer<typeof receiptSchema>;

/** The lockfile format `coreservice export` writes and `coreservice sync` reads (see lockfile.ts). */
export const LOCKFILE_VERSION = 1;

/** Whether a string is an http(s) URL that carries no credentials (no user, password, query or fragment). */
export function isCredentialFreeUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (
      (u.protocol === 'http:' || u.protocol === 'https:') &&
      !u.username &&
      !u.password &&
      !u.search &&
      !u.hash
    );
  } catch {
    return false;
  }
}

/** One installed plugin, as a lockfile pins it: the exact archive, where it came from and how it runs. */
export const lockEntrySchema = z
  .object({
    plugin_id: pluginId,
    version,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 (64 lowercase hex digits)'),
    size_bytes: z.number().int().nonnegative(),
    archive_id: z.string(),
    /** The registry it was installed from (a URL without credentials), or "upload". */
    registry: z
      .string()
      .refine(
        (r) => r === 'upload' || isCredentialFreeUrl(r),
        'a registry is "upload" or an http(s) URL without credentials',
      ),
    method: z.enum(INSTALL_METHODS),
    /** The replicas the operator wants running. */
    replicas: z.number().int().nonnegative(),
    python_dependencies: receiptSchema.shape.python_dependencies,
    python_index: z.string().optional(),
    locked: z.boolean().optional(),
  })
  .strict();
export type LockEntry = z.infer<typeof lockEntrySchema>;

/** A lockfile: what a plugins dir holds, to reproduce it elsewhere. No times, no paths, no secrets. */
export const lockfileSchema = z
  .object({
    lockfile_version: z.literal(LOCKFILE_VERSION),
    /** The platform SDK version the exporting CoreService was configured with, when it was. */
    sdk_version: z.string().optional(),
    plugins: z.array(lockEntrySchema),
  })
  .strict()
  .superRefine((lock, ctx) => {
    const seen = new Set<string>();
    lock.plugins.forEach((p, i) => {
      if (seen.has(p.plugin_id))
        ctx.addIssue({
          code: 'custom',
          path: ['plugins', i, 'plugin_id'],
          message: `${p.plugin_id} is listed twice`,
        });
      seen.add(p.plugin_id);
    });
  });
export type Lockfile = z.infer<typeof lockfileSchema>;

/** A category's pinned default backend: the plugin a dispatcher gets when it names no backend. */
export const categoryDefaultSchema = z.object({ plugin_id: z.string(), pinned_at: z.string() }).strict();

/** A plugin's client token, as its sha256 only: the token itself is answered once and never kept. */
export const clientTokenSchema = z
  .object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), created_at: z.string() })
  .strict();

/** The per-plugin run state: what the operator wants, which the supervisor and a restart honour. */
export const runStateSchema = z.object({
  desired: z.enum(['running', 'stopped']),
  replicas: z.number().int().nonnegative(),
});
export type RunState = z.infer<typeof runStateSchema>;

/** One setting a plugin was given, and where it came from. */
export const effectiveSettingSchema = z.object({
  key: z.string(),
  value: z.string(),
  from: z.enum(['default', 'file', 'env']),
});

/** What a replica was given when it was started, as its run record keeps it (secrets masked). */
export const recordedStartSchema = z.object({
  settings: z.array(effectiveSettingSchema),
  environment: z.record(z.string(), z.string()),
});

/** What every backend's replica record holds besides how it names the replica (pid, container, job). */
const replicaFields = {
  restarts: z.number().int().nonnegative(),
  /** The port it was told to use (when the plugin does not announce itself). */
  port: z.number().int().min(1).max(65535).optional(),
  /** The isolation it runs with. */
  isolation: z.enum(ISOLATION_SETTINGS).exclude(['auto']).optional(),
  stopped: z.boolean().optional(),
  /**
   * What it was started with (secrets masked): what `status` shows. Only shown, never acted on, so
   * a torn or tampered one is dropped and the rest of the record still counts.
   */
  given: recordedStartSchema.optional().catch(undefined),
};

/** The process backend's record of one replica (`run/<version>/replica-<n>.json`). */
export const replicaRecordSchema = z.object({
  pid: z.number().int().positive(),
  /** The process's start time, so a reused pid is never signalled. */
  pid_start: z.string().optional(),
  started_at: z.string(),
  exit_code: z.number().int().nullable().optional(),
  exited_at: z.string().optional(),
  ...replicaFields,
});
export type ReplicaRecord = z.infer<typeof replicaRecordSchema>;

/** The docker backend's record of the image a version runs (`containers/<version>/image.json`). */
export const containerImageSchema = z.object({
  /** The image reference containers are created from. */
  image: z.string(),
  /** prepare built it (so remove deletes it), or it was the manifest's own image (never deleted). */
  built: z.boolean(),
  image_id: z.string().optional(),
  prepared_at: z.string(),
});
export type ContainerImage = z.infer<typeof containerImageSchema>;

/** The docker backend's record of one replica (`containers/<version>/replica-<n>.json`). */
export const containerRecordSchema = z.object({
  /** The container's name (written before `docker run`), and its id once it was created. */
  name: z.string(),
  container_id: z.string().optional(),
  image: z.string(),
  /** The uid:gid it runs as. */
  user: z.string(),
  started_at: z.string(),
  // restarts: by recreating it (restartReplica); Docker's own restarts are its RestartCount.
  ...replicaFields,
});
export type ContainerRecord = z.infer<typeof containerRecordSchema>;

/** The slurm backend's record of one replica, a batch job (`slurm/<version>/replica-<n>.json`). */
export const slurmJobRecordSchema = z.object({
  job_id: z.string().regex(/^\d+$/, 'a Slurm job id'),
  submitted_at: z.string(),
  /** How it ended, once Slurm said so (null: by a signal). */
  exit_code: z.number().int().nullable().optional(),
  exited_at: z.string().optional(),
  /** Slurm's state and node when it ended. */
  job_state: z.string().optional(),
  node: z.string().optional(),
  ...replicaFields,
});
export type SlurmJobRecord = z.infer<typeof slurmJobRecordSchema>;

/** A plugin's own user and group (`uid` isolation), in `<home>/identity.json`. */
export const identitySchema = z.object({
  uid: z.number().int().min(PLUGIN_UID_MIN).max(PLUGIN_UID_MAX),
  gid: z.number().int().nonnegative(),
});
export type PluginIdentity = z.infer<typeof identitySchema>;

/** Who holds a plugin's lock (`.<id>.holder`). */
export const holderSchema = z.object({
  pid: z.number().int().positive(),
  pid_start: z.string().optional(),
  /** The inode of the lock dir it holds. */
  lock_ino: z.number().int().nonnegative(),
  since: z.string(),
});
export type Holder = z.infer<typeof holderSchema>;

/** A claim on a uid in the host's registry: which plugins dir and plugin hold it. */
export const uidClaimSchema = z.object({
  plugins_dir: z.string(),
  plugin_id: z.string(),
});
export type UidClaim = z.infer<typeof uidClaimSchema>;

/** A record as read: its value, absent, or unreadable (and why). */
export type RecordRead<T> =
  | { ok: true; value: T }
  | { ok: false; absent: true }
  | { ok: false; absent: false; path: string; why: string };

/** How an unreadable record is named wherever it is reported. */
export const unreadable = (path: string, why: string) => `unreadable record ${path}: ${why}`;

/**
 * Reads a record: a regular file (never through a link, never blocking on a FIFO), at most 1 MiB,
 * JSON that the schema accepts. A missing file is `absent`; anything else is `unreadable`, with why.
 */
export function readRecord<T>(path: string, schema: z.ZodType<T>): RecordRead<T> {
  const read = readSmallFile(path, MAX_RECORD_BYTES);
  if (!read.ok) {
    return read.why === 'ENOENT'
      ? { ok: false, absent: true }
      : { ok: false, absent: false, path, why: read.why };
  }
  let data: unknown;
  try {
    data = JSON.parse(read.text);
  } catch (err) {
    return { ok: false, absent: false, path, why: `it is not JSON (${(err as Error).message})` };
  }
  const parsed = schema.safeParse(data);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : '(top level)';
  return { ok: false, absent: false, path, why: `${where}: ${issue?.message ?? 'it does not match'}` };
}

/** The value of a record, or undefined when it is absent or unreadable. */
/** One `replica-<n>.json` a backend keeps, read (or not) through its schema. */
export type ReplicaRecordRead<T> = { n: number; path: string; read: RecordRead<T> };

/** A version's replica records (the files a layout function listed), read through `schema`, by replica number. */
export function readReplicaRecords<T>(
  files: { replica: number; path: string }[],
  schema: z.ZodType<T>,
): ReplicaRecordRead<T>[] {
  return files
    .map(({ replica, path }) => ({ n: replica, path, read: readRecord(path, schema) }))
    .sort((a, b) => a.n - b.n);
}

/** The records of `readReplicaRecords` that could be read. */
export const readableRecords = <T>(reads: ReplicaRecordRead<T>[]): { n: number; rec: T }[] =>
  reads.flatMap(({ n, read }) => (read.ok ? [{ n, rec: read.value }] : []));

export const recordValue = <T>(read: RecordRead<T>): T | undefined => (read.ok ? read.value : undefined);

/**
 * Writes a record whole through the one durable writer (see writeFileDurably). The value is
 * checked against its schema first: CoreService never writes a record it could not read back.
 * `exclusive`: only when no record is there yet (a uid claim).
 */
export function writeRecord<T>(
  path: string,
  schema: z.ZodType<T>,
  value: T,
  opts: { exclusive?: boolean } = {},
): void {
  const checked = schema.parse(value);
  writeFileDurably(path, `${JSON.stringify(checked, null, 2)}\n`, opts);
}
