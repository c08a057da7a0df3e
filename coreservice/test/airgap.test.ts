// Air-gapped operation with the real CLI and the real admin service: an upgrade from an uploaded
// .mpn goes through the same pipeline and rollback as one from the hub (healthy → the new version;
// unhealthy → the old one runs on; another plugin's archive or an older version refused), a kill -9
// mid-upgrade leaves the old version installed and running, snapshots are listed and restored
// (a hostile name never becomes a path), and uninstall keeps data/ and snapshots/ unless purged.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { beforeAll, describe, expect, it } from 'vitest';
import { doctor } from '../src/doctor';
import { installFromHub, listInstalled, readReceipt } from '../src/install';
import { pluginStatus } from '../src/lifecycle';
import { probeHealth } from '../src/runtime/health';
import { packVariant } from './fixtures';
import {
  adminCall,
  alive,
  CORESERVICE_BIN,
  cleanCoreserviceEnv,
  processesOf,
  repoHubForTests,
  runCoreservice,
  SERVE_TOKEN,
  snapshot,
  startServe,
} from './helpers';

const { scratch, hub } = repoHubForTests('airgap');
const work = mkdtempSync(join(scratch, 'work-'));
/** The archives an operator would carry in: files on this host. */
const mpn: Record<string, string> = {};

beforeAll(async () => {
  const save = (name: string, bytes: Buffer) => {
    mpn[name] = join(work, `${name}.mpn`);
    writeFileSync(mpn[name], bytes);
  };
  save('fft-1.5.0', await packVariant(work, 'fft', '1.5.0'));
  save('fft-0.9.0', await packVariant(work, 'fft', '0.9.0'));
  save('ctf-2.0.0', await packVariant(work, 'ctf', '2.0.0'));
  save(
    'fft-1.6.0-exits',
    await packVariant(work, 'fft', '1.6.0', (d) =>
      writeFileSync(
        join(d, 'main.py'),
        'import sys\nprint("cannot start: no GPU", file=sys.stderr)\nsys.exit(3)\n',
      ),
    ),
  );
}, 120_000);

let n = 0;
/** A plugins dir with fft 1.0.0 installed and running, a file in its data dir. */
async function withFft(): Promise<string> {
  const dir = mkdtempSync(join(scratch, `plugins-${n++}-`));
  await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
  writeFileSync(join(dir, 'fft', 'data', 'results.txt'), 'made by 1.0.0');
  return dir;
}

/** The one replica: version, pid, and that it answers its health check. */
async function serving(dir: string) {
  const s = await pluginStatus(dir, 'fft');
  expect(s.state).toBe('running');
  const r = s.replicas[0]!;
  expect(await probeHealth(r.host!, r.port!, { pluginId: 'fft', version: s.version })).toBe(true);
  return { version: s.version, pid: r.pid! };
}

const cli = (dir: string, ...args: string[]) => runCoreservice(['--plugins-dir', dir, ...args]);
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

