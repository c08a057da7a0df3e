import type { ArchiveManifest } from '../schema/archive-manifest';

/**
 * The text `hub scaffold`'s plugin template puts into a manifest for its author to replace. The
 * template renders these very strings (`{{description}}`, and `{{author}}` when neither --author nor
 * $USER says who), so lint recognises an untouched scaffold by exact text that cannot drift from
 * the template's (lint.placeholder).
 */
export const TEMPLATE_PLACEHOLDERS = {
  description: 'Describe in a sentence or two what this plugin computes and from what input.',
  author: 'Plugin Author',
} as const satisfies Partial<Record<keyof ArchiveManifest, string>>;

export type PlaceholderField = keyof typeof TEMPLATE_PLACEHOLDERS;
