import { z } from 'zod';
import { tier } from './catalog-entry';

/*
 * The /v1 JSON documents. index.json and the version fields are read by the
 * Magellon web app and CoreService as they are; change them only compatibly.
 */

export const DOCUMENT_SCHEMA_VERSION = 1;

export const indexVersionSchema = z.strictObject({
  version: z.string(),
  archive_id: z.string(),
  url: z.string(),
  sha256: z.string(),
  size_bytes: z.number(),
  requires_sdk: z.string(),
  published_at: z.string(),
});

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
export const indexPluginSchema = z.strictObject({
  ...pluginSummaryFields,
  latest_version: z.string(),
  versions: z.array(indexVersionSchema),
});

/** `GET /v1/index.json`. */
export const indexDocumentSchema = z.strictObject({
  schema_version: z.literal(DOCUMENT_SCHEMA_VERSION),
  generated_at: z.string(),
  plugins: z.array(indexPluginSchema),
});

const reasonAt = z.strictObject({ reason: z.string(), at: z.string() });
const deprecation = z.strictObject({ reason: z.string(), replacement: z.string().optional() });

/** One version in `GET /v1/plugins/<id>.json`: flat fields plus the nested `archive` CoreService prefers. */
export const pluginVersionSchema = indexVersionSchema.extend({
  archive: z.strictObject({ url: z.string(), sha256: z.string(), size_bytes: z.number() }),
  tier,
  yanked: reasonAt.optional(),
  deprecated: deprecation.optional(),
});

/** `GET /v1/plugins/<id>.json`: every version, yanked ones included (clients pin exact versions). */
export const pluginDocumentSchema = z.strictObject({
  schema_version: z.literal(DOCUMENT_SCHEMA_VERSION),
  generated_at: z.string(),
  ...pluginSummaryFields,
  latest_version: z.string().nullable(),
  deprecated: deprecation.optional(),
  versions: z.array(pluginVersionSchema),
});

export const categoryBackendSchema = z.strictObject({
  backend_id: z.string(),
  plugin_id: z.string(),
  name: z.string(),
  tier,
  latest_version: z.string(),
});

/** `GET /v1/categories.json`: each category with the backends that serve it. */
export const categoriesDocumentSchema = z.strictObject({
  schema_version: z.literal(DOCUMENT_SCHEMA_VERSION),
  generated_at: z.string(),
  categories: z.array(
    z.strictObject({
      category: z.string(),
      plugin_count: z.number(),
      backends: z.array(categoryBackendSchema),
    }),
  ),
});

export type IndexVersion = z.infer<typeof indexVersionSchema>;
export type IndexPlugin = z.infer<typeof indexPluginSchema>;
export type IndexDocument = z.infer<typeof indexDocumentSchema>;
export type PluginVersion = z.infer<typeof pluginVersionSchema>;
export type PluginDocument = z.infer<typeof pluginDocumentSchema>;
export type CategoriesDocument = z.infer<typeof categoriesDocumentSchema>;
