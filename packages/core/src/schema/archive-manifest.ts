import { z } from 'zod';
import { SHA256_PATTERN, sdkRange, slug, uuidV7 } from './primitives';

/*
 * The archive manifest (`manifest.yaml` at the root of a .mpn), read the way the
 * Magellon SDK reads it: unknown keys from newer minor versions are ignored, old
 * names are accepted, and values are coerced the way pydantic's lax mode does.
 */

/** The archive_id of an unpacked source manifest (the SDK's template); a packed archive never carries it. */
export const PLACEHOLDER_ARCHIVE_ID = '00000000-0000-7000-8000-000000000000';

/** Manifest format versions this hub understands; newer minors of "1" are read, ignoring unknown keys. */
export const KNOWN_MANIFEST_VERSIONS = ['1', '1.1'] as const;

const laxInt = (what: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v),
    z.int(`${what} must be a whole number`),
  );

const nonNegInt = (what: string) => laxInt(what).pipe(z.int().min(0, `${what} must be 0 or more`));

const TRUE_WORDS = new Set(['true', 'yes', 'on', 'y', 't', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', 'n', 'f', '0']);
const laxBool = (what: string) =>
  z.preprocess(
    (v) => {
      if (typeof v === 'string') {
        const w = v.trim().toLowerCase();
        if (TRUE_WORDS.has(w)) return true;
        if (FALSE_WORDS.has(w)) return false;
      }
      if (v === 0 || v === 1) return v === 1;
      return v;
    },
    z.boolean(`${what} must be true or false`),
  );

/** Timestamps arrive as YAML dates or strings; both become ISO 8601 strings. */
const timestamp = z.preprocess(
  (v) => (v instanceof Date && !Number.isNaN(v.getTime()) ? v.toISOString() : v),
  z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), 'must be a date or date-time such as 2025-06-01T12:00:00Z'),
);

const nullableString = z.string().nullish();

export const replicasSchema = z
  .object({
    desired: nonNegInt('resources.replicas.desired').default(1),
    min: nonNegInt('resources.replicas.min').default(1),
    max: nonNegInt('resources.replicas.max').default(1),
  })
  .refine((r) => r.min <= r.desired && r.desired <= r.max, {
    message: 'resources.replicas must satisfy min ≤ desired ≤ max',
  });

export const resourcesSchema = z.object({
  cpu_cores: nonNegInt('resources.cpu_cores').nullish(),
  memory_mb: nonNegInt('resources.memory_mb').nullish(),
  gpu_count: nonNegInt('resources.gpu_count')
    .nullish()
    .transform((v) => v ?? 0),
  gpu_memory_mb: nonNegInt('resources.gpu_memory_mb').nullish(),
  typical_duration_seconds: nonNegInt('resources.typical_duration_seconds').nullish(),
  replicas: replicasSchema.optional(),
});

export const RESTART_POLICIES = ['no', 'on-failure', 'always', 'unless-stopped'] as const;

export const lifecycleSchema = z.object({
  restart_policy: z
    .preprocess(
      // PyYAML reads an unquoted `no` as false; the SDK's authors meant the policy "no".
      (v) => (v === false ? 'no' : v),
      z.enum(RESTART_POLICIES, {
        message: 'lifecycle.restart_policy must be no, on-failure, always or unless-stopped',
      }),
    )
    .default('on-failure'),
  restart_max_retries: laxInt('lifecycle.restart_max_retries')
    .pipe(z.int().min(0).max(100, 'lifecycle.restart_max_retries must be 0–100 (0 = no cap)'))
    .default(5),
});

export const INSTALL_METHODS = ['uv', 'docker', 'subprocess', 'slurm'] as const;
export type InstallMethod = (typeof INSTALL_METHODS)[number];

/** A host predicate such as `{docker_daemon: true}`; several keys in one item are read as several predicates. */
export const predicateSchema = z.record(z.string(), z.unknown());

export const installSpecSchema = z
  .object({
    method: z.enum(INSTALL_METHODS, { message: 'install method must be uv, docker, subprocess or slurm' }),
    image: nullableString,
    dockerfile: nullableString,
    build_context: z
      .string()
      .nullish()
      .transform((v) => v ?? '.'),
    pyproject: nullableString,
    requires: z
      .array(predicateSchema)
      .nullish()
      .transform((v) => v ?? []),
  })
  .superRefine((spec, ctx) => {
    if (spec.method === 'docker' && !spec.image && !spec.dockerfile) {
      ctx.addIssue({ code: 'custom', message: "a docker install entry needs 'image' or 'dockerfile'" });
    }
    if (spec.method === 'uv' && !spec.pyproject) {
      ctx.addIssue({ code: 'custom', message: "a uv install entry needs 'pyproject'" });
    }
  });

export const healthCheckSchema = z.object({
  timeout_seconds: nonNegInt('health_check.timeout_seconds').default(30),
  expected_announce: laxBool('health_check.expected_announce').default(true),
});

