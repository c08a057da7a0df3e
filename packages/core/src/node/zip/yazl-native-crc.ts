import { crc32 } from 'node:zlib';
import * as bufferCrc32 from 'buffer-crc32';

type Unsigned = ((buf: unknown, previous?: unknown) => number) & { native?: true };

/**
 * yazl checksums every entry with buffer-crc32, a byte-at-a-time JavaScript loop about 15× slower
 * than zlib's native crc32 (the largest CPU cost of packing big stored files). Same polynomial,
 * same results: calls with a Buffer and a numeric running value go to zlib, anything else to the
 * original. The module object is the one yazl itself requires (also inside the compiled bundle,
 * where both resolve to one copy), so yazl sees the faster function. Every packed archive's CRCs
 * are checked again by verifyArchive.
 *
 * Why a patch: yazl (3.3.1, the latest) has no option to pass a precomputed CRC or a CRC function;
 * it calls buffer-crc32 from inside its stream pipeline and addBuffer. The alternatives are an npm
 * `overrides` swap of buffer-crc32 for every consumer, or a zip writer of our own that must match
 * yazl's bytes exactly (hub pack is reproducible); neither is smaller than this one wrapper.
 */
export function useNativeCrc32ForYazl(): void {
  // The CommonJS exports object itself (namespace imports of CommonJS are read-only views).
  const namespace = bufferCrc32 as unknown as { default?: { unsigned: Unsigned }; unsigned: Unsigned };
  const module = namespace.default ?? namespace;
  if (module.unsigned.native) return;
  const original = module.unsigned;
  const fast = (buf: unknown, previous?: unknown) =>
    Buffer.isBuffer(buf) && (previous === undefined || typeof previous === 'number')
      ? crc32(buf, previous ?? 0)
      : original(buf, previous);
  module.unsigned = Object.assign(fast, { native: true as const });
}
