// Hostile plugins against CoreService's isolation, on real processes. A real `coreservice serve`
// (the compiled command, with a secret in its own environment) installs ctf from the real hub with
// a secret setting and a secret file in its data dir, then takes an uploaded "probe" plugin whose
// main.py first reaches for everything it should not have (fixtures/probe_attacks.py) and prints
// what it got. The test then proves that none of the planted secrets is in what it printed, that
// it wrote nothing outside its data dir, signalled nothing but itself, and could not forge a
// heartbeat. As root the plugins run under uids of their own (`uid`); CoreService run as an
// unprivileged user uses bubblewrap (`namespace`).

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { PLUGIN_UID_MAX, PLUGIN_UID_MIN } from '../src/runtime/identity';
import { packVariant } from './fixtures';
import { adminCall, repoHubForTests, scratchDir, stopAllUnder } from './helpers';

const BIN = join(import.meta.dirname, '..', 'bin', 'coreservice.js');
const PROBE = join(import.meta.dirname, 'fixtures', 'probe_attacks.py');
const NOBODY = 65534;
const { scratch, hub } = repoHubForTests('isolation');
const isRoot = process.getuid?.() === 0;

/** bubblewrap, installed by the project's script where it can be; false (after one loud line) where it cannot. */
function bubblewrapHere(): boolean {
  try {
    execFileSync(join(import.meta.dirname, '..', '..', 'infra', 'sandbox', 'bubblewrap.sh'), ['check'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return true;
  } catch (err) {
    skipLoudly(
      'CoreService isolation through bubblewrap',
      String((err as { stderr?: Buffer }).stderr ?? err).trim(),
    );
    return false;
  }
}

/** The probe plugin: ctf's code under the id "probe", its main.py running the attacks first. */
async function probeArchive(work: string): Promise<Buffer> {
  return packVariant(work, 'ctf', '1.0.0', (dir) => {
    const m = join(dir, 'manifest.yaml');
    writeFileSync(m, readFileSync(m, 'utf8').replace(/^plugin_id:.*$/m, 'plugin_id: probe'));
    copyFileSync(PROBE, join(dir, 'probe_attacks.py'));
    const main = join(dir, 'main.py');
    writeFileSync(main, `import probe_attacks\nprobe_attacks.run()\n${readFileSync(main, 'utf8')}`);
  });
}

interface Served {
  url: string;
  pid: number;
  call: (method: string, path: string, body?: unknown) => ReturnType<typeof adminCall>;
  stop: () => Promise<void>;
}

/** `coreservice serve` on 127.0.0.1 as `uid` (this process's own when absent), with `env` added. */
async function serve(
  pluginsDir: string,
  token: string,
  env: Record<string, string>,
  uid?: number,
): Promise<Served> {
  const child = spawn(
    process.execPath,
    [BIN, '--unsigned', '--hub', hub.url, '--plugins-dir', pluginsDir, 'serve', '--port', '0'],
    {
      env: { ...process.env, ...env, MAGELLON_ADMIN_TOKEN: token },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(uid !== undefined ? { uid, gid: uid } : {}),
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`coreservice serve exited ${code}: ${err}`)));
  });
  const call = (method: string, path: string, body?: unknown) => adminCall(url, token, method, path, body);
  return {
    url,
    pid: child.pid!,
    call,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Live processes whose real uid is `uid`. */
function processesOfUid(uid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,uid=,stat='], { encoding: 'utf8' });
  return out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, u, stat]) => Number(u) === uid && !stat?.startsWith('Z'))
    .map(([pid]) => Number(pid));
}

afterAll(async () => {
  await stopAllUnder(scratch);
});

type Probe = Record<string, { ok: boolean; value?: unknown; error?: string }> & {
  uid: number;
  pid: number;
  environs: Record<string, string>;
  signalled: number[];
};

