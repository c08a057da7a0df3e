import { z } from 'zod';
import { archiveManifestSchema } from './archive-manifest';
import { catalogEntrySchema } from './catalog-entry';

/** The JSON Schemas published for editors and other tools, generated from the zod schemas (the source of truth). */
export const PUBLISHED_SCHEMAS = {
  'catalog-entry.schema.json': {
    schema: catalogEntrySchema,
    title: 'Magellon plugin hub catalog entry',
    description: 'One published plugin version: catalog/plugins/<plugin_id>/<version>.yaml',
  },
  'archive-manifest.schema.json': {
    schema: archiveManifestSchema,
    title: 'Magellon plugin archive manifest',
    description:
      'manifest.yaml at the root of a .mpn archive (Magellon SDK format, manifest_version 1 and 1.x)',
  },
} as const;

export type PublishedSchemaName = keyof typeof PUBLISHED_SCHEMAS;

/** Renders one published schema as the exact text committed under packages/core/schema/. */
export function renderJsonSchema(name: PublishedSchemaName): string {
  const { schema, title, description } = PUBLISHED_SCHEMAS[name];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return `${JSON.stringify({ ...json, $id: `https://magellon.org/schemas/${name}`, title, description }, null, 2)}\n`;
}
