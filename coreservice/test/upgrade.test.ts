// Upgrades of a running plugin against a real hub server on 127.0.0.1: the old version serves until
// the new one is healthy, and every failure (download, archive, manifest, health check) leaves the
// plugins dir and the running old version exactly as they were.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildZip } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallError } from '../src/errors';
import { installFromHub, readReceipt, uninstall } from '../src/install';
import { pluginStatus } from '../src/lifecycle';
import { isPluginLocked } from '../src/lock';
import { probeHealth } from '../src/runtime/health';
import { listUpgrades, upgradeFromHub } from '../src/upgrade';
import { ControlledHub, type DeliveryFault, packVariant, withUnlistedFile } from './fixtures';
import { expectFailure, processesOf, repoHubForTests, snapshot, withIdentity } from './helpers';

const { scratch, hub } = repoHubForTests('upgrade');

let n = 0;
const fresh = () => mkdtempSync(join(scratch, `plugins-${n++}-`));

/** The one replica of a plugin: its pid and address, checked healthy. */
async function serving(dir: string, id: string) {
  const s = await pluginStatus(dir, id);
  expect(s.state).toBe('running');
  const r = s.replicas[0]!;
  expect(await probeHealth(r.host!, r.port!, { pluginId: id, version: s.version })).toBe(true);
  return { version: s.version, pid: r.pid!, port: r.port!, host: r.host! };
}

describe('upgrade and downgrade of a running plugin', () => {
  it('install 1.0.0 → upgrade (new healthy, old gone) → downgrade refused, then forced → uninstall --purge leaves no trace', async () => {
    const dir = fresh();
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    const old = await serving(dir, 'fft');
    expect(old.version).toBe('1.0.0');

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
      compatible: true,
    });
    expect(choices.versions.find((v) => v.version === '1.0.0')?.verdict).toBe('same');

    // When the new version has passed its health check (before the switch), the old one still
    // answers: asked synchronously (curl) from inside the progress callback.
    const oldAnswers: string[] = [];
    const up = await upgradeFromHub({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'fft',
      onEvent: (e) => {
        if (e.stage === 'start' || e.stage === 'health') {
          oldAnswers.push(
            execFileSync('curl', ['-sf', `http://${old.host}:${old.port}/health`], { encoding: 'utf8' }),
          );
        }
      },
    });
    expect([up.from.version, up.to.version]).toEqual(['1.0.0', '1.1.0']);
    expect(oldAnswers.map((a) => JSON.parse(a).version)).toEqual(['1.0.0', '1.0.0']);
    const now = await serving(dir, 'fft');
    expect(now.version).toBe('1.1.0');
    expect(now.pid).not.toBe(old.pid);
    expect(await probeHealth(old.host, old.port, { pluginId: 'fft', version: '1.0.0' })).toBe(false);
    expect(processesOf(join(dir, 'fft', 'venvs', '1.0.0'))).toEqual([]);
    expect(readdirSync(join(dir, 'fft')).sort()).toEqual(
      withIdentity(['1.1.0', 'data', 'receipt.json', 'run', 'snapshots', 'state.json', 'venvs']),
    );
    expect(readdirSync(join(dir, 'fft', 'venvs'))).toEqual(['1.1.0']);
    expect(readdirSync(join(dir, 'fft', 'snapshots'))).toEqual([
      expect.stringMatching(/^\d{8}T\d{6}Z-1\.0\.0$/),
    ]);

    const refused = await expectFailure(
      upgradeFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', to: '1.0.0' }),
      'not-newer',
    );
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(/1\.0\.0 is not newer than the installed 1\.1\.0/);
    expect((await serving(dir, 'fft')).pid).toBe(now.pid);

    const down = await upgradeFromHub({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'fft',
      to: '1.0.0',
      forceDowngrade: true,
    });
    expect(down.to.version).toBe('1.0.0');
    expect((await serving(dir, 'fft')).version).toBe('1.0.0');
    await expectFailure(
      upgradeFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', to: '1.0.0' }),
      'already-installed',
    );
    await expectFailure(upgradeFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'topaz' }), 'not-found');

    const last = await serving(dir, 'fft');
    await uninstall(dir, 'fft', { purge: true });
    expect(readdirSync(dir)).toEqual([]);
    expect(processesOf(join(dir, 'fft'))).toEqual([]);
    expect(await probeHealth(last.host, last.port, { pluginId: 'fft', version: '1.0.0' })).toBe(false);
  });

  it('keeps snapshots of the data dir N deep', async () => {
    const dir = fresh();
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    writeFileSync(join(dir, 'fft', 'data', 'results.txt'), 'run 1');
    await upgradeFromHub({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'fft',
      to: '1.1.0',
      run: { snapshotsKeep: 1 },
    });
    const [first] = readdirSync(join(dir, 'fft', 'snapshots'));
    expect(readdirSync(join(dir, 'fft', 'snapshots', first!))).toEqual(['results.txt']);
    await new Promise((r) => setTimeout(r, 1100)); // snapshot names have one-second resolution
    await upgradeFromHub({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'fft',
      to: '1.0.0',
      forceDowngrade: true,
      run: { snapshotsKeep: 1 },
    });
    const names = readdirSync(join(dir, 'fft', 'snapshots'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/-1\.1\.0$/);
    await uninstall(dir, 'fft');
  });
});

