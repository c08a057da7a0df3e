// Install, upgrade, failed upgrade, downgrade, uninstall and kill -9 mid-upgrade of a plugin whose
// only install entry is docker (resp. slurm), from a hub on 127.0.0.1, against a real private
// dockerd (resp. one-node Slurm cluster; infra/engines.ts). One journey, run for each engine: the
// old version answers while the new one starts, and afterwards the engine holds exactly one
// version's containers and images (resp. jobs) — the installed one. An engine that cannot run here
// is skipped after one loud line (under HUB_REQUIRE_ALL=1 it fails instead).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type TestServer } from '../../functions/test/servers';
import { startDocker, startSlurm } from '../../infra/engines';
import { installFromHub, readReceipt, uninstall } from '../src/install';
import { pluginStatus } from '../src/lifecycle';
import { probeHealth } from '../src/runtime/health';
import { upgradeFromHub } from '../src/upgrade';
import { buildCatalogWithPlugin, installOnly } from './fixtures';
import {
  cleanCoreserviceEnv,
  expectFailure,
  repairedStatus,
  runCoreservice,
  scratchDir,
  snapshot,
  startServe,
  stopAllUnder,
} from './helpers';

/** What an engine is to the journey: how a plugin is installed on it, and what it holds of one. */
interface Engine {
  name: 'docker' | 'slurm';
  /** The plugin's install section: this engine's entry only. */
  install: string;
  /** Variables CoreService needs to reach the engine (set here, and given to the CLI it runs). */
  env: Record<string, string>;
  /**
   * What the engine holds of a plugin home, as `<kind> <version>` sorted (`container 1.0.0`,
   * `image 1.0.0`, `job 1.0.0`), asked of the engine itself (not of CoreService's records).
   */
  held(home: string): string[];
  /** Everything the engine holds, whoever made it, labelled or not (image layers, every job). */
  all(): string[];
  /** Makes a plugin's prepare fail on this engine (a build step, a dependency that is nowhere). */
  breakPrepare(dir: string): void;
  stop(): Promise<void>;
}

const run = (cmd: string, args: string[], env: Record<string, string>) =>
  execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } })
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/**
 * Every version offers uv before the engine's method, and is installed with the engine's method
 * asked for: an upgrade must keep the method the installed version runs with, not take the first.
 */
const UV_FIRST = '  - method: uv\n    pyproject: pyproject.toml\n';

async function dockerEngine(): Promise<Engine | undefined> {
  const engine = await startDocker();
  if (!engine) return undefined;
  const env = {
    ...engine.env,
    MAGELLON_DOCKER_CLI: engine.docker,
    MAGELLON_DOCKER_BASE_IMAGE: engine.baseImage,
  };
  const docker = (...args: string[]) => run(engine.docker, args, env);
  return {
    name: 'docker',
    install: `${UV_FIRST}  - method: docker\n    dockerfile: Dockerfile\n    build_context: .\n`,
    env,
    held: (home) => {
      const label = ['--filter', `label=org.magellon.home=${home}`];
      const version = '{{index .Config.Labels "org.magellon.version"}}';
      const containers = docker('ps', '-aq', ...label);
      const images = docker('image', 'ls', '-q', ...label);
      return [
        ...(containers.length ? docker('inspect', '--format', version, ...containers) : []).map(
          (v) => `container ${v}`,
        ),
        ...(images.length ? docker('image', 'inspect', '--format', version, ...new Set(images)) : []).map(
          (v) => `image ${v}`,
        ),
      ].sort();
    },
    all: () => [...docker('ps', '-aq', '--no-trunc'), ...docker('image', 'ls', '-aq', '--no-trunc')].sort(),
    breakPrepare: (dir) =>
      writeFileSync(
        join(dir, 'Dockerfile'),
        `${readFileSync(join(dir, 'Dockerfile'), 'utf8')}\nRUN echo "cannot build: no GPU" && exit 3\n`,
      ),
    stop: engine.stop,
  };
}