describe('upgrade from an uploaded .mpn (CLI)', () => {
  it('healthy → the new version; not newer refused unless forced; another plugin refused; unhealthy → the old one runs on', async () => {
    const dir = await withFft();
    const first = await serving(dir);

    // Another plugin's archive: refused before anything starts, nothing changes.
    let before = snapshot(dir);
    const other = await cli(dir, 'upgrade', 'fft', '--file', mpn['ctf-2.0.0']!, '--json');
    expect(other.code).toBe(1);
    expect(json(other).error).toMatchObject({ code: 'wrong-plugin', status: 400 });
    expect(json(other).error.message).toContain('ctf-2.0.0.mpn is ctf 2.0.0, not fft');
    expect(snapshot(dir)).toEqual(before);

    // An older version: refused unless --force-downgrade.
    const older = await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-0.9.0']!, '--json');
    expect(json(older).error).toMatchObject({ code: 'not-newer', status: 400 });
    expect(snapshot(dir)).toEqual(before);
    expect(await serving(dir)).toEqual(first);
    expect((await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-0.9.0']!, '--to', '1.0.0')).code).toBe(2);

    // Healthy: the new version runs, the old one is gone, the data was snapshotted.
    const up = await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-1.5.0']!);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('fft: 1.0.0 → 1.5.0');
    expect(up.stderr).toMatch(/verify[\s\S]*prepare[\s\S]*start 1 replica\(s\)[\s\S]*healthy/);
    expect((await serving(dir)).version).toBe('1.5.0');
    expect(readReceipt(dir, 'fft')).toMatchObject({ version: '1.5.0', registry: 'upload' });
    expect(alive(first.pid)).toBe(false);
    expect(existsSync(join(dir, 'fft', '1.0.0'))).toBe(false);

    // Unhealthy: the old version (1.5.0) keeps running, untouched; nothing of the attempt stays.
    before = snapshot(dir);
    const running = await serving(dir);
    const bad = await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-1.6.0-exits']!, '--json');
    expect(json(bad).error).toMatchObject({ code: 'unhealthy', status: 502 });
    expect(json(bad).error.details.join('\n')).toContain('cannot start: no GPU');
    expect(snapshot(dir)).toEqual(before);
    expect(await serving(dir)).toEqual(running);
    expect(processesOf(join(dir, 'fft', '1.6.0'))).toEqual([]);

    // Forced back to 0.9.0.
    const down = await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-0.9.0']!, '--force-downgrade');
    expect(down.code, down.stderr).toBe(0);
    expect((await serving(dir)).version).toBe('0.9.0');
    expect((await cli(dir, 'uninstall', 'fft', '--purge')).code).toBe(0);
  }, 180_000);
});

describe('upgrade from an uploaded .mpn (HTTP)', () => {
  it('POST /admin/plugins/<id>/upgrade: 200 → new version; wrong plugin 400; not newer 400 unless ?force_downgrade=1; unhealthy → old one', async () => {
    const dir = await withFft();
    const svc = await startServe(dir, hub.url);
    const call = (method: string, path: string, body?: unknown) =>
      adminCall(svc.url, SERVE_TOKEN, method, path, body);
    const bytes = (name: string) => readFileSync(mpn[name]!);
    try {
      const first = await serving(dir);
      let before = snapshot(dir);
      const other = await call('POST', '/admin/plugins/fft/upgrade', bytes('ctf-2.0.0'));
      expect(other.status).toBe(400);
      expect(other.body.error.code).toBe('wrong-plugin');
      expect(other.body.error.message).not.toContain('.uploads');
      const older = await call('POST', '/admin/plugins/fft/upgrade', bytes('fft-0.9.0'));
      expect(older.status).toBe(400);
      expect(older.body.error.code).toBe('not-newer');
      expect(snapshot(dir)).toEqual(before);
      expect(await serving(dir)).toEqual(first);

      // The progress events the other operations emit, on the service's event stream.
      const events = await request(`${svc.url}/admin/events?plugin_id=fft`, {
        headers: { authorization: `Bearer ${SERVE_TOKEN}` },
      });
      const seen: string[] = [];
      const reading = (async () => {
        let buf = '';
        for await (const chunk of events.body) {
          buf += chunk.toString();
          for (const m of buf.matchAll(/^data: (.*)$/gm)) {
            const e = JSON.parse(m[1]!);
            if (e.stage) seen.push(e.stage);
            if (e.type === 'upgraded') seen.push(e.type);
            if (e.type === 'upgraded') return;
          }
          buf = buf.slice(buf.lastIndexOf('\n') + 1);
        }
      })();
      const up = await call('POST', '/admin/plugins/fft/upgrade', bytes('fft-1.5.0'));
      expect(up.status, JSON.stringify(up.body)).toBe(200);
      await reading;
      events.body.destroy();
      expect([...new Set(seen)]).toEqual(['verify', 'prepare', 'start', 'health', 'activate', 'upgraded']);
      expect(up.body).toMatchObject({
        from: { version: '1.0.0' },
        to: { version: '1.5.0', registry: 'upload' },
      });
      expect((await serving(dir)).version).toBe('1.5.0');

      before = snapshot(dir);
      const running = await serving(dir);
      const bad = await call('POST', '/admin/plugins/fft/upgrade', bytes('fft-1.6.0-exits'));
      expect(bad.status).toBe(502);
      expect(bad.body.error.code).toBe('unhealthy');
      expect(snapshot(dir)).toEqual(before);
      expect(await serving(dir)).toEqual(running);

      const forced = await call('POST', '/admin/plugins/fft/upgrade?force_downgrade=1', bytes('fft-0.9.0'));
      expect(forced.status, JSON.stringify(forced.body)).toBe(200);
      expect(forced.body.to.version).toBe('0.9.0');
      expect((await call('POST', '/admin/plugins/nope/upgrade', bytes('fft-1.5.0'))).status).toBe(404);
      // The upload bodies are gone.
      expect(existsSync(join(dir, '.uploads'))).toBe(false);
    } finally {
      await svc.stop();
    }
  }, 180_000);
});

describe('kill -9 of `coreservice upgrade --file`, then the next command', () => {
  for (const stage of ['verify', 'health'] as const) {
    it(`at ${stage}: the old version is installed, running and reported; the next command cleans up`, async () => {
      const dir = await withFft();
      const before = snapshot(dir);
      const old = await serving(dir);
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
        const child = spawn(
          process.execPath,
          [CORESERVICE_BIN, '--plugins-dir', dir, 'upgrade', 'fft', '--file', mpn['fft-1.5.0']!],
          { stdio: 'ignore', env: cleanCoreserviceEnv({ MAGELLON_CORESERVICE_CRASH_AT: stage }) },
        );
        child.once('exit', (_code, sig) => resolve(sig));
      });
      expect(signal).toBe('SIGKILL');
      // Killed before the switch: the receipt still names 1.0.0, which never stopped.
      expect(readReceipt(dir, 'fft')?.version).toBe('1.0.0');
      expect(existsSync(join(dir, '.staging'))).toBe(true);
      expect(alive(old.pid)).toBe(true);

      // The next command: doctor rolls back what the attempt left; status reports the old version.
      const repaired = await cli(dir, 'doctor', '--json');
      expect(repaired.code, repaired.stderr).toBe(0);
      const status = json(await cli(dir, 'status', 'fft', '--json')).result;
      expect(status).toMatchObject({ version: '1.0.0', state: 'running' });
      expect(status.replicas[0].pid).toBe(old.pid);
      expect(snapshot(dir)).toEqual(before);
      expect(processesOf(join(dir, 'fft', '1.5.0'))).toEqual([]);
      expect(processesOf(join(dir, 'fft', 'venvs', '1.5.0'))).toEqual([]);
      // And the upgrade can be done again, cleanly.
      const again = await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-1.5.0']!);
      expect(again.code, again.stderr).toBe(0);
      expect((await serving(dir)).version).toBe('1.5.0');
      expect((await cli(dir, 'uninstall', 'fft', '--purge')).code).toBe(0);
    }, 120_000);
  }
});

