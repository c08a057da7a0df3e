// Reproducible labs against the hub's real Node server on 127.0.0.1: `export` on one plugins dir
// and `sync` into an empty one give the same receipts and archives; drift is reported and fixed;
// an archive that is not the lockfile's, a registry the lockfile would add and a malformed lockfile
// are refused, each leaving the plugins dir as it was.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installFromHub, listInstalled, type Receipt, readReceipt, uninstall } from '../src/install';
import { exportLock, lockText, readLock, type SyncReport, syncLock } from '../src/lockfile';
import type { Lockfile } from '../src/records';
import { upgradeFromHub } from '../src/upgrade';
import {
  adminCall,
  expectFailure,
  repoHubForTests,
  runCoreservice,
  SERVE_TOKEN,
  snapshot,
  startServe,
} from './helpers';

const { scratch, hub } = repoHubForTests('export-sync');

let n = 0;
const fresh = () => mkdtempSync(join(scratch, `plugins-${n++}-`));

/** A receipt without what differs between two hosts by nature: when it was installed. */
const portable = ({ installed_at: _, ...rest }: Receipt) => rest;

/** Each plugin's drift, action and outcome, by id. */
const summary = (r: SyncReport) =>
  Object.fromEntries(r.plugins.map((p) => [p.plugin_id, [p.drift, p.action, p.outcome]]));

/** A lab of two plugins, fft at an older version than the latest, ctf at the latest (1.0.0; 1.1.0 is yanked), and its lockfile. */
async function lab(): Promise<{ dir: string; lock: Lockfile }> {
  const dir = fresh();
  await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
  await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'ctf' });
  return { dir, lock: exportLock(dir) };
}

const writeLockFile = (name: string, text: string) => {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
};

