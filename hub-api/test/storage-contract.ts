// ONE contract every store driver keeps (fs, s3, r2): run by storage-*.test.ts against each.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ObjectStore, StoreError } from '../src/storage/store';

export interface StoreUnderTest {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const text = async (body: ReadableStream<Uint8Array>) => Buffer.from(await new Response(body).arrayBuffer());
const expectStoreError = async (p: Promise<unknown>, code: StoreError['code']) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected StoreError ${code}`).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  return err as StoreError;
};

/** The contract. `setup` gives a fresh, empty store (its own bucket or dir); `cleanup` removes it. */
export function describeStoreContract(name: string, setup: () => Promise<StoreUnderTest | undefined>): void {
  describe(`${name} store: the ObjectStore contract`, () => {
    let sut: StoreUnderTest | undefined;
    beforeAll(async () => {
      sut = await setup();
    }, 600_000); // the first S3 run may install Swift (about a minute)
    afterAll(async () => {
      await sut?.cleanup();
    });
    const store = () => sut!.store;
    const run = (title: string, fn: () => Promise<void>) =>
      it(title, async (ctx) => {
        if (!sut) return ctx.skip();
        await fn();
      });

    run('puts, heads and gets an object, recording its sha256 and content type', async () => {
      const bytes = Buffer.from('{"hello":"store"}\n');
      expect(
        await store().put('v1/doc.json', bytes, { sha256: sha256(bytes), contentType: 'application/json' }),
      ).toBe('created');
      const head = await store().head('v1/doc.json');
      expect(head).toMatchObject({
        key: 'v1/doc.json',
        size: bytes.length,
        sha256: sha256(bytes),
        contentType: 'application/json',
      });
      const got = await store().get('v1/doc.json');
      expect(got?.size).toBe(bytes.length);
      expect((await text(got!.body)).equals(bytes)).toBe(true);
    });

    run('round-trips every byte value and a 5 MiB random object exactly', async () => {
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = randomBytes(5 * 1024 * 1024);
      for (const [key, bytes] of [
        ['bin/all-bytes', all],
        ['bin/big.mpn', big],
      ] as const) {
        await store().put(key, bytes, { sha256: sha256(bytes) });
        const got = await store().get(key);
        expect(sha256(await text(got!.body)), key).toBe(sha256(bytes));
      }
    });

    run('serves exactly the bytes of a range', async () => {
      const bytes = randomBytes(100_000);
      await store().put('bin/ranged', bytes, { sha256: sha256(bytes) });
      for (const [offset, length] of [
        [0, 1],
        [0, 100_000],
        [12_345, 6_789],
        [99_999, 1],
      ] as const) {
        const got = await store().get('bin/ranged', { offset, length });
        expect(got?.range).toEqual({ offset, length });
        expect(got?.size).toBe(100_000);
        expect(
          (await text(got!.body)).equals(bytes.subarray(offset, offset + length)),
          `${offset}+${length}`,
        ).toBe(true);
      }
    });

    run('answers undefined for what is not there, and deleting it twice is fine', async () => {
      expect(await store().head('nothing/here.json')).toBeUndefined();
      expect(await store().get('nothing/here.json')).toBeUndefined();
      const bytes = Buffer.from('gone soon');
      await store().put('tmp/gone', bytes, { sha256: sha256(bytes) });
      await store().delete('tmp/gone');
      await store().delete('tmp/gone');
      expect(await store().head('tmp/gone')).toBeUndefined();
    });

    run(
      'skips a put of the same bytes, replaces documents, and never replaces an immutable object',
      async () => {
        const a = Buffer.from('version A');
        const b = Buffer.from('version B');
        expect(
          await store().put('assets/plugins/x-1.0.0.mpn', a, { sha256: sha256(a), immutable: true }),
        ).toBe('created');
        expect(
          await store().put('assets/plugins/x-1.0.0.mpn', a, { sha256: sha256(a), immutable: true }),
        ).toBe('unchanged');
        const conflict = await expectStoreError(
          store().put('assets/plugins/x-1.0.0.mpn', b, { sha256: sha256(b), immutable: true }),
          'conflict',
        );
        expect(conflict.message).toContain('assets/plugins/x-1.0.0.mpn');
        expect((await text((await store().get('assets/plugins/x-1.0.0.mpn'))!.body)).equals(a)).toBe(true);
        expect(await store().put('v1/index.json', a, { sha256: sha256(a) })).toBe('created');
        expect(await store().put('v1/index.json', b, { sha256: sha256(b) })).toBe('replaced');
        expect((await text((await store().get('v1/index.json'))!.body)).equals(b)).toBe(true);
      },
    );

    run('refuses bytes that do not have the sha256 given for them, writing nothing', async () => {
      const bytes = Buffer.from('honest bytes');
      await expectStoreError(store().put('tmp/lie', bytes, { sha256: sha256(Buffer.from('other')) }), 'io');
      expect(await store().head('tmp/lie')).toBeUndefined();
    });

    run('refuses keys that could escape the store or mean different things to different stores', async () => {
      const bytes = Buffer.from('x');
      const bad = [
        '../x',
        '/abs',
        'a//b',
        'a/./b',
        'a/../b',
        '.hidden',
        'a/',
        '',
        'a b',
        'a\u0000b',
        'a\\b',
        '%2e%2e/x',
        'x'.repeat(513),
      ];
      for (const key of bad) {
        await expectStoreError(store().put(key, bytes, { sha256: sha256(bytes) }), 'bad-key');
        await expectStoreError(store().get(key), 'bad-key');
        await expectStoreError(store().head(key), 'bad-key');
        await expectStoreError(store().delete(key), 'bad-key');
      }
    });

    run('lists by prefix, sorted, with sizes, and only objects', async () => {
      for (const k of ['list/b', 'list/a', 'list/sub/c', 'listed-elsewhere']) {
        const bytes = Buffer.from(k);
        await store().put(k, bytes, { sha256: sha256(bytes) });
      }
      const listed = await store().list('list/');
      expect(listed.map((o) => o.key)).toEqual(['list/a', 'list/b', 'list/sub/c']);
      expect(listed.map((o) => o.size)).toEqual([6, 6, 10]);
    });
  });
}
