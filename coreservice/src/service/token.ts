// The admin token: whoever holds it can install and run code on this host, so a guessable one is
// refused before the service listens.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The least a token must carry, by the estimate below. */
export const MIN_TOKEN_BITS = 128;
const MIN_DISTINCT_CHARS = 10;

/**
 * An upper estimate of a token's entropy: its length times log2 of the pool of the character
 * classes it uses (lower case, upper case, digits, other ASCII, anything else). A token with
 * fewer than ten distinct characters ("aaaa…", "abab…") counts as none, however long.
 */
export function tokenBits(token: string): number {
  const chars = [...token];
  if (new Set(chars).size < MIN_DISTINCT_CHARS) return 0;
  let pool = 0;
  if (/[a-z]/.test(token)) pool += 26;
  if (/[A-Z]/.test(token)) pool += 26;
  if (/[0-9]/.test(token)) pool += 10;
  if (/[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/.test(token)) pool += 32;
  if (/[^\x21-\x7e]/u.test(token)) pool += 100;
  return pool === 0 ? 0 : chars.length * Math.log2(pool);
}

/** Why a token may not guard the admin API, or undefined when it may. */
export function weakTokenReason(token: string, where: string): string | undefined {
  if (/\s/.test(token)) return `the admin token in ${where} contains white space`;
  const bits = tokenBits(token);
  if (bits >= MIN_TOKEN_BITS) return undefined;
  return `the admin token in ${where} is too easy to guess (about ${Math.floor(bits)} bits; at least ${MIN_TOKEN_BITS} are needed): use 32 random bytes, e.g. \`openssl rand -base64 32\`, or leave it unset and CoreService makes one`;
}

/** A new token: 32 random bytes (256 bits), base64url. */
export const newToken = () => randomBytes(32).toString('base64url');

/** Compares a presented token with the expected one in constant time, whatever their lengths. */
export function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}
