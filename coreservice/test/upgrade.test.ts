// Upgrade and downgrade against the real hub server; an interrupted upgrade leaves the old version.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepoCatalog } from '../../functions/test/harness';
import { startNode, type TestServer } from '../../functions/test/servers';
import type { InstallError } from '../src/errors';
import { installFromHub, readReceipt } from '../src/install';
import { listUpgrades, upgradeFromHub } from '../src/upgrade';

let build: Awaited<ReturnType<typeof buildRepoCatalog>>;
let hub: TestServer;
const scratch = mkdtempSync(join(tmpdir(), 'coreservice-upgrade-'));
beforeAll(async () => {
  build = await buildRepoCatalog();
  hub = await startNode(build.dir);
}, 120_000);
afterAll(async () => {
  await hub?.close();
  build?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

let n = 0;
const fresh = () => mkdtempSync(join(scratch, `plugins-${n++}-`));
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const abs = join(dir, name);
    out[relative(dir, abs)] = statSync(abs).isDirectory()
      ? 'dir'
      : createHash('sha256').update(readFileSync(abs)).digest('hex');
  }
  return out;
}
const code = async (p: Promise<unknown>) =>
  (
    (await p.then(
      () => undefined,
      (e: unknown) => e,
    )) as InstallError | undefined
  )?.code;

describe('upgrade and downgrade', () => {
  it('lists versions against the installed one, upgrades, refuses a downgrade without the flag, does it with', async () => {
    const dir = fresh();
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    const choices = await listUpgrades({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'fft',
      sdkVersion: '2.1.0',
    });
    expect(choices.installed).toBe('1.0.0');
    expect(choices.versions.find((v) => v.version === '1.1.0')).toMatchObject({
      verdict: 'upgrade',
      yanked: false,
    });
    expect(choices.versions.find((v) => v.version === '1.0.0')?.verdict).toBe('same');

    const up = await upgradeFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft' });
    expect([up.from.version, up.to.version]).toEqual(['1.0.0', '1.1.0']);
    expect(readdirSync(join(dir, 'fft')).sort()).toEqual(['1.1.0', 'receipt.json']);

    expect(
      await code(upgradeFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', to: '1.0.0' })),
    ).toBe('not-newer');
    expect(readReceipt(dir, 'fft')?.version).toBe('1.1.0');
    const down = await upgradeFromHub({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'fft',
      to: '1.0.0',
      forceDowngrade: true,
    });
    expect(down.to.version).toBe('1.0.0');
    expect(readdirSync(join(dir, 'fft')).sort()).toEqual(['1.0.0', 'receipt.json']);
    expect(
      await code(upgradeFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', to: '1.0.0' })),
    ).toBe('already-installed');
    expect(await code(upgradeFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'topaz' }))).toBe(
      'not-found',
    );
  });

  it('a failed upgrade (checksum mismatch) leaves the old version installed and the dir unchanged', async () => {
    const dir = fresh();
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    const before = snapshot(dir);
    const doc = readFileSync(join(build.dir, 'v1/plugins/fft.json'));
    const liar = createServer((req, res) => {
      if (req.url === '/v1/plugins/fft.json') return res.writeHead(200).end(doc);
      const bytes = Buffer.from(readFileSync(join(build.dir, 'assets/plugins/fft-1.1.0.mpn')));
      bytes[200] = (bytes[200]! + 1) % 256;
      res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(liar.address() as { port: number }).port}`;
      expect(await code(upgradeFromHub({ pluginsDir: dir, hubs: [url], pluginId: 'fft' }))).toBe(
        'checksum-mismatch',
      );
    } finally {
      liar.close();
    }
    expect(snapshot(dir)).toEqual(before);
    expect(existsSync(join(dir, 'fft', '1.0.0', 'manifest.yaml'))).toBe(true);
  });
});