/** The whole attack, against a CoreService running as `uid` (this process's when absent). */
async function attack(uid?: number): Promise<void> {
  const root = scratchDir('run-', scratch);
  const pluginsDir = join(root, 'plugins');
  mkdirSync(pluginsDir);
  if (uid !== undefined) chownSync(pluginsDir, uid, uid);
  const token = randomBytes(32).toString('base64url');
  const marker = `coreservice-env-secret-${randomBytes(8).toString('hex')}`;
  const ctfSecret = `ctf-setting-secret-${randomBytes(8).toString('hex')}`;
  const fileSecret = `ctf-file-secret-${randomBytes(8).toString('hex')}`;
  const svc = await serve(
    pluginsDir,
    token,
    { CORESERVICE_TEST_SECRET: marker, MAGELLON_PLUGIN_CTF_API_TOKEN: ctfSecret },
    uid,
  );
  try {
    const ctf = await svc.call('POST', '/admin/plugins/install-from-hub', {
      plugin_id: 'ctf',
      version: '1.0.0',
    });
    expect(ctf.status, JSON.stringify(ctf.body)).toBe(201);
    writeFileSync(join(pluginsDir, 'ctf', 'data', 'secret.txt'), fileSecret);
    const ctfStatus = await svc.call('GET', '/admin/plugins/ctf/status');
    const ctfPid = ctfStatus.body.replicas[0].pid as number;
    // ctf itself got its secret setting: it is there to be stolen.
    expect(readFileSync(`/proc/${ctfPid}/environ`, 'utf8')).toContain(ctfSecret);

    const probe = await svc.call('POST', '/admin/plugins/install', await probeArchive(root));
    expect(probe.status, JSON.stringify(probe.body)).toBe(201);
    const logs = await svc.call('GET', '/admin/plugins/probe/logs?tail=1000');
    const line = (logs.body.lines as string[]).find((l) => l.startsWith('PROBE '));
    expect(line, 'the probe ran and reported').toBeDefined();
    const seen = line!.slice('PROBE '.length);
    const got = JSON.parse(seen) as Probe;

    // Nothing planted leaked, whatever the probe managed to read.
    for (const secret of [token, marker, ctfSecret, fileSecret]) expect(seen).not.toContain(secret);
    expect(got.token?.ok).toBe(false);
    for (const k of [
      'victim/receipt.json',
      'victim/state.json',
      'victim/heartbeat.key',
      'victim/data/secret.txt',
    ]) {
      expect(got[k]?.ok, k).toBe(false);
    }
    expect(got['own/heartbeat.key']?.ok, 'its own heartbeat key is CoreService’s').toBe(false);
    expect(got.uid_claims?.ok, 'the host’s uid registry is root’s').toBe(false);
    // The plugins dir cannot be listed; in a namespace it is an empty stand-in holding only its own.
    if (got.list_plugins_dir?.ok) expect(got.list_plugins_dir.value).toEqual(['probe']);
    // It wrote its own data dir and nothing else.
    expect(got.write_own_data?.ok).toBe(true);
    expect(existsSync(join(pluginsDir, 'probe', 'data', 'mine'))).toBe(true);
    expect(got.write_plugins_dir?.ok).toBe(false);
    expect(got.write_victim_data?.ok).toBe(false);
    expect(existsSync(join(pluginsDir, 'pwned'))).toBe(false);
    expect(existsSync(join(pluginsDir, 'ctf', 'data', 'pwned'))).toBe(false);
    // It can signal only itself: not CoreService, not ctf.
    expect(got.signalled).not.toContain(svc.pid);
    expect(got.signalled).not.toContain(ctfPid);
    // Its own secret does not let it report for ctf, nor does no secret.
    expect(got.forged_heartbeat_own_key?.value).toBe(401);
    expect(got.forged_heartbeat_no_key?.value).toBe(401);

    // status --json says how each plugin is isolated.
    const status = execFileSync(process.execPath, [BIN, '--plugins-dir', pluginsDir, 'status', '--json'], {
      encoding: 'utf8',
      ...(uid !== undefined ? { uid, gid: uid } : {}),
    });
    const all = JSON.parse(status).result as {
      plugin_id: string;
      isolation: { level: string; uid?: number };
    }[];
    const level = uid === undefined && isRoot ? 'uid' : 'namespace';
    expect(all.map((s) => [s.plugin_id, s.isolation.level])).toEqual([
      ['ctf', level],
      ['probe', level],
    ]);
    if (level === 'uid') {
      const uids = all.map((s) => s.isolation.uid!);
      for (const u of uids) {
        expect(u).toBeGreaterThanOrEqual(PLUGIN_UID_MIN);
        expect(u).toBeLessThanOrEqual(PLUGIN_UID_MAX);
      }
      expect(new Set(uids).size).toBe(2);
      expect(got.uid).toBe(uids[1]);
    }

    // Uninstalled, nothing of the probe is left running (as root: no process of its uid at all).
    const probePid = (await svc.call('GET', '/admin/plugins/probe/status')).body.replicas[0].pid as number;
    expect((await svc.call('DELETE', '/admin/plugins/probe')).status).toBe(200);
    expect(() => process.kill(probePid, 0)).toThrow();
    if (level === 'uid') expect(processesOfUid(got.uid)).toEqual([]);
  } finally {
    await svc.stop();
    await stopAllUnder(root);
  }
}

describe('a hostile plugin', () => {
  it('as root: each plugin runs under a uid of its own, and reads, writes and signals nothing of CoreService or another plugin', async (ctx) => {
    if (!isRoot) {
      skipLoudly('uid isolation of plugins', 'the tests do not run as root');
      return ctx.skip();
    }
    await attack();
  }, 300_000);

  it('CoreService not root: bubblewrap keeps each replica in namespaces of its own, with the same outcome', async (ctx) => {
    if (!isRoot) {
      skipLoudly(
        'the bubblewrap path run as another user',
        'the tests do not run as root, so they cannot start CoreService as nobody',
      );
      return ctx.skip();
    }
    if (!bubblewrapHere()) return ctx.skip();
    await attack(NOBODY);
  }, 300_000);
});
