// The contract every install backend keeps, as one suite each backend's test calls with what it
// can do: prepare, start, health, status, environment, logs, stop, remove, leftovers; several
// replicas; pause. Run on real example plugins with real processes. A backend declares its
// capabilities and the suite consults them: it never asks which backend it is testing, so the
// docker, systemd and slurm backends will call it exactly as process and uv do.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstallMethod } from '@magellon/hub-core';
import { readManifest } from '@magellon/hub-core/node';
import { afterAll, afterEach, describe, expect, it as vitestIt } from 'vitest';
import { REPO } from '../../functions/test/harness';
import { runDir, venvDir, venvPython } from '../src/layout';
import type { Backend, PluginRuntime } from '../src/runtime/backend';
import { probeHealth, waitHealthy } from '../src/runtime/health';
import { type HostFacts, probeHost } from '../src/runtime/host';
import { pluginEnv } from '../src/runtime/settings';
import { alive, expectFailure, scratchDir, stopAllUnder } from './helpers';

/** What a backend can do, as it declares it; the suite checks each claim either way. */
export interface BackendCapabilities {
  /** The suite's title. */
  name: string;
  /** The example plugin (examples/plugins/<id>) it runs, through the install entry of `method`. */
  plugin: string;
  method: InstallMethod;
  /** It runs plugins with python3: on a host without one (nor uv), unavailable() says python3. */
  needsPython: boolean;
  /** prepare builds a venv (layout.ts's venv dir) whose interpreter runs the replicas. */
  preparesVenv: boolean;
  /** pause and unpause freeze and thaw a plugin (containers); otherwise it has neither. */
  pause: boolean;
  /** It runs several replicas of a version; otherwise asking for more than one is `unsupported`. */
  scale: boolean;
  /**
   * Its engine restarts a replica that ends as the manifest's restart policy says (docker's
   * `--restart`, systemd's `Restart=`), so the supervisor leaves it alone; otherwise an ended
   * replica stays ended.
   */
  restartsItself?: boolean;
  /** Why the engine it needs is not here (its test file said so loudly): every test is skipped. */
  skip?: () => string | undefined;
  /**
   * Changes the example's files before its manifest is read, for a method the example ships no
   * install entry of (it adds one).
   */
  editExample?: (dir: string) => void;
  /** What prepare's progress lines say, when it says anything. */
  prepareSays?: RegExp;
  /**
   * A test fixture for prepare (a fake tool on PATH): `pathPrepend` is put first on PATH while the
   * test runs, and `afterPrepare` checks what it saw.
   */
  fixture?: () => { pathPrepend?: string; afterPrepare?: (rt: PluginRuntime) => void | Promise<void> };
}

/**
 * An example plugin laid out as CoreService installs it: `<scratch>/<n>/<id>/1.0.0/` holding its
 * files (`edit` may change them first), as the runtime a backend gets.
 */
export function installedExample(
  scratch: string,
  id: string,
  method: InstallMethod,
  edit: (dir: string) => void = () => {},
): PluginRuntime {
  const home = join(scratchDir('home-', scratch), id);
  const dir = join(home, '1.0.0');
  mkdirSync(home, { recursive: true });
  cpSync(join(REPO, 'examples', 'plugins', id), dir, { recursive: true, dereference: true });
  const m = join(dir, 'manifest.yaml');
  writeFileSync(m, readFileSync(m, 'utf8').replace(/^version:.*$/m, 'version: 1.0.0'));
  edit(dir);
  const parsed = readManifest(readFileSync(m, 'utf8'), 'manifest.yaml');
  if (!parsed.ok) throw new Error(parsed.findings[0]?.message);
  const entry = parsed.manifest.install.find((e) => e.method === method);
  if (!entry) throw new Error(`examples/plugins/${id} has no ${method} install entry`);
  return { pluginId: id, version: '1.0.0', home, dir, manifest: parsed.manifest, entry };
}

/** Children of this process that follow logs (`docker logs --follow`, `tail -f`): a follow leaves none. */
export function followers(): number[] {
  return readdirSync('/proc').flatMap((p) => {
    if (!/^\d+$/.test(p)) return [];
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return ppid === process.pid &&
        argv.includes('logs') &&
        (argv.includes('--follow') || argv.includes('-f'))
        ? [Number(p)]
        : [];
    } catch {
      return [];
    }
  });
}