describe('a failed upgrade leaves the running old version and the dir exactly as they were', () => {
  let controlled: ControlledHub;
  let dir: string;
  const work = mkdtempSync(join(scratch, 'work-'));
  const archives: Record<string, Buffer> = {};
  beforeAll(async () => {
    controlled = await new ControlledHub(hub.dir, 'fft', '1.5.0').start();
    const good = await packVariant(work, 'fft', '1.5.0');
    archives.good = good;
    archives['never-healthy'] = await packVariant(work, 'fft', '1.5.0', (d) =>
      writeFileSync(join(d, 'main.py'), 'import time\nwhile True:\n    time.sleep(1)\n'),
    );
    archives['exits-at-once'] = await packVariant(work, 'fft', '1.5.0', (d) =>
      writeFileSync(
        join(d, 'main.py'),
        'import sys\nprint("cannot start: no GPU", file=sys.stderr)\nsys.exit(3)\n',
      ),
    );
    archives['other-plugin'] = await packVariant(work, 'ctf', '1.5.0');
    archives['other-version'] = await packVariant(work, 'fft', '1.4.0');
    archives.unlisted = withUnlistedFile(work, good);
    const manifest = Buffer.from('manifest_version: "1"\nplugin_id: fft\nversion: 1.5.0\n');
    archives['zip-slip'] = buildZip([
      { name: 'manifest.yaml', data: manifest },
      { name: '../../evil.py', data: Buffer.from('x') },
    ]);
    archives.link = buildZip([
      { name: 'manifest.yaml', data: manifest },
      { name: 'main.py', data: Buffer.from('/etc/passwd'), mode: 0o120777 },
    ]);
    archives.bomb = buildZip([
      { name: 'manifest.yaml', data: manifest },
      { name: 'zeros.bin', data: Buffer.alloc(20 * 1024 * 1024), method: 'deflate' },
    ]);
    dir = fresh();
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
  }, 120_000);
  afterAll(() => controlled?.close());

  const cases: Array<[string, string, DeliveryFault, InstallError['code']]> = [
    ['a flipped byte', 'good', 'flip', 'checksum-mismatch'],
    ['a truncated body', 'good', 'truncate', 'checksum-mismatch'],
    ['a body longer than size_bytes', 'good', 'longer', 'checksum-mismatch'],
    ['a 1 byte/s server', 'good', 'slow', 'download-failed'],
    ['zip-slip', 'zip-slip', 'none', 'bad-archive'],
    ['a link entry', 'link', 'none', 'bad-archive'],
    ['a zip bomb', 'bomb', 'none', 'bad-archive'],
    ['an unlisted file', 'unlisted', 'none', 'bad-archive'],
    ['a manifest naming another plugin', 'other-plugin', 'none', 'wrong-plugin'],
    ['a manifest naming another version', 'other-version', 'none', 'wrong-plugin'],
    ['a health check that never passes', 'never-healthy', 'none', 'unhealthy'],
    ['a plugin that exits at once', 'exits-at-once', 'none', 'unhealthy'],
  ];
  for (const [title, archive, fault, code] of cases) {
    it(`${title} → ${code}`, async () => {
      const before = snapshot(dir);
      const running = await serving(dir, 'fft');
      controlled.set(archives[archive]!, fault);
      const err = await expectFailure(
        upgradeFromHub({
          pluginsDir: dir,
          hubs: [controlled.url],
          pluginId: 'fft',
          to: '1.5.0',
          timeouts: { idleMs: 1_500, totalMs: 4_000 },
          run: { healthTimeoutMs: 2_500 },
        }),
        code,
      );
      if (archive === 'exits-at-once') expect(err.details.join('\n')).toContain('cannot start: no GPU');
      expect(snapshot(dir)).toEqual(before);
      expect(await serving(dir, 'fft')).toEqual(running);
      expect(processesOf(join(dir, 'fft', 'venvs', '1.5.0'))).toEqual([]);
      expect(readReceipt(dir, 'fft')?.version).toBe('1.0.0');
    }, 30_000);
  }

  it('a hub that trickles bytes is given up on below the minimum rate, and the lock is free again', async () => {
    const before = snapshot(dir);
    const running = await serving(dir, 'fft');
    controlled.set(archives.good!, 'trickle');
    const err = await expectFailure(
      upgradeFromHub({
        pluginsDir: dir,
        hubs: [controlled.url],
        pluginId: 'fft',
        to: '1.5.0',
        // Neither of these would end it: bytes keep coming, and the whole may take a minute.
        timeouts: { idleMs: 5_000, totalMs: 60_000, minBytesPerSecond: 4096, minRateWindowMs: 1_000 },
      }),
      'download-failed',
    );
    expect(err.message).toMatch(/below the minimum of 4096 bytes\/s/);
    const got = Number(/after (\d+) bytes/.exec(err.message)?.[1]);
    expect(got).toBeLessThan(archives.good!.length);
    expect(snapshot(dir)).toEqual(before);
    expect(await serving(dir, 'fft')).toEqual(running);
    expect(await isPluginLocked(dir, 'fft')).toBe(false);
  }, 30_000);

  it('the hub down → hub-unreachable, nothing changes', async () => {
    const before = snapshot(dir);
    const running = await serving(dir, 'fft');
    await expectFailure(
      upgradeFromHub({ pluginsDir: dir, hubs: ['http://127.0.0.1:1'], pluginId: 'fft' }),
      'hub-unreachable',
    );
    expect(snapshot(dir)).toEqual(before);
    expect(await serving(dir, 'fft')).toEqual(running);
  });

  it('a connection reset mid-download is retried, resuming with Range, and the upgrade succeeds', async () => {
    const other = fresh();
    await installFromHub({ pluginsDir: other, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    controlled.set(archives.good!, 'reset-once');
    const r = await upgradeFromHub({
      pluginsDir: other,
      hubs: [controlled.url],
      pluginId: 'fft',
      to: '1.5.0',
    });
    expect(r.to.version).toBe('1.5.0');
    const gets = controlled.requests.filter((q) => q.url.endsWith('.mpn'));
    expect(gets).toHaveLength(2);
    expect(gets[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(gets[1]!.range!)![0])).toBeGreaterThan(0);
    expect((await serving(other, 'fft')).version).toBe('1.5.0');
    await uninstall(other, 'fft', { purge: true });
    expect(existsSync(join(other, 'fft'))).toBe(false);
  }, 30_000);
});
