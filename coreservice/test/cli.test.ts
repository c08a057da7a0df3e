// The compiled `coreservice` command against the real hub server on 127.0.0.1.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepoCatalog } from '../../functions/test/harness';
import { startNode, type TestServer } from '../../functions/test/servers';

const BIN = join(import.meta.dirname, '..', 'bin', 'coreservice.js');
let build: Awaited<ReturnType<typeof buildRepoCatalog>>;
let hub: TestServer;
const scratch = mkdtempSync(join(tmpdir(), 'coreservice-cli-'));
beforeAll(async () => {
  build = await buildRepoCatalog();
  hub = await startNode(build.dir);
}, 120_000);
afterAll(async () => {
  await hub?.close();
  build?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (the hub it talks to runs in this process). */
const run = (dir: string, ...args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, '--hub', hub.url, '--plugins-dir', dir, ...args], {
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });

describe('coreservice CLI', () => {
  it('installs, lists, upgrades, refuses a downgrade without the flag, uninstalls; --json everywhere', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    expect((await run(dir, 'install', 'fft@1.0.0')).code).toBe(0);
    const list = JSON.parse((await run(dir, 'list', '--json')).stdout);
    expect(list.result.map((r: { version: string }) => r.version)).toEqual(['1.0.0']);
    const up = JSON.parse((await run(dir, 'upgrade', 'fft', '--json')).stdout);
    expect(up.result.to.version).toBe('1.1.0');
    const refused = await run(dir, 'upgrade', 'fft', '--to', '1.0.0', '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'not-newer', status: 400 });
    expect((await run(dir, 'upgrade', 'fft', '--to', '1.0.0', '--force-downgrade')).code).toBe(0);
    expect((await run(dir, 'uninstall', 'fft')).code).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('exit codes: 2 for usage, 1 for a failure with a clear message', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    expect((await run(dir, 'bogus')).code).toBe(2);
    expect((await run(dir, 'install')).code).toBe(2);
    expect((await run(dir, 'install', 'fft', '--nope')).code).toBe(2);
    const missing = await run(dir, 'install', 'no-such-plugin');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no hub has a plugin "no-such-plugin"');
    const json = JSON.parse((await run(dir, 'install', 'fft@9.9.9', '--json')).stdout);
    expect(json).toMatchObject({ ok: false, error: { code: 'not-found', status: 404 } });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('two processes installing the same plugin: one wins, the other exits 3 (busy) or 1 (already installed)', async () => {
    const dir = mkdtempSync(join(scratch, 'p-'));
    const codes = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<number | null>((resolve) => {
            const child = spawn(
              process.execPath,
              [BIN, '--hub', hub.url, '--plugins-dir', dir, 'install', 'topaz'],
              { stdio: 'ignore' },
            );
            child.once('exit', resolve);
          }),
      ),
    );
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    expect([1, 3]).toContain(codes.find((c) => c !== 0));
    expect(readdirSync(dir)).toEqual(['topaz']);
  });
});

function _snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const abs = join(dir, name);
    out[relative(dir, abs)] = statSync(abs).isDirectory()
      ? 'dir'
      : createHash('sha256').update(readFileSync(abs)).digest('hex');
  }
  return out;
}
