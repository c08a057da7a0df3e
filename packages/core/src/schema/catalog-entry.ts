import { z } from 'zod';
import {
  httpsUrl,
  isHttpsUrl,
  isoDateTime,
  lineText,
  paragraphText,
  sdkRange,
  semverString,
  sha256Hex,
  slug,
  spdxLicense,
  uuidV7,
} from './primitives';

/** Where an archive lives: a hub-relative path (`/assets/plugins/x.mpn`) or an absolute https URL. */
export const archiveUrl = z
  .string()
  .refine(
    (s) =>
      /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]+$/.test(s) && !s.includes('//') && !/(^|\/)\.\.?(\/|$)/.test(s)
        ? true
        : isHttpsUrl(s),
    'archive.url must be hub-relative like /assets/plugins/fft-1.1.0.mpn or an absolute https:// URL',
  );

export const archiveRef = z.strictObject({
  url: archiveUrl,
  sha256: sha256Hex,
  size_bytes: z.int('size_bytes must be a whole number of bytes').positive('size_bytes must be positive'),
});

export const tier = z.enum(['verified', 'community'], {
  message: 'tier must be "verified" or "community"',
});

/** One published plugin version: the file `catalog/plugins/<plugin_id>/<version>.yaml`. */
export const catalogEntrySchema = z.strictObject({
  plugin_id: slug('plugin_id'),
  version: semverString,
  name: lineText().trim().min(1, 'name must not be empty').max(200),
  description: paragraphText().trim().min(1, 'description must not be empty').max(5000),
  category: slug('category'),
  backend_id: slug('backend_id').optional(),
  author: lineText().trim().min(1, 'author must not be empty').max(200),
  license: spdxLicense,
  homepage: httpsUrl.optional(),
  tier,
  tags: z.array(slug('each tag')).max(30, 'at most 30 tags').default([]),
  requires_sdk: sdkRange,
  published_at: isoDateTime,
  archive: archiveRef,
  archive_id: uuidV7,
  yanked: z
    .strictObject({ reason: paragraphText().trim().min(1, 'yanked.reason must say why'), at: isoDateTime })
    .optional(),
  deprecated: z
    .strictObject({
      reason: paragraphText().trim().min(1, 'deprecated.reason must say why'),
      replacement: slug('deprecated.replacement').optional(),
    })
    .optional(),
});

export type CatalogEntry = z.infer<typeof catalogEntrySchema>;
export type CatalogEntryInput = z.input<typeof catalogEntrySchema>;
export type Tier = z.infer<typeof tier>;

/** The tier of an entry published by someone who is not a maintainer (and of lint's would-be entry). */
export const DEFAULT_TIER: Tier = 'community';
