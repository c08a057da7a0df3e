import { z } from 'zod';
import { tier } from './catalog-entry';
import { categoryBackendSchema, indexPluginSchema } from './documents';
import { SLUG_PATTERN } from './primitives';

/*
 * The shapes of the /v1 API beyond the built documents: the listing's query and page, a single
 * category, errors, and the bundle manifest a build writes for the servers. The OpenAPI document
 * is generated from these and from ./documents.ts; nothing else describes them.
 */

export const LISTING_SORTS = ['plugin_id', 'name', 'updated', 'category'] as const;
export const MAX_PER_PAGE = 100;
export const DEFAULT_PER_PAGE = 20;
export const MAX_PAGE = 100_000;
export const MAX_QUERY_CHARS = 200;

const slugParam = (name: string) =>
  z
    .string()
    .max(100, `${name} must be at most 100 characters`)
    .regex(SLUG_PATTERN, `${name} must be a lowercase slug (letters a-z, digits, ".", "_" or "-")`);

const intParam = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,7}$/, `${name} must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be a whole number from ${min} to ${max}`);

/**
 * `GET /v1/plugins?…`: every parameter is optional and may appear once. `sort` is one of
 * LISTING_SORTS, optionally prefixed by `-` for descending; the order is always total (ties are
 * broken by plugin_id), so pages never overlap.
 */
export const listingQuerySchema = z.strictObject({
  category: slugParam('category').optional(),
  tier: tier.optional().describe('verified or community'),
  tag: slugParam('tag').optional(),
  q: z
    .string()
    .max(MAX_QUERY_CHARS, `q must be at most ${MAX_QUERY_CHARS} characters`)
    .optional()
    .describe('words that must all appear in the id, name, description, author, category or tags'),
  sort: z
    .enum([...LISTING_SORTS, ...LISTING_SORTS.map((s) => `-${s}` as const)], {
      message: `sort must be one of ${LISTING_SORTS.join(', ')} (prefix - for descending)`,
    })
    .optional(),
  page: intParam('page', 1, MAX_PAGE).optional(),
  per_page: intParam('per_page', 1, MAX_PER_PAGE).optional(),
});

/** `GET /v1/plugins?…`: one page of the default listing (yanked-only plugins are left out, as in index.json). */
export const listingPageSchema = z.strictObject({
  schema_version: z.literal('1'),
  generated_at: z.string(),
  total: z.number().int(),
  page: z.number().int(),
  per_page: z.number().int(),
  pages: z.number().int(),
  plugins: z.array(indexPluginSchema),
});
export type ListingPageDocument = z.infer<typeof listingPageSchema>;

/** `GET /v1/categories/<slug>`: one category and its backends, side by side. */
export const categoryDocumentSchema = z.strictObject({
  schema_version: z.literal('1'),
  generated_at: z.string(),
  category: z.string(),
  plugin_count: z.number().int(),
  backends: z.array(categoryBackendSchema),
});
export type CategoryDocument = z.infer<typeof categoryDocumentSchema>;

export const API_ERROR_CODES = [
  'not_found',
  'bad_request',
  'method_not_allowed',
  'range_not_satisfiable',
  'unavailable',
  'internal',
] as const;

/** Every error the API answers: `{"error": {"code", "message"}}`. */
export const apiErrorSchema = z.strictObject({
  error: z.strictObject({ code: z.enum(API_ERROR_CODES), message: z.string() }),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

/** One served document as the build prepared it: its strong ETag and the size of each encoding. */
export const bundleDocumentSchema = z.strictObject({
  etag: z.string(),
  size: z.number().int(),
  gzip: z.number().int(),
  br: z.number().int(),
});

/**
 * `hub-bundle.json`, written by `hub build` beside `v1/` and `assets/`: what the servers need to
 * answer without reading every document (ETags, sizes) and to serve archives (sha256, size).
 */
export const bundleManifestSchema = z.strictObject({
  schema_version: z.literal('1'),
  generated_at: z.string(),
  /** By path under the build, e.g. `v1/index.json`; each has `<path>.gz` and `<path>.br` beside it. */
  documents: z.record(z.string(), bundleDocumentSchema),
  /** By path under the build, e.g. `assets/plugins/fft-1.1.0.mpn`. */
  archives: z.record(z.string(), z.strictObject({ sha256: z.string(), size: z.number().int() })),
});
export type BundleManifest = z.infer<typeof bundleManifestSchema>;
export type BundleDocument = z.infer<typeof bundleDocumentSchema>;
