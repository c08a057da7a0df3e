import { z } from 'zod';
import {
  ARCHIVES_DIR,
  CATEGORY_DOCUMENTS_DIR,
  INDEX_DOCUMENT,
  OPENAPI_DOCUMENT,
  PLUGIN_DOCUMENTS_DIR,
  TUF_METADATA_DIR,
} from '../layout';
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

/** The listing's query parameters, from the schema that checks them. */
function listingParameters() {
  const query = jsonSchema(listingQuerySchema, 'input') as {
    properties: Record<string, Record<string, unknown>>;
  };
  return Object.entries(query.properties).map(([name, schema]) => ({
    name,
    in: 'query',
    required: false,
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
    schema: { ...schema, description: undefined },
  }));
}

const pathParameter = (name: string) => [{ name, in: 'path', required: true, schema: { type: 'string' } }];

/** The prepared documents: the index, one plugin, the listing, the categories. */
function documentPaths(): Record<string, unknown> {
  return {
    [`/${INDEX_DOCUMENT}`]: {
      get: {
        summary:
          'Every plugin with its listed (not yanked) versions: the document the Magellon web app reads',
        responses: { 200: jsonResponse('the index', 'IndexDocument'), 304: notModified },
      },
    },
    [`/${PLUGIN_DOCUMENTS_DIR}/{plugin_id}.json`]: {
      get: {
        summary: 'One plugin with every version, yanked ones included: the document CoreService reads',
        parameters: pathParameter('plugin_id'),
        responses: {
          200: jsonResponse('the plugin', 'PluginDocument'),
          304: notModified,
          404: errorResponse('no such plugin'),
        },
      },
    },
    [`/${PLUGIN_DOCUMENTS_DIR}`]: {
      get: {
        summary: `Filtered, sorted, paged listing (sort: ${LISTING_SORTS.join(', ')}; prefix - for descending). Link headers name the first, previous, next and last pages.`,
        parameters: listingParameters(),
        responses: {
          200: jsonResponse('one page', 'ListingPage'),
          304: notModified,
          400: errorResponse('a parameter is unknown, repeated or out of range; the message names it'),
        },
      },
    },
    [`/${CATEGORY_DOCUMENTS_DIR}`]: {
      get: {
        summary: 'Every category with the backends that serve it',
        responses: { 200: jsonResponse('the categories', 'CategoriesDocument'), 304: notModified },
      },
    },
    [`/${CATEGORY_DOCUMENTS_DIR}/{category}`]: {
      get: {
        summary: 'One category with its backends side by side',
        parameters: pathParameter('category'),
        responses: {
          200: jsonResponse('the category', 'CategoryDocument'),
          304: notModified,
          404: errorResponse('no such category'),
        },
      },
    },
  };
}

/** The files served as they are: archives, signed metadata, this document, liveness. */
function filePaths(): Record<string, unknown> {
  return {
    [`/${ARCHIVES_DIR}/{file}`]: {
      get: {
        summary:
          'A plugin archive (.mpn). ETag is its sha256; cached as immutable; single byte ranges are served (206, 416).',
        parameters: pathParameter('file'),
        responses: {
          200: { description: 'the archive', content: { 'application/zip': {} } },
          206: { description: 'the requested range' },
          304: notModified,
          404: errorResponse('no such archive'),
          416: errorResponse('the range is outside the archive'),
        },
      },
    },
    [`/${TUF_METADATA_DIR}/{file}`]: {
      get: {
        summary:
          'Signed TUF metadata of a build made with --tuf-keys: N.root.json, root.json, timestamp.json, N.snapshot.json, N.targets.json, N.hub.json, N.plugin-<plugin_id>.json. Versioned files are cached as immutable, root.json and timestamp.json for 60 s.',
        parameters: pathParameter('file'),
        responses: {
          200: { description: 'the metadata (TUF 1.0 JSON)', content: { [JSON_TYPE]: {} } },
          404: errorResponse('no such metadata file (or the build is not signed)'),
        },
      },
    },
    [`/${OPENAPI_DOCUMENT}`]: {
      get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
    },
    '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'ok' } } } },
  };
}

/**
 * The OpenAPI 3.1 description of the /v1 API, generated from the same zod schemas that check
 * what the hub writes and what the listing accepts. Same input, same bytes: no dates, no host.
 */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Magellon plugin hub',
      version,
      description:
        'Read-only catalog of Magellon plugins. Every JSON document has a strong ETag (send If-None-Match for a 304) and comes gzip- or brotli-encoded on request. Errors are {"error": {"code", "message"}}.',
    },
    paths: { ...documentPaths(), ...filePaths() },
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
