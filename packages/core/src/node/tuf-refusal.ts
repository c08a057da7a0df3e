// Which TUF attack a tuf-js failure is, for every client of signed hub metadata (CoreService's
// registries, `hub mirror`): one reading of tuf-js's errors, so both name a refusal alike.
import { BadVersionError, DownloadLengthMismatchError, ExpiredMetadataError } from 'tuf-js/dist/error';

/** expired: a freeze; rollback: older than what was verified; unsigned: not the trusted keys; mismatch: mix-and-match. */
export type TufRefusalKind = 'expired' | 'rollback' | 'unsigned' | 'mismatch';

/**
 * Which refusal a tuf-js error is, or undefined when it is none (then it is rethrown). tuf-js wraps
 * what goes wrong while loading snapshot and targets in a RuntimeError whose message carries the
 * inner error's (its classes set no name), so the inner messages of @tufjs/models and tuf-js's
 * trusted store are recognised too.
 */
export function tufRefusalKind(err: unknown): TufRefusalKind | undefined {
  if (err instanceof ExpiredMetadataError) return 'expired';
  if (err instanceof BadVersionError) return 'rollback';
  if (err instanceof DownloadLengthMismatchError) return 'mismatch';
  const name = (err as Error)?.constructor?.name ?? '';
  if (name === 'UnsignedMetadataError') return 'unsigned';
  if (name === 'LengthOrHashMismatchError') return 'mismatch';
  const message = String((err as Error)?.message ?? err);
  if (/\bis expired\b/.test(message)) return 'expired';
  if (/less than current version|does not match snapshot version|doesn't match timestamp/.test(message))
    return 'rollback';
  if (/was signed by \d+\/\d+ keys/.test(message)) return 'unsigned';
  if (/Expected (length|hash) |Max length reached/.test(message)) return 'mismatch';
  if (
    name === 'RepositoryError' ||
    name === 'ValueError' ||
    name === 'RuntimeError' ||
    err instanceof SyntaxError
  )
    return 'unsigned';
  return undefined;
}
