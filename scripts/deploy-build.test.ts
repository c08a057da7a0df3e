// deploy.yml's build script (infra/tuf/deploy-build.sh) as CI runs it: keys from the environment,
// the root metadata from a committed dir, the versions continuing from the published hub (served
// here by the hub's own Node server on 127.0.0.1), the top-level targets key needed only once.
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTufKeys } from '@magellon/hub-core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { startNode } from '../functions/test/servers';

const REPO = join(import.meta.dirname, '..');
const SCRIPT = join(REPO, 'infra', 'tuf', 'deploy-build.sh');
const scratch = mkdtempSync(join(tmpdir(), 'deploy-build-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const keys = join(scratch, 'keys');
generateTufKeys(keys);
const roots = join(scratch, 'committed-roots');
mkdirSync(roots);
writeFileSync(join(roots, '1.root.json'), readFileSync(join(keys, 'root', '1.root.json')));
const keyText = (role: string) =>
  readFileSync(join(keys, readdirSync(keys).find((f) => f.startsWith(`${role}-`))!), 'utf8');

/** Runs the script (asynchronously: the published hub answers from this process meanwhile). */
function deployBuild(
  out: string,
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(TUF_|HUB_PUBLIC_URL|HUB_TUF_)/.test(k)),
  );
  return new Promise((resolve) => {
    const child = spawn('bash', [SCRIPT, out], {
      cwd: REPO,
      timeout: 120_000,
      env: { ...clean, HUB_TUF_ROOT_DIR: roots, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
const signed = (file: string) => JSON.parse(readFileSync(file, 'utf8')).signed;
const online = () => ({
  TUF_SNAPSHOT_KEY: keyText('snapshot'),
  TUF_TIMESTAMP_KEY: keyText('timestamp'),
  TUF_HUB_KEY: keyText('hub'),
});

describe('infra/tuf/deploy-build.sh', () => {
  it('signs the first build with the targets key, then continues from the published hub without it', async () => {
    const first = join(scratch, 'dist-1');
    const r1 = await deployBuild(first, { ...online(), TUF_TARGETS_KEY: keyText('targets') });
    expect(r1.status, r1.stdout + r1.stderr).toBe(0);
    expect(signed(join(first, 'tuf/metadata/timestamp.json')).version).toBe(1);
    const published = await startNode(first);
    try {
      const second = join(scratch, 'dist-2');
      const r2 = await deployBuild(second, { ...online(), HUB_PUBLIC_URL: published.url });
      expect(r2.status, r2.stdout + r2.stderr).toBe(0);
      expect(r2.stdout).toContain('continuing from the published timestamp');
      expect(signed(join(second, 'tuf/metadata/timestamp.json')).version).toBe(2);
      // The offline targets key was not there: the published top-level targets is reused as it is.
      expect(readFileSync(join(second, 'tuf/metadata/1.targets.json'))).toEqual(
        readFileSync(join(first, 'tuf/metadata/1.targets.json')),
      );
      // No key file is left behind anywhere in the output.
      expect(readdirSync(second, { recursive: true }).some((f) => String(f).endsWith('.key.json'))).toBe(
        false,
      );
    } finally {
      await published.close();
    }
  }, 240_000);

  it('without the online keys builds unsigned and says so; a published hub that errs stops it', async () => {
    const plain = join(scratch, 'dist-plain');
    const r = await deployBuild(plain, {});
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/building UNSIGNED/);
    expect(existsSync(join(plain, 'tuf'))).toBe(false);
    const broken = createServer((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (broken.address() as { port: number }).port;
      const out = join(scratch, 'dist-broken');
      const bad = await deployBuild(out, { ...online(), HUB_PUBLIC_URL: `http://127.0.0.1:${port}` });
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/answered 500; refusing to restart the versions/);
      expect(existsSync(out)).toBe(false);
    } finally {
      broken.close();
    }
  }, 240_000);
});
