// kill -9 of CoreService at each stage of an upgrade, then a restart of the real service: the old
// version must be the installed one and still running (the same process, never interrupted), and
// nothing of the attempt may remain; killed after the switch, the new version is the one running
// and the old one is gone.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrashStage } from '../src/crash';
import { installFromHub, readReceipt } from '../src/install';
import { pluginStatus } from '../src/lifecycle';
import { ControlledHub, packVariant } from './fixtures';
import { alive, processesOf, repairedStatus, repoHubForTests, snapshot, startServe } from './helpers';

const BIN = join(import.meta.dirname, '..', 'bin', 'coreservice.js');
const { scratch, hub } = repoHubForTests('crash');
let good: Buffer;
const hubs: ControlledHub[] = [];

beforeAll(async () => {
  good = await packVariant(scratch, 'fft', '1.5.0');
}, 120_000);
afterAll(() => {
  for (const h of hubs) h.close();
});

/** Runs `coreservice upgrade` with a crash point; resolves with the signal that ended it. */
function upgradeUntilKilled(
  dir: string,
  stage: CrashStage,
  controlled: ControlledHub,
): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [BIN, '--unsigned', '--hub', controlled.url, '--plugins-dir', dir, 'upgrade', 'fft', '--to', '1.5.0'],
      {
        stdio: 'ignore',
        env: { ...process.env, MAGELLON_CORESERVICE_CRASH_AT: stage },
      },
    );
    child.once('exit', (_code, signal) => resolve(signal));
  });
}

describe('kill -9 of CoreService during an upgrade, then a restart', () => {
  const stages: CrashStage[] = ['download', 'verify', 'prepare', 'health', 'switch'];
  it(`at each stage (${stages.join(', ')})`, async () => {
    await Promise.all(
      stages.map(async (stage) => {
        const dir = mkdtempSync(join(scratch, `${stage}-`));
        await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
        const before = snapshot(dir);
        const old = (await pluginStatus(dir, 'fft')).replicas[0]!;
        // The download stage needs a download that is still going: the hub sends 1 byte/s.
        const controlled = await new ControlledHub(hub.dir, 'fft', '1.5.0').start();
        hubs.push(controlled);
        controlled.set(good, stage === 'download' ? 'slow' : 'none');
        expect(await upgradeUntilKilled(dir, stage, controlled), stage).toBe('SIGKILL');
        expect(existsSync(join(dir, '.staging')), stage).toBe(true);

        const svc = await startServe(dir, hub.url);
        try {
          const status = await repairedStatus(svc.url, 'fft');
          expect(status.state, stage).toBe('running');
          expect(existsSync(join(dir, '.staging')), stage).toBe(false);
          expect(existsSync(join(dir, '.fft.lock')), stage).toBe(false);
          const replica = (status.replicas as { pid: number }[])[0]!;
          if (stage === 'switch') {
            // Killed after the receipt switched: the new version is installed and running.
            expect(status.version, stage).toBe('1.5.0');
            expect(alive(old.pid!), stage).toBe(false);
            expect(existsSync(join(dir, 'fft', '1.0.0')), stage).toBe(false);
            expect(processesOf(join(dir, 'fft', 'venvs', '1.0.0')), stage).toEqual([]);
          } else {
            expect(status.version, stage).toBe('1.0.0');
            expect(readReceipt(dir, 'fft')?.version, stage).toBe('1.0.0');
            expect(replica.pid, `${stage}: the old version kept running, never restarted`).toBe(old.pid);
            expect(snapshot(dir), stage).toEqual(before);
            expect(processesOf(join(dir, 'fft', 'venvs', '1.5.0')), stage).toEqual([]);
          }
        } finally {
          await svc.stop();
        }
      }),
    );
  }, 120_000);
});

describe('kill -9, then doctor at once', () => {
  it('the dead holder’s lock is stale at once: doctor repairs right away instead of waiting it out', async () => {
    const dir = mkdtempSync(join(scratch, 'doctor-'));
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    const before = snapshot(dir);
    const old = (await pluginStatus(dir, 'fft')).replicas[0]!;
    const controlled = await new ControlledHub(hub.dir, 'fft', '1.5.0').start();
    hubs.push(controlled);
    controlled.set(good, 'slow');
    expect(await upgradeUntilKilled(dir, 'download', controlled)).toBe('SIGKILL');
    expect(existsSync(join(dir, '.fft.lock'))).toBe(true);
    expect(existsSync(join(dir, '.fft.holder'))).toBe(true);

    const doctor = spawnSync(process.execPath, [BIN, '--plugins-dir', dir, 'doctor', '--json'], {
      encoding: 'utf8',
    });
    expect(doctor.status, doctor.stderr).toBe(0);
    const report = JSON.parse(doctor.stdout).result as { removed: { path: string }[]; busy: string[] };
    expect(report.busy).toEqual([]);
    expect(report.removed.map((r) => r.path)).toEqual(expect.arrayContaining(['.fft.lock']));
    expect(existsSync(join(dir, '.fft.lock'))).toBe(false);
    expect(existsSync(join(dir, '.fft.holder'))).toBe(false);
    expect(existsSync(join(dir, '.staging'))).toBe(false);
    expect(snapshot(dir)).toEqual(before);
    expect((await pluginStatus(dir, 'fft')).replicas[0]!.pid).toBe(old.pid);
  }, 60_000);
});