/** Old manifests name fields differently; map them to today's names before validating. */
function upgradeLegacyFields(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const data: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (data.manifest_version === undefined && data.schema_version !== undefined) {
    data.manifest_version = data.schema_version;
  }
  delete data.schema_version;
  if (data.requires_sdk === undefined && data.sdk_compat !== undefined) data.requires_sdk = data.sdk_compat;
  delete data.sdk_compat;
  const hasInstall = Array.isArray(data.install) && data.install.length > 0;
  const image = data.image as { ref?: unknown } | undefined;
  if (
    !hasInstall &&
    typeof image === 'object' &&
    image !== null &&
    typeof image.ref === 'string' &&
    image.ref
  ) {
    data.install = [{ method: 'docker', image: image.ref, requires: [{ docker_daemon: true }] }];
  }
  delete data.image;
  return data;
}

/** Names older manifests used, which upgradeLegacyFields maps to today's fields. */
export const LEGACY_MANIFEST_KEYS = ['schema_version', 'sdk_compat', 'image'] as const;

/**
 * `file_checksums`: file name → sha256. Not a z.record, which silently drops a key named "__proto__":
 * file names are data, and every one is judged like any other. The result has no prototype, so
 * looking up "constructor" or "toString" finds only what the manifest lists.
 */
const fileChecksums = z
  .unknown()
  .optional()
  .superRefine((value, ctx) => {
    if (value === undefined || value === null) return;
    if (typeof value !== 'object' || Array.isArray(value) || value instanceof Date) {
      ctx.addIssue({
        code: 'invalid_type',
        expected: 'record',
        input: value,
        message: 'Invalid input: expected record',
      });
      return;
    }
    for (const [name, sha256] of Object.entries(value)) {
      if (typeof sha256 !== 'string' || !SHA256_PATTERN.test(sha256))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          input: sha256,
          message: 'sha256 must be 64 lowercase hex characters',
        });
    }
  })
  .transform((value) => {
    const listed: Record<string, string> = Object.create(null);
    for (const [name, sha256] of Object.entries(value ?? {})) listed[name] = sha256 as string;
    return listed;
  })
  .meta({
    anyOf: [
      {
        type: 'object',
        propertyNames: { type: 'string' },
        additionalProperties: { type: 'string', pattern: SHA256_PATTERN.source },
      },
      { type: 'null' },
    ],
  });

const NO_INSTALL = 'install must list at least one install method (uv, docker, subprocess or slurm)';

export const archiveManifestSchema = z.preprocess(
  upgradeLegacyFields,
  z.object({
    manifest_version: z
      .preprocess(
        (v) => (typeof v === 'number' ? String(v) : v),
        z.string().regex(/^1(\.\d+)?$/, 'manifest_version must be "1" or a 1.x minor such as "1.1"'),
      )
      .default('1'),
    plugin_id: slug('plugin_id'),
    archive_id: uuidV7.optional(),
    name: z.string().min(1, 'name must not be empty'),
    version: z.string('a version must be SemVer such as "1.0.0" (quoted)').min(1),
    requires_sdk: sdkRange,
    author: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    copyright: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    description: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    homepage: nullableString,
    license: z
      .string()
      .nullish()
      .transform((v) => v ?? ''),
    created: timestamp.optional(),
    updated: timestamp.optional(),
    // A slug, as the catalog entry's: it names CoreService's per-category files and the site's
    // category pages, so "../x" or "FFT" never reaches a path or a URL.
    category: slug('category'),
    backend_id: nullableString,
    requires: z
      .array(z.string())
      .nullish()
      .transform((v) => v ?? ['broker', 'gpfs']),
    resources: resourcesSchema.nullish().transform((v) => v ?? { gpu_count: 0 }),
    lifecycle: lifecycleSchema
      .nullish()
      .transform((v) => v ?? { restart_policy: 'on-failure' as const, restart_max_retries: 5 }),
    input_schema: z
      .string()
      .nullish()
      .transform((v) => v ?? 'schemas/input.json'),
    output_schema: z
      .string()
      .nullish()
      .transform((v) => v ?? 'schemas/output.json'),
    install: z.array(installSpecSchema, NO_INSTALL).min(1, NO_INSTALL),
    health_check: healthCheckSchema
      .nullish()
      .transform((v) => v ?? { timeout_seconds: 30, expected_announce: true }),
    ui: z.object({ docs_url: nullableString }).nullish(),
    checksum_algorithm: z.literal('sha256', 'checksum_algorithm must be "sha256"').default('sha256'),
    file_checksums: fileChecksums,
    tags: z
      .array(z.string())
      .nullish()
      .transform((v) => v ?? []),
    replaces: z
      .array(z.string())
      .nullish()
      .transform((v) => v ?? []),
    deprecates: z
      .array(z.string())
      .nullish()
      .transform((v) => v ?? []),
  }),
);

export type ArchiveManifest = z.infer<typeof archiveManifestSchema>;
export type InstallSpec = z.infer<typeof installSpecSchema>;
