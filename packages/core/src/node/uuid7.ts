import { createHash, randomBytes } from 'node:crypto';

/**
 * A UUID v7 (RFC 9562): 48 bits of Unix milliseconds, then 74 bits that are random,
 * or — when `seed` is given — taken from sha256(seed), so a reproducible build gets a
 * reproducible id that still sorts by time.
 */
export function uuidV7(timeMs: number, seed?: string): string {
  const bytes = Buffer.alloc(16);
  const ms = BigInt(Math.max(0, Math.floor(timeMs)));
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  const tail =
    seed === undefined ? randomBytes(10) : createHash('sha256').update(seed).digest().subarray(0, 10);
  tail.copy(bytes, 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