describe('snapshots and restore', () => {
  it('lists the pre-upgrade snapshot; restore swaps the data back, keeps the replaced data, restarts; hostile names refused', async () => {
    const dir = await withFft();
    expect((await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-1.5.0']!)).code).toBe(0);
    const data = join(dir, 'fft', 'data', 'results.txt');
    writeFileSync(data, 'made by 1.5.0');

    const listed = json(await cli(dir, 'snapshots', 'fft', '--json')).result;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ from_version: '1.0.0', size_bytes: 'made by 1.0.0'.length });
    expect(listed[0].name).toMatch(/^\d{8}T\d{6}Z-1\.0\.0$/);
    expect(Date.parse(listed[0].taken_at)).not.toBeNaN();
    const text = await cli(dir, 'snapshots', 'fft');
    expect(text.stdout).toContain(`${listed[0].name}  of 1.0.0`);

    // Hostile names: refused before anything is stopped or made.
    const before = snapshot(join(dir, '..'));
    const running = await serving(dir);
    for (const name of ['../x', '20250101T000000Z-..', '20250101T000000Z-../../x', '..']) {
      const r = await cli(dir, 'restore', 'fft', name, '--json');
      expect(r.code, name).toBe(1);
      expect(json(r).error.code, name).toBe('bad-request');
    }
    const missing = await cli(dir, 'restore', 'fft', '20250101T000000Z-1.0.0', '--json');
    expect(json(missing).error.code).toBe('not-found');
    expect(snapshot(join(dir, '..'))).toEqual(before);
    expect(await serving(dir)).toEqual(running);

    const restored = await cli(dir, 'restore', 'fft', listed[0].name, '--json');
    expect(restored.code, restored.stderr).toBe(0);
    const r = json(restored).result;
    expect(r).toMatchObject({ restored: listed[0].name, status: { state: 'running', version: '1.5.0' } });
    expect(readFileSync(data, 'utf8')).toBe('made by 1.0.0');
    // Restarted on the restored data; the data it replaced is a snapshot of its own.
    expect((await serving(dir)).pid).not.toBe(running.pid);
    expect(r.kept_as).toMatch(/^\d{8}T\d{6}Z-1\.5\.0$/);
    expect(readFileSync(join(dir, 'fft', 'snapshots', r.kept_as, 'results.txt'), 'utf8')).toBe(
      'made by 1.5.0',
    );
    expect(existsSync(join(dir, 'fft', 'snapshots', listed[0].name))).toBe(true);
    expect(existsSync(join(dir, '.staging'))).toBe(false);
    if (process.getuid?.() === 0) {
      const uid = json(await cli(dir, 'status', 'fft', '--json')).result.isolation.uid;
      if (uid !== undefined) {
        const { statSync } = await import('node:fs');
        expect(statSync(data).uid).toBe(uid);
      }
    }

    // Over HTTP: the same list, a hostile name 400, a restore that undoes the first.
    const svc = await startServe(dir, hub.url);
    try {
      const call = (method: string, path: string) => adminCall(svc.url, SERVE_TOKEN, method, path);
      const list = await call('GET', '/admin/plugins/fft/snapshots');
      expect(list.status).toBe(200);
      expect(list.body.snapshots.map((s: { name: string }) => s.name)).toEqual([listed[0].name, r.kept_as]);
      const hostile = await call(
        'POST',
        `/admin/plugins/fft/snapshots/${encodeURIComponent('20250101T000000Z-../../x')}/restore`,
      );
      expect(hostile.status).toBe(400);
      const undo = await call('POST', `/admin/plugins/fft/snapshots/${r.kept_as}/restore`);
      expect(undo.status, JSON.stringify(undo.body)).toBe(200);
      expect(undo.body.status.state).toBe('running');
      expect(readFileSync(data, 'utf8')).toBe('made by 1.5.0');
    } finally {
      await svc.stop();
    }
    expect((await cli(dir, 'uninstall', 'fft', '--purge')).code).toBe(0);
  }, 180_000);
});

