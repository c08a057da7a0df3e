import { z } from 'zod';
import {
  apiErrorSchema,
  categoryDocumentSchema,
  LISTING_SORTS,
  listingPageSchema,
  listingQuerySchema,
} from '../schema/api';
import { categoriesDocumentSchema, indexDocumentSchema, pluginDocumentSchema } from '../schema/documents';

/** JSON Schema 2020-12 (the dialect of OpenAPI 3.1) for a zod schema, without its own $schema line. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

const JSON_TYPE = 'application/json';
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorResponse = (description: string) => ({
  description,
  content: { [JSON_TYPE]: { schema: ref('Error') } },
});
const jsonResponse = (description: string, schema: string) => ({
  description,
  headers: {
    ETag: { description: 'strong validator of this document', schema: { type: 'string' } },
    'Cache-Control': { schema: { type: 'string' } },
  },
  content: { [JSON_TYPE]: { schema: ref(schema) } },
});
const notModified = { description: 'the If-None-Match ETag still matches' };

/**
 * The OpenAPI 3.1 description of the /v1 API, generated from the same zod schemas that check
 * what the hub writes and what the listing accepts. Same input, same bytes: no dates, no host.
 */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const query = jsonSchema(listingQuerySchema, 'input') as {
    properties: Record<string, Record<string, unknown>>;
  };
  const parameters = Object.entries(query.properties).map(([name, schema]) => ({
    name,
    in: 'query',
    required: false,
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
    schema: { ...schema, description: undefined },
  }));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Magellon plugin hub',
      version,
      description:
        'Read-only catalog of Magellon plugins. Every JSON document has a strong ETag (send If-None-Match for a 304) and comes gzip- or brotli-encoded on request. Errors are {"error": {"code", "message"}}.',
    },
    paths: {
      '/v1/index.json': {
        get: {
          summary:
            'Every plugin with its listed (not yanked) versions: the document the Magellon web app reads',
          responses: { 200: jsonResponse('the index', 'IndexDocument'), 304: notModified },
        },
      },
      '/v1/plugins/{plugin_id}.json': {
        get: {
          summary: 'One plugin with every version, yanked ones included: the document CoreService reads',
          parameters: [{ name: 'plugin_id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            200: jsonResponse('the plugin', 'PluginDocument'),
            304: notModified,
            404: errorResponse('no such plugin'),
          },
        },
      },
      '/v1/plugins': {
        get: {
          summary: `Filtered, sorted, paged listing (sort: ${LISTING_SORTS.join(', ')}; prefix - for descending). Link headers name the first, previous, next and last pages.`,
          parameters,
          responses: {
            200: jsonResponse('one page', 'ListingPage'),
            304: notModified,
            400: errorResponse('a parameter is unknown, repeated or out of range; the message names it'),
          },
        },
      },
      '/v1/categories': {
        get: {
          summary: 'Every category with the backends that serve it',
          responses: { 200: jsonResponse('the categories', 'CategoriesDocument'), 304: notModified },
        },
      },
      '/v1/categories/{category}': {
        get: {
          summary: 'One category with its backends side by side',
          parameters: [{ name: 'category', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            200: jsonResponse('the category', 'CategoryDocument'),
            304: notModified,
            404: errorResponse('no such category'),
          },
        },
      },
      '/assets/plugins/{file}': {
        get: {
          summary:
            'A plugin archive (.mpn). ETag is its sha256; cached as immutable; single byte ranges are served (206, 416).',
          parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            200: { description: 'the archive', content: { 'application/zip': {} } },
            206: { description: 'the requested range' },
            304: notModified,
            404: errorResponse('no such archive'),
            416: errorResponse('the range is outside the archive'),
          },
        },
      },
      '/tuf/metadata/{file}': {
        get: {
          summary:
            'Signed TUF metadata of a build made with --tuf-keys: N.root.json, root.json, timestamp.json, N.snapshot.json, N.targets.json, N.hub.json, N.plugin-<plugin_id>.json. Versioned files are cached as immutable, root.json and timestamp.json for 60 s.',
          parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            200: { description: 'the metadata (TUF 1.0 JSON)', content: { [JSON_TYPE]: {} } },
            404: errorResponse('no such metadata file (or the build is not signed)'),
          },
        },
      },
      '/v1/openapi.json': {
        get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'ok' } } } },
    },
    components: {
      schemas: {
        IndexDocument: jsonSchema(indexDocumentSchema),
        PluginDocument: jsonSchema(pluginDocumentSchema),
        CategoriesDocument: jsonSchema(categoriesDocumentSchema),
        CategoryDocument: jsonSchema(categoryDocumentSchema),
        ListingPage: jsonSchema(listingPageSchema),
        Error: jsonSchema(apiErrorSchema),
      },
    },
  };
}