async function slurmEngine(): Promise<Engine | undefined> {
  const cluster = await startSlurm();
  if (!cluster) return undefined;
  return {
    name: 'slurm',
    install: `${UV_FIRST}  - method: slurm\n    pyproject: pyproject.toml\n`,
    env: cluster.env,
    // Jobs pending, running, suspended or completing (squeue's default), named
    // magellon-<id>-<version>-r<n>, with the plugin home as their comment.
    held: (home) =>
      run('squeue', ['-h', '-o', '%j|%k'], cluster.env)
        .map((l) => l.split('|'))
        .filter(([, comment]) => comment === home)
        .map(([name]) => `job ${name!.replace(`magellon-${basename(home)}-`, '').replace(/-r\d+$/, '')}`)
        .sort(),
    all: () => run('squeue', ['-h', '-o', '%i'], cluster.env).sort(),
    breakPrepare: (dir) => {
      const p = join(dir, 'pyproject.toml');
      writeFileSync(
        p,
        readFileSync(p, 'utf8').replace('dependencies = []', 'dependencies = ["magellon-nowhere==1.0"]'),
      );
    },
    stop: cluster.stop,
  };
}

/** Every path under a plugin home that names `version` as a folder or file of its own. */
const pathsOf = (home: string, version: string) =>
  readdirSync(home, { recursive: true, encoding: 'utf8' }).filter((p) => p.split(sep).includes(version));

