import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsStore } from '../src/storage/fs';
import { StoreError } from '../src/storage/store';
import { describeStoreContract } from './storage-contract';

describeStoreContract('fs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-fs-store-'));
  return { store: createFsStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('fs store, what only a directory can do wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-fs-store-hostile-'));
  const outside = mkdtempSync(join(tmpdir(), 'hub-fs-store-outside-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  const store = createFsStore(dir);

  it('never reads through a link out of its root', async () => {
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync(join(outside, 'secret'), join(dir, 'leak'));
    await expect(store.get('leak')).rejects.toBeInstanceOf(StoreError);
    mkdirSync(join(dir, 'v1'));
    symlinkSync(outside, join(dir, 'v1', 'out'));
    await expect(store.get('v1/out/secret')).rejects.toBeInstanceOf(StoreError);
    await expect(
      store.put('v1/out/new', Buffer.from('x'), {
        sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
      }),
    ).rejects.toBeInstanceOf(StoreError);
    expect(readdirSync(outside)).toEqual(['secret']);
  });

  it('refuses a FIFO without hanging', async () => {
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    await expect(store.get('pipe')).rejects.toBeInstanceOf(StoreError);
    expect(await store.head('pipe')).toBeUndefined();
  });

  it('replaces atomically, leaving no temp files, and says so when the root is missing', async () => {
    const bytes = Buffer.from('abc');
    const sha = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    await store.put('v1/atomic.json', bytes, { sha256: sha });
    await store.put('v1/atomic.json', Buffer.from('abc'), { sha256: sha });
    expect(readdirSync(join(dir, 'v1')).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    const missing = createFsStore(join(dir, 'no-such-root'));
    const err = await missing.head('x').catch((e: unknown) => e);
    expect((err as StoreError).code).toBe('no-bucket');
    expect((err as StoreError).message).toContain('no-such-root');
  });
});