describe('uninstall keeps data/ and snapshots/ unless purged', () => {
  it('kept: only data/ and snapshots/ stay, not installed, no leftover for doctor; a reinstall finds the data; --purge removes all', async () => {
    const dir = await withFft();
    expect((await cli(dir, 'upgrade', 'fft', '--file', mpn['fft-1.5.0']!)).code).toBe(0);
    const pid = (await serving(dir)).pid;
    const out = await cli(dir, 'uninstall', 'fft');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('uninstalled fft 1.5.0; kept its data/ and snapshots/ for a later install');
    expect(json(await cli(dir, 'uninstall', 'fft', '--json')).error.code).toBe('not-found');
    expect(readdirSync(join(dir, 'fft')).sort()).toEqual(['data', 'snapshots']);
    expect(readdirSync(dir).filter((x) => !x.startsWith('.'))).toEqual(['fft']);
    expect(alive(pid)).toBe(false);
    expect(listInstalled(dir)).toEqual([]);
    const kept = snapshot(dir);
    expect((await doctor(dir)).removed).toEqual([]);
    expect(snapshot(dir)).toEqual(kept);

    // A reinstall (from the hub, or an archive) finds its data, owned by whatever uid it runs under.
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    expect(readFileSync(join(dir, 'fft', 'data', 'results.txt'), 'utf8')).toBe('made by 1.0.0');
    expect(readdirSync(join(dir, 'fft', 'snapshots'))).toHaveLength(1);
    await serving(dir);

    // Over HTTP: kept by default ({uninstalled, kept}), then ?purge=1 removes the kept home too.
    const svc = await startServe(dir, hub.url);
    try {
      const call = (method: string, path: string) => adminCall(svc.url, SERVE_TOKEN, method, path);
      const del = await call('DELETE', '/admin/plugins/fft');
      expect(del.status).toBe(200);
      expect(del.body).toMatchObject({ uninstalled: { plugin_id: 'fft' }, kept: ['data', 'snapshots'] });
      expect((await call('DELETE', '/admin/plugins/fft')).status).toBe(404);
      const purge = await call('DELETE', '/admin/plugins/fft?purge=1');
      expect(purge.status).toBe(200);
      expect(purge.body).toMatchObject({ uninstalled: null, purged_kept: ['data', 'snapshots'] });
      expect(existsSync(join(dir, 'fft'))).toBe(false);
      expect((await call('DELETE', '/admin/plugins/fft?purge=maybe')).status).toBe(400);
    } finally {
      await svc.stop();
    }

    // --purge on an installed plugin: nothing of it is left.
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    const purged = await cli(dir, 'uninstall', 'fft', '--purge');
    expect(purged.stdout).toContain('nothing of it is left');
    expect(readdirSync(dir)).toEqual([]);
  }, 180_000);
});
