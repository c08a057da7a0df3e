import parseSpdx from 'spdx-expression-parse';
import { z } from 'zod';
import { MULTI_LINE_TEXT, SINGLE_LINE_TEXT } from '../text/display-text';
import { remembered } from '../text/remembered';
import { checkSdkRange } from '../versions/sdk-range';
import { isSemver } from '../versions/semver';

/** The shared shapes every schema builds on; each carries the message an author sees. */
export const SLUG_PATTERN = /^[a-z0-9._-]+$/;
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
export const UUID_V7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** One line of text shown to people: no control or bidirectional characters (text/display-text.ts). */
export const lineText = () =>
  z.string().regex(SINGLE_LINE_TEXT, 'must not hold control or bidirectional characters');

/** Text of several lines shown to people: tab and newline allowed, other controls and bidi characters not. */
export const paragraphText = () =>
  z
    .string()
    .regex(MULTI_LINE_TEXT, 'must not hold control or bidirectional characters (tab and newline aside)');

export const slug = (what: string) =>
  z
    .string()
    .regex(SLUG_PATTERN, `${what} must be a lowercase slug: letters a-z, digits, ".", "_" or "-"`)
    .max(100, `${what} must be at most 100 characters`)
    .refine((s) => s !== '.' && s !== '..', `${what} cannot be "." or ".."`);

export const semverString = z
  .string('a version must be SemVer such as "1.0.0" (quoted)')
  .refine(isSemver, 'version must be SemVer such as 1.2.0 or 1.3.0-rc.1 (no "v" prefix)');

export const sha256Hex = z.string().regex(SHA256_PATTERN, 'sha256 must be 64 lowercase hex characters');

export const uuidV7 = z
  .string()
  .regex(UUID_V7_PATTERN, 'archive_id must be a lowercase UUID v7 (hub pack writes one into the manifest)');

export const sdkRange = z.string().superRefine((range, ctx) => {
  const problem = checkSdkRange(range);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const isoDateTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO 8601 date-time such as 2025-06-01T12:00:00Z',
});

/** Whether `s` is an SPDX license expression. */
export const isSpdxExpression = remembered((s: string): boolean => {
  try {
    parseSpdx(s);
    return true;
  } catch {
    return false;
  }
});

/** Whether `s` is an absolute https URL. */
export const isHttpsUrl = remembered((s: string) => URL.canParse(s) && new URL(s).protocol === 'https:');

export const spdxLicense = z
  .string()
  .refine(isSpdxExpression, 'license must be an SPDX identifier or expression such as MIT or Apache-2.0');

export const httpsUrl = lineText().refine(isHttpsUrl, 'must be an absolute https:// URL');
