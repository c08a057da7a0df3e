// The private systemd user manager (user-manager.sh via manager.ts): it answers systemctl --user,
// runs a unit as its user, and stop leaves nothing behind (its process, its cgroups, its state dir);
// HUB_ENGINES_UNAVAILABLE=systemd makes it unavailable on purpose.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../engines';
import { startUserManager } from './manager';

describe('systemd user manager', () => {
  it('starts, runs a unit as its user, and stops leaving nothing', async () => {
    const mgr = await startUserManager();
    if (!mgr) return; // said loudly why (and thrown under HUB_REQUIRE_ALL=1)
    // Its cgroups are named after its state dir, as user-manager.sh names them.
    const name = `hub-systemd-${createHash('sha256').update(mgr.stateDir).digest('hex').slice(0, 12)}`;
    const hierarchies = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup'];
    try {
      expect(hierarchies.filter((h) => existsSync(join(h, name))).length).toBeGreaterThan(0);
      expect(processAlive(mgr.pid)).toBe(true);
      expect(readFileSync(`/proc/${mgr.pid}/status`, 'utf8')).toMatch(
        new RegExp(`^Uid:\\s+${mgr.uid}\\s`, 'm'),
      );
      const out = join(mgr.stateDir, 'home', 'id.out');
      writeFileSync(
        join(mgr.unitDir, 'hub-id.service'),
        `[Service]\nType=exec\nExecStart=/usr/bin/id -u\nStandardOutput=truncate:${out}\n`,
      );
      expect(mgr.systemctl(['daemon-reload']).code).toBe(0);
      expect(mgr.systemctl(['start', 'hub-id.service']).code).toBe(0);
      await expect.poll(() => existsSync(out) && readFileSync(out, 'utf8').trim()).toBe(String(mgr.uid));
    } finally {
      await mgr.stop();
    }
    await expect.poll(() => processAlive(mgr.pid)).toBe(false);
    expect(existsSync(mgr.stateDir)).toBe(false);
    for (const h of hierarchies) {
      expect(existsSync(join(h, name)), h).toBe(false);
    }
  }, 120_000);

  it('is unavailable on purpose under HUB_ENGINES_UNAVAILABLE=systemd', async () => {
    const before = process.env.HUB_ENGINES_UNAVAILABLE;
    const required = process.env.HUB_REQUIRE_ALL;
    process.env.HUB_ENGINES_UNAVAILABLE = 'systemd';
    delete process.env.HUB_REQUIRE_ALL;
    try {
      expect(await startUserManager()).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env.HUB_ENGINES_UNAVAILABLE;
      else process.env.HUB_ENGINES_UNAVAILABLE = before;
      if (required !== undefined) process.env.HUB_REQUIRE_ALL = required;
    }
  });
});
