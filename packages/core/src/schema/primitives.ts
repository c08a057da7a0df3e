import parseSpdx from 'spdx-expression-parse';
import { z } from 'zod';
import { checkSdkRange } from '../versions/sdk-range';
import { isSemver } from '../versions/semver';

/** The shared shapes every schema builds on; each carries the message an author sees. */
export const SLUG_PATTERN = /^[a-z0-9._-]+$/;
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
export const UUID_V7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const slug = (what: string) =>
  z
    .string()
    .regex(SLUG_PATTERN, `${what} must be a lowercase slug: letters a-z, digits, ".", "_" or "-"`)
    .max(100, `${what} must be at most 100 characters`)
    .refine((s) => s !== '.' && s !== '..', `${what} cannot be "." or ".."`);

export const semverString = z
  .string()
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

const spdxVerdicts = new Map<string, boolean>();

/** Whether `s` is an SPDX license expression; verdicts are remembered, since catalogs repeat a few licenses. */
export function isSpdxExpression(s: string): boolean {
  let ok = spdxVerdicts.get(s);
  if (ok === undefined) {
    try {
      parseSpdx(s);
      ok = true;
    } catch {
      ok = false;
    }
    if (spdxVerdicts.size >= 4096) spdxVerdicts.clear();
    spdxVerdicts.set(s, ok);
  }
  return ok;
}

export const spdxLicense = z
  .string()
  .refine(isSpdxExpression, 'license must be an SPDX identifier or expression such as MIT or Apache-2.0');

export const httpsUrl = z
  .string()
  .refine((s) => URL.canParse(s) && new URL(s).protocol === 'https:', 'must be an absolute https:// URL');
