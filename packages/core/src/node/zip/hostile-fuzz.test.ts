import { access, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildYazlZip, extractZip, hashZip, makeTempDir, scanZip } from '@magellon/hub-core/test-support';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipError } from './index';

const SETTLE_MS = 5_000;

type Mutation =
  | { kind: 'overwrite'; at: number; bytes: number[] }
  | { kind: 'boundary'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; from: number; length: number; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: fc.nat(),
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
  }),
  // Values that stress size, offset and count fields.
  fc.record({
    kind: fc.constant('boundary' as const),
    at: fc.nat(),
    value: fc.constantFrom(
      0,
      1,
      0x7f,
      0xff,
      0xffff,
      0x7fffffff,
      0xffffffff,
      0x100000,
      0x04034b50,
      0x02014b50,
    ),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    from: fc.nat(),
    length: fc.nat({ max: 200 }),
    at: fc.nat(),
  }),
);

function mutate(original: Buffer, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(original);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    if (m.kind === 'overwrite') {
      m.bytes.forEach((b, i) => {
        if (at + i < bytes.length) bytes[at + i] = b;
      });
    } else if (m.kind === 'boundary') {
      const field = Buffer.alloc(4);
      field.writeUInt32LE(m.value >>> 0);
      field.copy(bytes, at, 0, Math.min(4, bytes.length - at));
    } else if (m.kind === 'truncate') {
      bytes = bytes.subarray(0, at);
    } else {
      const from = m.from % bytes.length;
      const slice = bytes.subarray(from, from + m.length);
      bytes = Buffer.concat([bytes.subarray(0, at), slice, bytes.subarray(at)]);
    }
  }
  return bytes;
}

/** Resolves to the outcome, or fails the test if the operation neither resolves nor rejects in time. */
async function settle<T>(
  run: Promise<T>,
  what: string,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${SETTLE_MS} ms`)), SETTLE_MS);
  });
  try {
    return await Promise.race([
      run.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function expectZipErrorIfRejected(outcome: { ok: boolean; error?: unknown }): void {
  if (!outcome.ok) expect(outcome.error).toBeInstanceOf(ZipError);
}

async function exists(target: string): Promise<boolean> {
  return access(target).then(
    () => true,
    () => false,
  );
}

describe('mutated archives', () => {
  let dir: string;
  let bases: Buffer[];
  let run = 0;

  beforeAll(async () => {
    dir = await makeTempDir();
    const files = [
      { name: 'manifest.yaml', data: Buffer.from('id: demo\nversion: 1.0.0\n') },
      { name: 'bin/run.sh', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o100755, compress: false },
      { name: 'lib/x/y.txt', data: Buffer.from('lorem ipsum '.repeat(250)) },
      { name: 'empty/', directory: true },
    ];
    bases = [await buildYazlZip(files), await buildYazlZip(files, { forceZip64Format: true })];
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolve or reject with a ZipError, promptly, and never leave a partial extraction', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        async (baseIndex, mutations) => {
          run += 1;
          const file = path.join(dir, `case-${run}.mpn`);
          const dest = path.join(dir, `out-${run}`);
          await writeFile(file, mutate(bases[baseIndex] ?? Buffer.alloc(0), mutations));

          expectZipErrorIfRejected(await settle(scanZip(file), 'scanZip'));
          expectZipErrorIfRejected(await settle(hashZip(file), 'hashZip'));
          const extracted = await settle(extractZip(file, dest), 'extractZip');
          expectZipErrorIfRejected(extracted);
          if (!extracted.ok) expect(await exists(dest)).toBe(false);

          await rm(dest, { recursive: true, force: true });
          await rm(file, { force: true });
        },
      ),
      { numRuns: 200 },
    );
  });
});