for (const [name, startEngine] of [
  ['docker', dockerEngine],
  ['slurm', slurmEngine],
] as const) {
  describe(`upgrades of a plugin whose only install entry is ${name}`, () => {
    const id = `fft-${name}`;
    const root = scratchDir(`coreservice-upgrade-${name}-`);
    let engine: Engine | undefined;
    let server: TestServer | undefined;
    const hub = () => server!.url;
    const saved = new Map<string, string | undefined>();
    let n = 0;
    const fresh = () => scratchDir(`plugins-${n++}-`, root);

    beforeAll(async () => {
      engine = await startEngine();
      if (!engine) return;
      // CoreService finds the engine as it would in production: in its environment.
      for (const [k, v] of Object.entries(engine.env)) {
        saved.set(k, process.env[k]);
        process.env[k] = v;
      }
      const only = (d: string) => installOnly(d, engine!.install);
      const build = await buildCatalogWithPlugin(root, 'fft', id, [
        { version: '1.0.0', mutate: only },
        { version: '1.1.0', mutate: only },
        {
          // Starts, never announces itself: its health check never passes.
          version: '1.2.0',
          mutate: (d) => {
            only(d);
            writeFileSync(join(d, 'main.py'), 'import time\nwhile True:\n    time.sleep(1)\n');
          },
        },
        {
          // Its prepare fails: a build step, or a dependency the archive does not carry.
          version: '1.3.0',
          mutate: (d) => {
            only(d);
            engine!.breakPrepare(d);
          },
        },
      ]);
      server = await startNode(build);
    }, 900_000);

    afterAll(async () => {
      await stopAllUnder(root);
      await server?.close();
      await engine?.stop();
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }, 120_000);

    /** The plugin's one replica, checked healthy: its version, pid and address. */
    async function serving(dir: string) {
      const s = await pluginStatus(dir, id);
      expect(s.state).toBe('running');
      expect(s.replicas).toHaveLength(1);
      const r = s.replicas[0]!;
      expect(await probeHealth(r.host!, r.port!, { pluginId: id, version: s.version })).toBe(true);
      return { version: s.version, pid: r.pid!, host: r.host!, port: r.port! };
    }

    /** Installs 1.0.0 from the hub into a new plugins dir: the dir, the home and the running replica. */
    async function installed() {
      const dir = fresh();
      const receipt = await installFromHub({
        pluginsDir: dir,
        hubs: [hub()],
        pluginId: id,
        version: '1.0.0',
        method: name,
      });
      expect(receipt.method).toBe(name);
      const home = join(dir, id);
      const old = await serving(dir);
      expect(engine!.held(home)).toEqual(
        name === 'docker' ? ['container 1.0.0', 'image 1.0.0'] : ['job 1.0.0'],
      );
      return { dir, home, old };
    }

    const only = (version: string) =>
      name === 'docker' ? [`container ${version}`, `image ${version}`] : [`job ${version}`];

    it('install 1.0.0 → upgrade (the old one answers until the new one is healthy, then only 1.1.0 is left) → downgrade refused, then forced → uninstall --purge leaves nothing', async (ctx) => {
      if (!engine) return ctx.skip();
      const { dir, home, old } = await installed();
      writeFileSync(join(home, 'data', 'results.txt'), 'run 1');

      // While the upgrade runs, the old replica is asked for /health over and over until the switch;
      // and when the new one is started and healthy, both versions are in the engine at once.
      let switched = false;
      const answers: boolean[] = [];
      const poller = (async () => {
        while (!switched) {
          answers.push(await probeHealth(old.host, old.port, { pluginId: id, version: '1.0.0' }));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      let heldAtHealth: string[] = [];
      const oldAtHealth: string[] = [];
      const up = await upgradeFromHub({
        pluginsDir: dir,
        hubs: [hub()],
        pluginId: id,
        to: '1.1.0',
        onEvent: (e) => {
          if (e.stage === 'health') {
            heldAtHealth = engine!.held(home);
            oldAtHealth.push(
              execFileSync('curl', ['-sf', `http://${old.host}:${old.port}/health`], { encoding: 'utf8' }),
            );
          }
          if (e.stage === 'activate') switched = true;
        },
      }).finally(() => {
        switched = true;
      });
      await poller;
      expect([up.from.version, up.to.version]).toEqual(['1.0.0', '1.1.0']);
      expect(answers.length).toBeGreaterThan(0);
      expect(answers.every(Boolean), `old /health answers during the upgrade: ${answers}`).toBe(true);
      expect(oldAtHealth.map((a) => JSON.parse(a).version)).toEqual(['1.0.0']);
      expect(heldAtHealth).toEqual([...only('1.0.0'), ...only('1.1.0')].sort());

      const now = await serving(dir);
      expect(now.version).toBe('1.1.0');
      expect(await probeHealth(old.host, old.port, { pluginId: id, version: '1.0.0' })).toBe(false);
      expect(engine.held(home)).toEqual(only('1.1.0'));
      expect(pathsOf(home, '1.0.0')).toEqual([]);
      const snaps = readdirSync(join(home, 'snapshots'));
      expect(snaps).toEqual([expect.stringMatching(/^\d{8}T\d{6}Z-1\.0\.0$/)]);
      expect(readdirSync(join(home, 'snapshots', snaps[0]!))).toEqual(['results.txt']);

      const refused = await expectFailure(
        upgradeFromHub({ pluginsDir: dir, hubs: [hub()], pluginId: id, to: '1.0.0' }),
        'not-newer',
      );
      expect(refused.message).toMatch(/1\.0\.0 is not newer than the installed 1\.1\.0/);
      expect(await serving(dir)).toEqual(now);
      expect(engine.held(home)).toEqual(only('1.1.0'));

      const down = await upgradeFromHub({
        pluginsDir: dir,
        hubs: [hub()],
        pluginId: id,
        to: '1.0.0',
        forceDowngrade: true,
      });
      expect(down.to).toMatchObject({ version: '1.0.0', method: name });
      const back = await serving(dir);
      expect(back.version).toBe('1.0.0');
      expect(engine.held(home)).toEqual(only('1.0.0'));
      expect(pathsOf(home, '1.1.0')).toEqual([]);

      await uninstall(dir, id, { purge: true });
      expect(engine.held(home)).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
      expect(await probeHealth(back.host, back.port, { pluginId: id, version: '1.0.0' })).toBe(false);
    }, 300_000);

    it('an upgrade whose new version never gets healthy, or fails to prepare: the old one serves on, nothing of the new one is left in the engine or the dir, the receipt says 1.0.0', async (ctx) => {
      if (!engine) return ctx.skip();
      const { dir, home, old } = await installed();
      const before = { files: snapshot(dir), engine: engine.all() };
      await expectFailure(
        upgradeFromHub({
          pluginsDir: dir,
          hubs: [hub()],
          pluginId: id,
          to: '1.2.0',
          run: { healthTimeoutMs: 4_000 },
        }),
        'unhealthy',
      );
      expect(await serving(dir)).toEqual(old);
      expect(engine.held(home)).toEqual(only('1.0.0'));
      expect({ files: snapshot(dir), engine: engine.all() }).toEqual(before);
      expect(pathsOf(home, '1.2.0')).toEqual([]);
      expect(readReceipt(dir, id)?.version).toBe('1.0.0');

      // One whose prepare fails: nothing of it stays in the engine either (no layer of a half
      // build), and the dir is as it was.
      const err = await expectFailure(
        upgradeFromHub({ pluginsDir: dir, hubs: [hub()], pluginId: id, to: '1.3.0' }),
        'backend-failed',
      );
      expect(err.message).toMatch(
        name === 'docker' ? /docker build of fft-docker 1\.3\.0 failed/ : /magellon-nowhere/,
      );
      expect(await serving(dir)).toEqual(old);
      expect({ files: snapshot(dir), engine: engine.all() }).toEqual(before);
      expect(readReceipt(dir, id)?.version).toBe('1.0.0');
      await uninstall(dir, id);
      expect(engine.held(home)).toEqual([]);
    }, 300_000);

    // Where `coreservice upgrade` kills itself (crash.ts), and what repairs the dir afterwards.
    const crashes = [
      ['prepare', 'doctor'],
      ['health', 'doctor'],
      ['health', 'serve'],
      ['switch', 'doctor'],
    ] as const;
    for (const [stage, repair] of crashes) {
      const switched = stage === 'switch';
      it(`kill -9 of CoreService at ${stage}${stage === 'health' ? ' (the new version runs beside the old, the receipt not switched)' : ''}, then ${repair}: only the ${switched ? 'new' : 'old'} version is left`, async (ctx) => {
        if (!engine) return ctx.skip();
        const { dir, home, old } = await installed();
        const killed = await runCoreservice(
          ['--unsigned', '--hub', hub(), '--plugins-dir', dir, 'upgrade', id, '--to', '1.1.0'],
          { env: cleanCoreserviceEnv({ ...engine.env, MAGELLON_CORESERVICE_CRASH_AT: stage }) },
        );
        expect(killed.signal, killed.stderr).toBe('SIGKILL');
        expect(readReceipt(dir, id)?.version).toBe(switched ? '1.1.0' : '1.0.0');
        // Killed at health or later: both versions are running in the engine at once.
        if (stage !== 'prepare')
          expect(engine.held(home)).toEqual([...only('1.0.0'), ...only('1.1.0')].sort());
        const running = switched ? await serving(dir) : old;

        if (repair === 'doctor') {
          const r = await runCoreservice(['--plugins-dir', dir, 'doctor', '--json'], {
            env: cleanCoreserviceEnv(engine.env),
          });
          expect(r.code, r.stderr).toBe(0);
          const report = JSON.parse(r.stdout).result as { removed: { path: string }[] };
          expect(report.removed.map((x) => x.path)).toContain(`${id}/${switched ? '1.0.0' : '1.1.0'}`);
        } else {
          const svc = await startServe(dir, hub(), engine.env);
          try {
            expect(await repairedStatus(svc.url, id)).toMatchObject({ state: 'running', version: '1.0.0' });
          } finally {
            await svc.stop();
          }
        }
        const kept = switched ? '1.1.0' : '1.0.0';
        expect(engine.held(home)).toEqual(only(kept));
        expect(await serving(dir), 'the installed version ran on, never restarted').toEqual(running);
        expect(running.version).toBe(kept);
        expect(pathsOf(home, switched ? '1.0.0' : '1.1.0')).toEqual([]);
        expect(existsSync(join(dir, '.staging'))).toBe(false);
        await uninstall(dir, id);
        expect(engine.held(home)).toEqual([]);
      }, 300_000);
    }
  });
}