describe('coreservice export and sync', () => {
  it('reproduces a lab in an empty dir (same receipts and archives), then reports and fixes drift, --prune removes what the lock does not name', async () => {
    const a = await lab();
    expect(a.lock.plugins.map((p) => [p.plugin_id, p.version, p.registry, p.replicas])).toEqual([
      ['ctf', '1.0.0', hub.url, 1],
      ['fft', '1.0.0', hub.url, 1],
    ]);
    // The CLI writes the same lockfile (atomically, to --out) and to stdout without --out.
    const file = join(scratch, 'lab.lock.json');
    const written = await runCoreservice(['export', '--plugins-dir', a.dir, '--out', file]);
    expect(written.code, written.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(lockText(a.lock));
    const printed = await runCoreservice(['export', '--plugins-dir', a.dir]);
    expect(printed.stdout).toBe(lockText(a.lock));
    // And the admin service answers it at GET /admin/export (behind its token, like every /admin route).
    const svc = await startServe(a.dir, hub.url);
    try {
      expect(await adminCall(svc.url, SERVE_TOKEN, 'GET', '/admin/export')).toEqual({
        status: 200,
        body: a.lock,
      });
      expect((await adminCall(svc.url, null, 'GET', '/admin/export')).status).toBe(401);
    } finally {
      await svc.stop();
    }

    // --dry-run: the plan, nothing changed, exit 1 (the dir does not match yet).
    const b = fresh();
    const before = snapshot(b);
    const dry = await runCoreservice([
      'sync',
      file,
      '--dry-run',
      '--plugins-dir',
      b,
      '--unsigned',
      '--hub',
      hub.url,
    ]);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('would install fft 1.0.0');
    expect(dry.stdout).toContain('would install ctf 1.0.0');
    expect(snapshot(b)).toEqual(before);

    const synced = await syncLock({ pluginsDir: b, hubs: [hub.url], lock: readLock(file) });
    expect(synced.matches).toBe(true);
    expect(summary(synced)).toEqual({
      ctf: ['missing', 'install', 'done'],
      fft: ['missing', 'install', 'done'],
    });
    for (const id of ['fft', 'ctf']) {
      expect(portable(readReceipt(b, id)!)).toEqual(portable(readReceipt(a.dir, id)!));
      const version = readReceipt(b, id)!.version;
      // The archives' contents, file by file, are the same.
      expect(snapshot(join(b, id, version))).toEqual(snapshot(join(a.dir, id, version)));
    }
    expect(lockText(exportLock(b))).toBe(lockText(a.lock));
    // Synced again: nothing to do.
    expect(summary(await syncLock({ pluginsDir: b, hubs: [hub.url], lock: a.lock }))).toEqual({
      ctf: ['none', 'none', 'matches'],
      fft: ['none', 'none', 'matches'],
    });

    // Drift: fft upgraded past the lock, ctf gone, an extra plugin installed (topaz).
    await upgradeFromHub({ pluginsDir: b, hubs: [hub.url], pluginId: 'fft', to: '1.1.0' });
    await uninstall(b, 'ctf', { purge: true });
    await installFromHub({ pluginsDir: b, hubs: [hub.url], pluginId: 'topaz' });
    const drift = await runCoreservice([
      'sync',
      file,
      '--json',
      '--plugins-dir',
      b,
      '--unsigned',
      '--hub',
      hub.url,
    ]);
    expect(drift.code).toBe(1);
    const report = JSON.parse(drift.stdout) as { ok: boolean; result: SyncReport };
    expect(report.ok).toBe(false);
    expect(summary(report.result)).toEqual({
      ctf: ['missing', 'install', 'done'],
      fft: ['other-version', 'downgrade', 'done'],
      topaz: ['not-in-lock', 'report', 'reported'],
    });
    expect(readReceipt(b, 'fft')?.version).toBe('1.0.0');
    expect(readReceipt(b, 'topaz')).toBeDefined();

    const pruned = await syncLock({ pluginsDir: b, hubs: [hub.url], lock: a.lock, prune: true });
    expect(pruned.matches).toBe(true);
    expect(summary(pruned).topaz).toEqual(['not-in-lock', 'uninstall', 'done']);
    expect(listInstalled(b).map((r) => r.plugin_id)).toEqual(['ctf', 'fft']);
    expect(lockText(exportLock(b))).toBe(lockText(a.lock));
  }, 300_000);

  it('a lockfile whose sha256 is not the hub archive’s: that plugin fails closed, nothing of it left; the others go on', async () => {
    const { lock } = await lab();
    const tampered: Lockfile = {
      ...lock,
      plugins: lock.plugins.map((p) => (p.plugin_id === 'fft' ? { ...p, sha256: 'ab'.repeat(32) } : p)),
    };
    const c = fresh();
    const r = await syncLock({ pluginsDir: c, hubs: [hub.url], lock: tampered });
    expect(r.matches).toBe(false);
    expect(summary(r)).toEqual({
      ctf: ['missing', 'install', 'done'],
      fft: ['missing', 'install', 'failed'],
    });
    const fft = r.plugins.find((p) => p.plugin_id === 'fft')!;
    expect(fft.error?.code).toBe('checksum-mismatch');
    expect(fft.message).toContain('the lockfile pins abab');
    expect(Object.keys(snapshot(c)).filter((p) => p.startsWith('fft'))).toEqual([]);
    expect(listInstalled(c).map((x) => x.plugin_id)).toEqual(['ctf']);

    // An installed plugin moved to a version whose archive is not the pinned one: it stays as it was.
    const before = snapshot(join(c, 'ctf'));
    const other: Lockfile = {
      ...lock,
      plugins: lock.plugins.map((p) =>
        p.plugin_id === 'ctf' ? { ...p, version: '1.1.0', sha256: 'cd'.repeat(32) } : p,
      ),
    };
    const down = await syncLock({ pluginsDir: c, hubs: [hub.url], lock: other });
    expect(down.plugins.find((p) => p.plugin_id === 'ctf')?.error?.code).toBe('checksum-mismatch');
    expect(readReceipt(c, 'ctf')?.version).toBe('1.0.0');
    expect(snapshot(join(c, 'ctf'))).toEqual(before);
  }, 180_000);

  it('a lockfile may not add a registry, nor carry credentials; an uploaded plugin is not reproducible', async () => {
    const { lock } = await lab();
    const elsewhere: Lockfile = {
      ...lock,
      plugins: lock.plugins.map((p) =>
        p.plugin_id === 'fft' ? { ...p, registry: 'http://127.0.0.1:9/' } : { ...p, registry: 'upload' },
      ),
    };
    const d = fresh();
    const r = await syncLock({ pluginsDir: d, hubs: [hub.url], lock: elsewhere });
    expect(r.matches).toBe(false);
    expect(summary(r)).toEqual({
      ctf: ['not-reproducible', 'report', 'failed'],
      fft: ['registry-not-configured', 'report', 'failed'],
    });
    expect(r.plugins.find((p) => p.plugin_id === 'fft')?.error?.code).toBe('untrusted');
    expect(snapshot(d)).toEqual({});

    const withToken = JSON.parse(lockText(lock)) as Lockfile;
    withToken.plugins[0]!.registry = hub.url.replace('http://', 'http://lab:s3cret@');
    const file = writeLockFile('token.lock.json', JSON.stringify(withToken));
    const err = await expectFailure(
      Promise.resolve().then(() => readLock(file)),
      'bad-request',
    );
    expect(err.message).toContain('plugins.0.registry');
    expect(err.message).not.toContain('s3cret');
  }, 180_000);

  it('a malformed lockfile is refused naming the file and where; nothing changes', async () => {
    const e = fresh();
    await installFromHub({ pluginsDir: e, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    const before = snapshot(e);
    const broken = writeLockFile('broken.lock.json', '{\n  "lockfile_version": 1,\n  "plugins": [ , ]\n}\n');
    const run = await runCoreservice([
      'sync',
      broken,
      '--prune',
      '--plugins-dir',
      e,
      '--unsigned',
      '--hub',
      hub.url,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${broken}:3:`);
    expect(snapshot(e)).toEqual(before);

    const cases: [string, unknown][] = [
      ['lockfile_version', { lockfile_version: 2, plugins: [] }],
      ['plugins.0.sha256', { lockfile_version: 1, plugins: [{ ...exportLock(e).plugins[0], sha256: 'x' }] }],
      ['(top level)', { lockfile_version: 1, plugins: [], extra: true }],
      [
        'plugins.1.plugin_id',
        { lockfile_version: 1, plugins: [exportLock(e).plugins[0], exportLock(e).plugins[0]] },
      ],
    ];
    for (const [where, value] of cases) {
      const file = writeLockFile(`bad-${where}.lock.json`, JSON.stringify(value));
      const err = await expectFailure(
        Promise.resolve().then(() => readLock(file)),
        'bad-request',
      );
      expect(err.message).toContain(`${file}: ${where}`);
    }
    expect(snapshot(e)).toEqual(before);
  }, 120_000);
});
