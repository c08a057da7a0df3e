import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  baseCases,
  extractZip,
  type HostileCase,
  hashZip,
  layoutCases,
  makeTempDir,
  nameCases,
  scanZip,
} from '@magellon/hub-core/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { ZipError } from './index';

const cases: HostileCase[] = [...baseCases, ...layoutCases, ...nameCases];

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function rejectionOf(promise: Promise<unknown>): Promise<ZipError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(ZipError);
  return outcome as ZipError;
}

/** Every path under `dir`, so anything written anywhere in the sandbox shows up. */
async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

describe.each(cases)('$title', ({ bytes, code, caughtBy, limits }) => {
  async function setup() {
    const dir = await makeTempDir();
    dirs.push(dir);
    const file = path.join(dir, 'plugin.mpn');
    await writeFile(file, bytes());
    // Destination two levels down, so "../evil" and "../../evil" would both land inside the sandbox.
    await mkdir(path.join(dir, 'work'));
    return { dir, file, dest: path.join(dir, 'work', 'out') };
  }

  it(
    caughtBy === 'scan' ? `scanZip rejects with ${code}` : 'scanZip accepts the central directory',
    async () => {
      const { file } = await setup();
      if (caughtBy === 'scan') {
        const err = await rejectionOf(scanZip(file, limits));
        expect(err.code).toBe(code);
        expect(err.file).toBe(file);
        expect(err.message).toMatch(new RegExp(`^${code}: `));
      } else {
        await expect(scanZip(file, limits)).resolves.toBeInstanceOf(Array);
      }
    },
  );

  it(`hashZip rejects with ${code}`, async () => {
    const { file } = await setup();
    expect((await rejectionOf(hashZip(file, limits))).code).toBe(code);
  });

  it(`extractZip rejects with ${code} and leaves nothing behind`, async () => {
    const { dir, file, dest } = await setup();
    const before = await listing(dir);
    expect((await rejectionOf(extractZip(file, dest, limits))).code).toBe(code);
    expect(await listing(dir)).toEqual(before);
  });

  it(`extractZip into an existing empty directory leaves it empty`, async () => {
    const { dir, file, dest } = await setup();
    await mkdir(dest);
    const before = await listing(dir);
    expect((await rejectionOf(extractZip(file, dest, limits))).code).toBe(code);
    expect(await listing(dir)).toEqual(before);
  });
});