/** The environment a live process really has. */
export const environ = (pid: number) =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );

/** The suite, for one backend: `makeBackend` gives a fresh one, `caps` says what it can do. */
export function describeBackendContract(makeBackend: () => Backend, caps: BackendCapabilities): void {
  describe(`backend contract: ${caps.name}`, () => {
    const scratch = scratchDir('coreservice-contract-');
    const backend = makeBackend();
    const path = process.env.PATH;
    const example = (edit?: (dir: string) => void) =>
      installedExample(scratch, caps.plugin, caps.method, (d) => {
        caps.editExample?.(d);
        edit?.(d);
      });
    afterEach(() => {
      process.env.PATH = path;
    });
    afterAll(async () => {
      await stopAllUnder(scratch);
      rmSync(scratch, { recursive: true, force: true });
    });
    /** A test of the suite, skipped when the backend's engine is not here. */
    const it = (name: string, fn: () => Promise<void>, timeout?: number) =>
      vitestIt(name, async (ctx) => (caps.skip?.() ? ctx.skip() : fn()), timeout);

    it('serves the method it is registered for, and says whether it can run here', async () => {
      expect(backend.method).toBe(caps.method);
      const host = await probeHost();
      expect(backend.unavailable(host)).toBeUndefined();
      const bare: HostFacts = { ...host, python: undefined, hasBinary: () => false };
      if (caps.needsPython) expect(backend.unavailable(bare)).toMatch(/python3/);
      else expect(backend.unavailable(bare)).toBeUndefined();
    });

    it('prepare → start → healthy → status, env, logs → stop → remove', async () => {
      const fixture = caps.fixture?.();
      if (fixture?.pathPrepend) process.env.PATH = `${fixture.pathPrepend}:${path}`;
      const rt = example();
      const lines: string[] = [];
      await backend.prepare(rt, (l) => lines.push(l));
      const venv = venvDir(rt.home, rt.version);
      expect(existsSync(venvPython(venv))).toBe(caps.preparesVenv);
      if (caps.prepareSays) expect(lines.join('\n')).toMatch(caps.prepareSays);
      await fixture?.afterPrepare?.(rt);

      const id = caps.plugin;
      const env = pluginEnv(rt, {
        settings: {
          file: { [id]: { greeting: 'hello', api_token: 'sekret' } },
          env: {
            [`MAGELLON_PLUGIN_${id.toUpperCase()}_LOG_LEVEL`]: 'debug',
            MAGELLON_ADMIN_TOKEN: 'never-passed',
          },
        },
      });
      process.env.MAGELLON_ADMIN_TOKEN = 'never-passed-either';
      try {
        await backend.start(rt, { replicas: 1, env });
      } finally {
        delete process.env.MAGELLON_ADMIN_TOKEN;
      }
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
      expect(r).toMatchObject({ replica: 0, state: 'running', host: '127.0.0.1', restarts: 0 });
      expect(await probeHealth(r!.host!, r!.port!, rt)).toBe(true);
      const seen = environ(r!.pid!);
      const prefix = `MAGELLON_PLUGIN_${id.toUpperCase()}_`;
      expect(seen[`${prefix}GREETING`]).toBe('hello');
      expect(seen[`${prefix}LOG_LEVEL`]).toBe('debug');
      expect(seen[`${prefix}DATA_DIR`]).toBe(join(rt.home, 'data'));
      expect(seen.MAGELLON_REPLICA_ID).toBe(`${id}-0`);
      expect(Object.keys(seen).filter((k) => k.includes('ADMIN_TOKEN'))).toEqual([]);
      expect(readFileSync(`/proc/${r!.pid}/cmdline`, 'utf8').includes(venv)).toBe(caps.preparesVenv);

      expect((await backend.logs(rt, 50)).length).toBeGreaterThan(0);
      expect(await backend.logs(rt, 1)).toHaveLength(1);
      // What it holds of the version is its own to report (doctor asks), unless it is the installed one.
      expect(await backend.leftovers(rt.home)).toEqual(['1.0.0']);
      expect(await backend.leftovers(rt.home, '1.0.0')).toEqual([]);

      await backend.stop(rt);
      expect(alive(r!.pid!)).toBe(false);
      expect((await backend.status(rt)).map((x) => x.state)).toEqual(['stopped']);
      await backend.remove(rt);
      expect(await backend.status(rt)).toEqual([]);
      expect(await backend.leftovers(rt.home)).toEqual([]);
      expect(existsSync(runDir(rt.home, rt.version))).toBe(false);
      expect(existsSync(venv)).toBe(false);
      // The version's files are CoreService's, not the backend's.
      expect(existsSync(join(rt.dir, 'manifest.yaml'))).toBe(true);
    }, 60_000);

    it('remove alone, with no manifest, stops what still runs and leaves nothing of the version', async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
      // What doctor and retire have after a crash: the plugin, its home and the version's name.
      await backend.remove({ pluginId: rt.pluginId, home: rt.home, version: rt.version });
      expect(alive(r!.pid!)).toBe(false);
      expect(await backend.leftovers(rt.home)).toEqual([]);
      await backend.remove({ pluginId: rt.pluginId, home: rt.home, version: rt.version });
    }, 60_000);

    it(caps.scale
      ? 'runs several replicas, each told its own id; scaling keeps replica 0 and stops only the highest'
      : 'refuses more than one replica', async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      if (!caps.scale) {
        await expectFailure(backend.start(rt, { replicas: 2, env: pluginEnv(rt) }), 'unsupported');
        await backend.remove(rt);
        return;
      }
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [first] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
      expect(first!.ref).toEqual(expect.any(String));
      // Up: replica 0 is the same process under the same engine name; replica 1 is new.
      await backend.start(rt, { replicas: 2, env: pluginEnv(rt) });
      const both = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
      expect(both.map((r) => r.replica)).toEqual([0, 1]);
      expect([both[0]!.pid, both[0]!.ref, both[0]!.started_at]).toEqual([
        first!.pid,
        first!.ref,
        first!.started_at,
      ]);
      expect(new Set(both.map((r) => r.pid)).size).toBe(2);
      expect(new Set(both.map((r) => r.ref)).size).toBe(2);
      expect(both.map((r) => environ(r.pid!).MAGELLON_REPLICA_ID)).toEqual([
        `${caps.plugin}-0`,
        `${caps.plugin}-1`,
      ]);
      const logs = await backend.logs(rt, 100);
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.every((l) => /^\[[01]\] /.test(l))).toBe(true);
      // Down: only replica 1 goes; replica 0 serves on, untouched.
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const one = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
      expect(one.map((r) => [r.replica, r.pid, r.ref])).toEqual([[0, first!.pid, first!.ref]]);
      expect(alive(both[1]!.pid!)).toBe(false);
      expect(await probeHealth(first!.host!, first!.port!, rt)).toBe(true);
      // Stopped, a start makes replica 0 anew.
      await backend.stop(rt);
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const again = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
      expect(again.map((r) => r.replica)).toEqual([0]);
      expect(alive(first!.pid!)).toBe(false);
      await backend.remove(rt);
    }, 60_000);

    it(caps.pause ? 'pauses and unpauses a running plugin' : 'has no pause or unpause', async () => {
      if (!caps.pause) {
        expect(backend.pause).toBeUndefined();
        expect(backend.unpause).toBeUndefined();
        return;
      }
      const rt = example();
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
      await backend.pause!(rt);
      expect(await probeHealth(r!.host!, r!.port!, rt, 500)).toBe(false);
      await backend.unpause!(rt);
      expect(await probeHealth(r!.host!, r!.port!, rt)).toBe(true);
      await backend.remove(rt);
    }, 60_000);

    it(caps.restartsItself
      ? 'restarts a replica that fails, up to restart_max_retries, by itself'
      : 'leaves a replica that fails ended (the supervisor restarts it)', async () => {
      const rt = example((d) => {
        writeFileSync(
          join(d, 'main.py'),
          'import sys\nprint("failing on purpose", file=sys.stderr)\nsys.exit(1)\n',
        );
        const m = join(d, 'manifest.yaml');
        const text = readFileSync(m, 'utf8').replace(/^(\s*restart_(policy|max_retries):.*\n)+/m, '');
        writeFileSync(
          m,
          text.replace(
            /^lifecycle:.*\n/m,
            'lifecycle:\n  restart_policy: on-failure\n  restart_max_retries: 2\n',
          ),
        );
      });
      expect(rt.manifest.lifecycle).toEqual({ restart_policy: 'on-failure', restart_max_retries: 2 });
      expect(backend.restartsItself ?? false).toBe(caps.restartsItself ?? false);
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const want = caps.restartsItself ? 2 : 0;
      // It ends for good after `want` restarts, each a new run that fails again and says so.
      const runs = async () => (await backend.logs(rt, 100)).filter((l) => l.includes('failing on purpose'));
      await expect
        .poll(
          async () => [
            ...(await backend.status(rt)).map((r) => [r.state, r.restarts]),
            (await runs()).length,
          ],
          { timeout: 30_000, interval: 200 },
        )
        .toEqual([['exited', want], want + 1]);
      await backend.remove(rt);
    }, 60_000);

    it('follows its logs: the last lines, then each new one in order, across a restart, until aborted', async () => {
      // Three lines at start, three more once the test leaves a file in its data dir.
      const rt = example((d) =>
        writeFileSync(
          join(d, 'main.py'),
          [
            'import os, sys, time',
            'data = next(v for k, v in os.environ.items() if k.endswith("_DATA_DIR"))',
            'def say(i): print(f"follow line {i}", file=sys.stderr, flush=True)',
            'for i in (1, 2, 3): say(i)',
            'while not os.path.exists(os.path.join(data, "more")): time.sleep(0.1)',
            'for i in (4, 5, 6): say(i)',
            'time.sleep(600)',
            '',
          ].join('\n'),
        ),
      );
      await backend.prepare(rt, () => {});
      mkdirSync(join(rt.home, 'data'), { recursive: true, mode: 0o755 });
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      await expect
        .poll(async () => (await backend.logs(rt, 10)).filter((l) => l.includes('follow line')).length, {
          timeout: 30_000,
          interval: 200,
        })
        .toBe(3);
      const got: { replica: number; line: string }[] = [];
      const stop = new AbortController();
      const following = backend.follow(rt, { tail: 2, signal: stop.signal }, (l) => got.push(l));
      const lines = () => got.map((l) => l.line).filter((l) => l.includes('follow line'));
      await expect
        .poll(lines, { timeout: 15_000, interval: 100 })
        .toEqual(['follow line 2', 'follow line 3']);
      writeFileSync(join(rt.home, 'data', 'more'), '');
      await expect
        .poll(lines, { timeout: 15_000, interval: 100 })
        .toEqual([2, 3, 4, 5, 6].map((i) => `follow line ${i}`));
      expect(new Set(got.map((l) => l.replica))).toEqual(new Set([0]));
      // Stopped and started again (a new process, record, job or container): the follow keeps up.
      await backend.stop(rt, { graceMs: 1_000 });
      rmSync(join(rt.home, 'data', 'more'));
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      await expect
        .poll(lines, { timeout: 30_000, interval: 100 })
        .toEqual([2, 3, 4, 5, 6, 1, 2, 3].map((i) => `follow line ${i}`));
      expect(new Set(got.map((l) => l.replica))).toEqual(new Set([0]));
      stop.abort();
      await following;
      // Nothing it started is left (a `docker logs --follow` child, say), and nothing more arrives.
      expect(followers()).toEqual([]);
      const after = got.length;
      await backend.remove(rt);
      expect(got.length).toBe(after);
    }, 90_000);

    it('a plugin that dies at start fails the health check at once, with its last log lines', async () => {
      const rt = example((d) =>
        writeFileSync(
          join(d, 'main.py'),
          'import sys\nprint("boom: missing model", file=sys.stderr)\nsys.exit(4)\n',
        ),
      );
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const t0 = Date.now();
      const err = await expectFailure(waitHealthy(backend, rt, { timeoutMs: 20_000 }), 'unhealthy');
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(err.details.join('\n')).toContain('boom: missing model');
      await backend.remove(rt);
    }, 30_000);
  });
}
