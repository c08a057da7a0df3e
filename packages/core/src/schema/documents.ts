import { z } from 'zod';
import { tier } from './catalog-entry';

/*
 * The /v1 JSON documents. index.json and the version fields are read by the
 * Magellon web app and CoreService as they are; change them only compatibly.
 *
 * Every shape is defined once, in `documentSchemas(mode)`, and built twice:
 * `strict` for what this hub writes (an unknown field is a bug here), `tolerant` for
 * reading documents a newer hub may have written (unknown fields are allowed and kept).
 */

/** The `schema_version` every /v1 document carries: the string the Magellon web app declares. */
export const DOCUMENT_SCHEMA_VERSION = '1';

type Mode = 'strict' | 'tolerant';

function documentSchemas(mode: Mode) {
  const object = <T extends z.core.$ZodLooseShape>(shape: T) =>
    mode === 'strict' ? z.strictObject(shape) : z.looseObject(shape);
  // Readers also accept the number 1 that hubs wrote before schema_version became a string.
  const schemaVersion =
    mode === 'strict'
      ? z.literal(DOCUMENT_SCHEMA_VERSION)
      : z.preprocess((v) => (v === 1 ? '1' : v), z.literal(DOCUMENT_SCHEMA_VERSION));

  const versionFields = {
    version: z.string(),
    archive_id: z.string(),
    url: z.string(),
    sha256: z.string(),
    size_bytes: z.number(),
    requires_sdk: z.string(),
    published_at: z.string(),
  };
  const indexVersion = object(versionFields);
  const pluginSummaryFields = {
    plugin_id: z.string(),
    name: z.string(),
    description: z.string(),
    category: z.string(),
    backend_id: z.string().optional(),
    author: z.string(),
    license: z.string(),
    homepage: z.string().optional(),
    tier,
    tags: z.array(z.string()),
  };
  /** One plugin in `GET /v1/index.json`: exactly the fields the Magellon web app reads. */
  const indexPlugin = object({
    ...pluginSummaryFields,
    latest_version: z.string(),
    versions: z.array(indexVersion),
  });
  /** `GET /v1/index.json`. */
  const indexDocument = object({
    schema_version: schemaVersion,
    generated_at: z.string(),
    plugins: z.array(indexPlugin),
  });
  const reasonAt = object({ reason: z.string(), at: z.string() });
  const deprecation = object({ reason: z.string(), replacement: z.string().optional() });
  /** One version in `GET /v1/plugins/<id>.json`: flat fields plus the nested `archive` CoreService prefers. */
  const pluginVersion = object({
    ...versionFields,
    archive: object({ url: z.string(), sha256: z.string(), size_bytes: z.number() }),
    tier,
    yanked: reasonAt.optional(),
    deprecated: deprecation.optional(),
  });
  /** `GET /v1/plugins/<id>.json`: every version, yanked ones included (clients pin exact versions). */
  const pluginDocument = object({
    schema_version: schemaVersion,
    generated_at: z.string(),
    ...pluginSummaryFields,
    latest_version: z.string().nullable(),
    deprecated: deprecation.optional(),
    versions: z.array(pluginVersion),
  });
  const categoryBackend = object({
    backend_id: z.string(),
    plugin_id: z.string(),
    name: z.string(),
    tier,
    latest_version: z.string(),
  });
  /** `GET /v1/categories.json`: each category with the backends that serve it. */
  const categoriesDocument = object({
    schema_version: schemaVersion,
    generated_at: z.string(),
    categories: z.array(
      object({ category: z.string(), plugin_count: z.number(), backends: z.array(categoryBackend) }),
    ),
  });
  return {
    indexVersion,
    indexPlugin,
    indexDocument,
    pluginVersion,
    pluginDocument,
    categoryBackend,
    categoriesDocument,
  };
}

const strict = documentSchemas('strict');
const tolerant = documentSchemas('tolerant');

// Strict: what this hub writes. Use these to check a document before it is written.
export const indexVersionSchema = strict.indexVersion;
export const indexPluginSchema = strict.indexPlugin;
export const indexDocumentSchema = strict.indexDocument;
export const pluginVersionSchema = strict.pluginVersion;
export const pluginDocumentSchema = strict.pluginDocument;
export const categoryBackendSchema = strict.categoryBackend;
export const categoriesDocumentSchema = strict.categoriesDocument;

// Tolerant: for reading documents that a newer hub may have written (unknown fields allowed).
export const indexDocumentReadSchema = tolerant.indexDocument;
export const pluginDocumentReadSchema = tolerant.pluginDocument;
export const categoriesDocumentReadSchema = tolerant.categoriesDocument;

export type IndexVersion = z.infer<typeof indexVersionSchema>;
export type IndexPlugin = z.infer<typeof indexPluginSchema>;
export type IndexDocument = z.infer<typeof indexDocumentSchema>;
export type PluginVersion = z.infer<typeof pluginVersionSchema>;
export type PluginDocument = z.infer<typeof pluginDocumentSchema>;
export type CategoriesDocument = z.infer<typeof categoriesDocumentSchema>;
