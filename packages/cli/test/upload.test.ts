// `hub upload` into a local mirror (the S3 path runs against real Swift in hub-api/test).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runHub } from './run-hub';

const scratch = mkdtempSync(join(tmpdir(), 'hub-upload-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('hub upload', () => {
  const build = join(scratch, 'dist');
  const mirror = join(scratch, 'mirror');

  it('sends everything once, then nothing, and refuses to change a published archive', () => {
    expect(runHub(['build', 'catalog', '--out', build]).code).toBe(0);
    const first = runHub(['upload', build, '--to-dir', mirror]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/✔ fs:.*: (\d+) new, 0 replaced, 0 already there/);
    const again = runHub(['upload', build, '--to-dir', mirror]);
    expect(again.stdout).toMatch(/: 0 new, 0 replaced, \d+ already there; sent 0\.0 MiB/);
    expect(
      readFileSync(join(mirror, 'v1/index.json')).equals(readFileSync(join(build, 'v1/index.json'))),
    ).toBe(true);

    // Someone publishes different bytes under a name the mirror already has.
    const mpn = 'assets/plugins/fft-1.1.0.mpn';
    const published = readFileSync(join(mirror, mpn));
    const other = readFileSync(join(build, 'assets/plugins/ctf-1.0.0.mpn'));
    const rebuilt = join(scratch, 'rebuilt');
    expect(runHub(['build', 'catalog', '--out', rebuilt]).code).toBe(0);
    writeFileSync(join(rebuilt, mpn), other);
    const refused = runHub(['upload', rebuilt, '--to-dir', mirror]);
    expect(refused.code).toBe(1);
    // The build's own check catches it first (the manifest's sha256 no longer matches)…
    expect(refused.stderr).toContain(`upload stopped at ${mpn}`);
    expect(readFileSync(join(mirror, mpn)).equals(published)).toBe(true);

    // …and the store refuses when it already holds other bytes under that name.
    writeFileSync(join(mirror, mpn), other);
    rmSync(join(mirror, '.hub-meta', `${mpn}.json`));
    const conflict = runHub(['upload', build, '--to-dir', mirror]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain(
      `already holds ${mpn} with different bytes; a published archive never changes`,
    );
    expect(readFileSync(join(mirror, mpn)).equals(other)).toBe(true);
  });

  it('explains what is missing or wrong in the command line', () => {
    expect(runHub(['upload', join(scratch, 'nowhere'), '--to-dir', mirror]).stderr).toContain(
      'is not a hub build',
    );
    for (const args of [
      [build],
      [build, '--bucket', 'Bad_Name'],
      [build, '--bucket', 'ok-bucket', '--to-dir', mirror],
      [build, '--bucket', 'ok-bucket', '--endpoint', 'ftp://x'],
    ]) {
      const r = runHub(['upload', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
    }
  });
});
