// The docker backend against a real, private dockerd (infra/engines.ts: Debian's docker.io, the
// registry-free hub-python:3.11 base image): the backend contract with what docker declares, then
// what only containers do — the user, capabilities and read-only root each replica gets, docker's
// own restart policies, the environment kept off command lines, a manifest's own image, build
// contexts that try to leave the version, and remove by label. When no engine can run here the
// whole file is skipped after one loud line (under HUB_REQUIRE_ALL=1 it fails instead).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DockerEngine, startDocker } from '../../infra/engines';
import { doctor } from '../src/doctor';
import { installFromFile, uninstall } from '../src/install';
import { brokerSettingsFile, containerImageFile, containersDir, dataDir } from '../src/layout';
import { type PluginStatus, pausePlugin, pluginStatus, scalePlugin } from '../src/lifecycle';
import { containerImageSchema, writeRecord } from '../src/records';
import type { PluginRuntime } from '../src/runtime/backend';
import {
  DockerBackend,
  dockerNetworkProblem,
  imageTag,
  isImageRef,
  restartFlag,
} from '../src/runtime/docker';
import { probeHealth, waitHealthy } from '../src/runtime/health';
import { probeHost } from '../src/runtime/host';
import { pluginEnv } from '../src/runtime/settings';
import { backoffMs, Supervisor, type SupervisorEvent } from '../src/runtime/supervisor';
import { type RunningService, serveCoreService } from '../src/service/serve';
import { describeBackendContract, installedExample } from './backend-contract';
import { packVariant } from './fixtures';
import {
  adminCall,
  cleanCoreserviceEnv,
  expectFailure,
  runCoreservice,
  scratchDir,
  stopAllUnder,
} from './helpers';

/** Every test's files: removed once the file is done, whichever of its tests ran. */
const root = scratchDir('coreservice-docker-');
let engine: DockerEngine | undefined;
let skipped: string | undefined = 'the docker engine has not been started';
const saved = new Map<string, string | undefined>();

beforeAll(async () => {
  engine = await startDocker();
  if (!engine) {
    skipped = 'no docker engine here (said above)';
    return;
  }
  skipped = undefined;
  // The backend (and the host probe) find the engine as CoreService would: in its environment.
  const env = {
    ...engine.env,
    MAGELLON_DOCKER_CLI: engine.docker,
    MAGELLON_DOCKER_BASE_IMAGE: engine.baseImage,
  };
  for (const [k, v] of Object.entries(env)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
}, 600_000);

afterAll(async () => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await engine?.stop();
  rmSync(root, { recursive: true, force: true });
}, 120_000);

describeBackendContract(() => new DockerBackend(), {
  name: 'docker (real dockerd)',
  plugin: 'fft',
  method: 'docker',
  needsPython: false,
  preparesVenv: false,
  pause: true,
  scale: true,
  restartsItself: true,
  prepareSays: /docker build --network=none, FROM hub-python:3\.11/,
  skip: () => skipped,
});

/** `docker …` against the test engine; its stdout. */
const docker = (...args: string[]) =>
  execFileSync(engine!.docker, args, { env: { ...process.env, ...engine!.env }, encoding: 'utf8' });

/** The names of the containers (running or not) of a plugins dir's plugin home. */
const containerNameOf = (home: string) =>
  docker('ps', '-a', '--filter', `label=org.magellon.home=${home}`, '--format', '{{.Names}}').trim();

/** The full ids of the containers (running or not) of a plugin home; '' when there are none. */
const containerIdsOf = (home: string) =>
  docker('ps', '-aq', '--no-trunc', '--filter', `label=org.magellon.home=${home}`).trim();

/** `docker inspect` of one container. */
const inspect = (name: string) => JSON.parse(docker('inspect', '--type', 'container', name))[0];

describe('the docker backend on a real dockerd', () => {
  const scratch = scratchDir('real-', root);
  const example = (edit?: (dir: string) => void) => installedExample(scratch, 'fft', 'docker', edit);
  const running = (rt: PluginRuntime) => waitHealthy(new DockerBackend(), rt, { timeoutMs: 30_000 });
  /** The example as uid isolation runs it: its own uid and gid, its data dir writable by it. */
  const underOwnUid = (base: PluginRuntime, uid: number): PluginRuntime => {
    mkdirSync(dataDir(base.home), { recursive: true });
    chmodSync(dataDir(base.home), 0o777);
    return {
      ...base,
      sandbox: {
        level: 'uid',
        identity: { uid, gid: uid },
        pluginsDir: join(base.home, '..'),
        readOnly: [base.dir],
        writable: [dataDir(base.home)],
        masked: [],
      },
    };
  };

  it('runs a replica as the plugin’s uid, without capabilities or new privileges, on a read-only root, labelled', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const rt = underOwnUid(example(), 61999);
    await backend.prepare(rt, () => {});
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    const [r] = await running(rt);
    const c = inspect(`magellon-fft-1.0.0-r0-${imageTag(rt).split('-').at(-1)}`);
    expect(c.Config.User).toBe('61999:61999');
    expect(c.Config.Labels).toMatchObject({
      'org.magellon.plugin': 'fft',
      'org.magellon.version': '1.0.0',
      'org.magellon.replica': '0',
      'org.magellon.home': rt.home,
    });
    expect(c.HostConfig).toMatchObject({
      NetworkMode: 'host',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Tmpfs: { '/tmp': '' },
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
      Memory: 256 * 1024 * 1024,
      PidsLimit: 4096,
    });
    expect(c.Mounts).toEqual([
      expect.objectContaining({
        Type: 'bind',
        Source: dataDir(rt.home),
        Destination: dataDir(rt.home),
        RW: true,
      }),
    ]);
    expect([c.Path, ...c.Args]).toEqual(['python3', 'main.py', '--port', '0', '--host', '127.0.0.1']);
    // What the kernel says of the plugin's process.
    const status = readFileSync(`/proc/${r!.pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+61999\s+61999\s+61999\s+61999$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    const write = (path: string) =>
      execFileSync(engine!.docker, ['exec', c.Id, 'sh', '-c', `touch ${path} && echo ok`], {
        env: { ...process.env, ...engine!.env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    expect(() => write('/plugin/x')).toThrow(/Read-only file system/);
    expect(write('/tmp/x').trim()).toBe('ok');
    expect(write(join(dataDir(rt.home), 'x')).trim()).toBe('ok');
    await backend.remove(rt);
    expect(containerIdsOf(rt.home)).toBe('');
    expect(docker('image', 'ls', '-q', '--filter', `label=org.magellon.home=${rt.home}`).trim()).toBe('');
  }, 120_000);

  it('hands a replica the broker: its URL in the environment, the SDK settings file readable by it alone, read-only', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const rt = underOwnUid(example(), 61998);
    const env = pluginEnv(rt, { brokerUrl: 'amqp://hub:pw-in-docker@127.0.0.1:5672/' });
    await backend.prepare(rt, () => {});
    try {
      await backend.start(rt, { replicas: 1, env });
      await running(rt);
      const c = inspect(containerNameOf(rt.home));
      expect(c.Config.Env).toContain('MAGELLON_BROKER_URL=amqp://hub:pw-in-docker@127.0.0.1:5672/');
      expect(c.Config.Env).toContain(`MAGELLON_SETTINGS_FILE=${brokerSettingsFile(rt.home)}`);
      const sh = (script: string) =>
        execFileSync(engine!.docker, ['exec', c.Id, 'sh', '-c', script], {
          env: { ...process.env, ...engine!.env },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      // As the plugin's own uid, inside its container: readable, and not writable.
      const text = sh(`cat ${brokerSettingsFile(rt.home)}`);
      expect(text).toContain('rabbitmq_settings:');
      expect(text).toContain('  PASSWORD: "pw-in-docker"');
      expect(() => sh(`echo x >> ${brokerSettingsFile(rt.home)}`)).toThrow(
        /Read-only file system|Permission denied/,
      );
      // On the host: root's, the plugin's group, 0640 — no other plugin's uid reads it.
      const st = statSync(brokerSettingsFile(rt.home));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 61998, 0o640]);
    } finally {
      await backend.remove(rt);
    }
  }, 120_000);

  it('asks docker for the GPUs the manifest names; a daemon without a GPU runtime refuses, said, and nothing is left', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const base = example();
    const rt: PluginRuntime = {
      ...base,
      manifest: { ...base.manifest, resources: { ...base.manifest.resources, gpu_count: 1 } },
    };
    await backend.prepare(rt, () => {});
    const err = await expectFailure(backend.start(rt, { replicas: 1, env: pluginEnv(rt) }), 'backend-failed');
    // Docker's own answer to --gpus on a host without the NVIDIA runtime: the flag reached it.
    expect(err.message + (err.details ?? []).join('\n')).toMatch(/starting fft 1\.0\.0 \(docker run\)/);
    expect(err.message + (err.details ?? []).join('\n')).toMatch(/capabilities: \[\[gpu\]\]/);
    expect(containerIdsOf(rt.home)).toBe('');
    await backend.remove(rt);
  }, 120_000);

  it('gives docker the manifest’s restart policy', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const rt = example();
    await backend.prepare(rt, () => {});
    const cases = [
      [
        { restart_policy: 'no', restart_max_retries: 5 },
        { Name: 'no', MaximumRetryCount: 0 },
      ],
      [
        { restart_policy: 'on-failure', restart_max_retries: 3 },
        { Name: 'on-failure', MaximumRetryCount: 3 },
      ],
      [
        { restart_policy: 'on-failure', restart_max_retries: 0 },
        { Name: 'on-failure', MaximumRetryCount: 0 },
      ],
      [
        { restart_policy: 'always', restart_max_retries: 5 },
        { Name: 'always', MaximumRetryCount: 0 },
      ],
      [
        { restart_policy: 'unless-stopped', restart_max_retries: 5 },
        { Name: 'unless-stopped', MaximumRetryCount: 0 },
      ],
    ] as const;
    for (const [lifecycle, policy] of cases) {
      const one = { ...rt, manifest: { ...rt.manifest, lifecycle } };
      expect(restartFlag(lifecycle)).toBe(
        policy.MaximumRetryCount ? `${policy.Name}:${policy.MaximumRetryCount}` : policy.Name,
      );
      await backend.start(one, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await backend.status(one);
      expect(r!.state === 'starting' || r!.state === 'running').toBe(true);
      const name = containerNameOf(rt.home);
      expect(inspect(name).HostConfig.RestartPolicy, lifecycle.restart_policy).toEqual(policy);
      // Stopped, the next start makes it anew (a start leaves a running container as it is).
      await backend.stop(one, { graceMs: 1_000 });
    }
    // restartReplica makes the replica anew, counting the restart.
    const before = containerIdsOf(rt.home);
    await backend.restartReplica(rt, 0, { replicas: 1, env: pluginEnv(rt), restarts: 1 });
    const [again] = await running(rt);
    expect(again).toMatchObject({ replica: 0, state: 'running', restarts: 1 });
    expect(containerIdsOf(rt.home)).not.toBe(before);
    // Stopped: the policy is off (an `always` container would come back with the daemon), the
    // container stays, exited, with its logs.
    await backend.stop(rt, { graceMs: 5_000 });
    const name = containerNameOf(rt.home);
    expect(inspect(name).HostConfig.RestartPolicy.Name).toBe('no');
    expect((await backend.status(rt)).map((r) => r.state)).toEqual(['stopped']);
    expect((await backend.logs(rt, 200)).join('\n')).toMatch(/SIGTERM/);
    await backend.remove(rt);
  }, 120_000);

  it('leaves a plugin that fails under restart policy "no" ended, as docker reports it', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const rt = example((d) => {
      writeFileSync(join(d, 'main.py'), 'import sys\nsys.exit(3)\n');
      const m = join(d, 'manifest.yaml');
      writeFileSync(m, readFileSync(m, 'utf8').replace(/restart_policy: on-failure/, 'restart_policy: "no"'));
    });
    expect(rt.manifest.lifecycle.restart_policy).toBe('no');
    await backend.prepare(rt, () => {});
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    await expect
      .poll(async () => (await backend.status(rt)).map((r) => [r.state, r.exit_code, r.restarts]), {
        timeout: 20_000,
        interval: 200,
      })
      .toEqual([['exited', 3, 0]]);
    const name = containerNameOf(rt.home);
    expect(inspect(name)).toMatchObject({ RestartCount: 0, State: { Status: 'exited', ExitCode: 3 } });
    await backend.remove(rt);
  }, 60_000);

  it('keeps the environment off every command line (docker inspect shows it, as it does to root)', async (ctx) => {
    if (skipped) return ctx.skip();
    // A docker CLI that records each command line it is given, then runs the real one.
    const bin = scratchDir('cli-', scratch);
    const calls = join(bin, 'calls');
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> ${calls}\nexec ${engine!.docker} "$@"\n`,
    );
    chmodSync(join(bin, 'docker'), 0o755);
    const backend = new DockerBackend({ cli: join(bin, 'docker') });
    const rt = example();
    const env = pluginEnv(rt, {
      settings: { file: { fft: { api_token: 'sekret-value', greeting: 'hello-value' } } },
      heartbeatUrl: 'http://127.0.0.1:9/internal/heartbeat',
    });
    await backend.prepare(rt, () => {});
    await backend.start(rt, { replicas: 1, env });
    await waitHealthy(backend, rt, { timeoutMs: 30_000 });
    const lines = readFileSync(calls, 'utf8');
    expect(lines).toMatch(/^run -d /m);
    for (const value of ['sekret-value', 'hello-value', env.MAGELLON_HEARTBEAT_TOKEN!])
      expect(lines).not.toContain(value);
    // The env-file is gone once the container exists; the run record masks secrets.
    expect(existsSync(join(containersDir(rt.home, rt.version), 'replica-0.env'))).toBe(false);
    const record = readFileSync(join(containersDir(rt.home, rt.version), 'replica-0.json'), 'utf8');
    expect(record).toContain('hello-value');
    expect(record).not.toContain('sekret-value');
    expect(record).not.toContain(env.MAGELLON_HEARTBEAT_TOKEN!);
    // Whoever may talk to the daemon (root, the docker group) sees the container's environment.
    const [r] = await backend.status(rt);
    const name = containerNameOf(rt.home);
    expect(inspect(name).Config.Env).toContain('MAGELLON_PLUGIN_FFT_API_TOKEN=sekret-value');
    expect(inspect(name).Config.Env.some((e: string) => e.startsWith('PATH=/usr/local/sbin'))).toBe(true);
    expect(r!.given?.environment.MAGELLON_PLUGIN_FFT_API_TOKEN).toBe('***');
    await backend.remove(rt);
  }, 120_000);

  it('a replica reaches the heartbeat URL on the host’s 127.0.0.1 with its secret', async (ctx) => {
    if (skipped) return ctx.skip();
    const beats: { url: string; auth?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c;
      });
      req.on('end', () => {
        beats.push({ url: req.url ?? '', auth: req.headers.authorization, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const backend = new DockerBackend();
    const rt = example();
    try {
      const env = pluginEnv(rt, {
        heartbeatUrl: `http://127.0.0.1:${port}/internal/heartbeat`,
        heartbeatSeconds: 1,
      });
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env });
      await expect.poll(() => beats.length, { timeout: 30_000 }).toBeGreaterThan(0);
      expect(beats[0]!.url).toBe(`/internal/heartbeat/${env.MAGELLON_HEARTBEAT_TOKEN}`);
      expect(JSON.parse(beats[0]!.body)).toMatchObject({
        plugin_id: 'fft',
        version: '1.0.0',
        replica_id: 'fft-0',
      });
    } finally {
      await backend.remove(rt);
      server.close();
    }
  }, 120_000);

  it('runs a manifest’s own image (no pull, never removed), and shows paused replicas as frozen', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const built = example();
    await backend.prepare(built, () => {});
    docker('tag', imageTag(built), 'lab/fft-prebuilt:1.0');
    await backend.remove(built);
    const rt = example((d) => {
      const m = join(d, 'manifest.yaml');
      writeFileSync(
        m,
        readFileSync(m, 'utf8').replace(
          /dockerfile: Dockerfile\n\s*build_context: \.\n/,
          'image: lab/fft-prebuilt:1.0\n',
        ),
      );
    });
    expect(rt.entry).toMatchObject({ method: 'docker', image: 'lab/fft-prebuilt:1.0' });
    const lines: string[] = [];
    await backend.prepare(rt, (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/using the image lab\/fft-prebuilt:1\.0/);
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    const [r] = await running(rt);
    await backend.pause(rt);
    expect(await probeHealth(r!.host!, r!.port!, rt, 500)).toBe(false);
    await backend.unpause(rt);
    expect(await probeHealth(r!.host!, r!.port!, rt)).toBe(true);
    await backend.remove(rt);
    expect(docker('image', 'inspect', '--format', '{{.Id}}', 'lab/fft-prebuilt:1.0').trim()).toMatch(
      /^sha256:/,
    );

    // An image that is not there is refused when pulling is off.
    const absent = example((d) => {
      const m = join(d, 'manifest.yaml');
      writeFileSync(
        m,
        readFileSync(m, 'utf8').replace(
          /dockerfile: Dockerfile\n\s*build_context: \.\n/,
          'image: lab/absent:9\n',
        ),
      );
    });
    const err = await expectFailure(
      new DockerBackend({ pull: 'never' }).prepare(absent, () => {}),
      'backend-failed',
    );
    expect(err.message).toMatch(/lab\/absent:9 is not on this Docker daemon/);
    await backend.remove(absent);
  }, 120_000);

  it('doctor removes the containers and image of an install a crash left without a receipt', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const rt = example();
    await backend.prepare(rt, () => {});
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    await running(rt);
    const report = await doctor(join(rt.home, '..'));
    expect(report.removed.map((r) => r.path)).toContain('fft');
    expect(containerIdsOf(rt.home)).toBe('');
    expect(docker('image', 'ls', '-q', '--filter', `label=org.magellon.home=${rt.home}`).trim()).toBe('');
    expect(existsSync(rt.home)).toBe(false);
  }, 120_000);

  it('finds what it made by label when its records are gone, and removes it', async (ctx) => {
    if (skipped) return ctx.skip();
    const backend = new DockerBackend();
    const rt = example();
    await backend.prepare(rt, () => {});
    await backend.start(rt, { replicas: 2, env: pluginEnv(rt) });
    rmSync(join(rt.home, 'containers'), { recursive: true, force: true });
    expect(await backend.leftovers(rt.home)).toEqual(['1.0.0']);
    expect(await backend.leftovers(rt.home, '1.0.0')).toEqual([]);
    await backend.remove({ pluginId: rt.pluginId, home: rt.home, version: rt.version });
    expect(await backend.leftovers(rt.home)).toEqual([]);
    expect(containerIdsOf(rt.home)).toBe('');
  }, 120_000);
});

/** The fft example with docker as its only install entry (as 2.0.0), `edit` applied to its manifest text. */
const dockerOnlyFft = (scratch: string, edit: (manifest: string) => string = (m) => m) =>
  packVariant(scratch, 'fft', '2.0.0', (d) => {
    const m = join(d, 'manifest.yaml');
    const text = readFileSync(m, 'utf8').replace(
      / {2}- method: uv\n {4}pyproject: pyproject.toml\n {4}requires:\n {6}- python: ">=3.11"\n/,
      '',
    );
    writeFileSync(m, edit(text));
  });

describe('CoreService installs a plugin whose only install entry is docker', () => {
  const scratch = scratchDir('install-', root);

  it('installs it from its archive, health-checked; scales, pauses; the supervisor leaves it to docker; uninstall leaves no container or image', async (ctx) => {
    if (skipped) return ctx.skip();
    const archive = join(scratch, 'fft-docker.mpn');
    writeFileSync(archive, await dockerOnlyFft(scratch));
    const pluginsDir = scratchDir('plugins-', scratch);
    const stages: string[] = [];
    const receipt = await installFromFile({
      pluginsDir,
      file: archive,
      onEvent: (e) => stages.push(e.stage),
    });
    expect(receipt).toMatchObject({ plugin_id: 'fft', version: '2.0.0', method: 'docker' });
    expect(stages).toContain('health');
    const home = join(pluginsDir, 'fft');
    const labelled = (what: 'ps' | 'image') =>
      docker(
        ...(what === 'ps' ? ['ps', '-aq'] : ['image', 'ls', '-q']),
        '--filter',
        `label=org.magellon.home=${home}`,
      )
        .trim()
        .split('\n')
        .filter(Boolean);
    expect(labelled('ps')).toHaveLength(1);
    expect(labelled('image')).toHaveLength(1);
    const status = await pluginStatus(pluginsDir, 'fft');
    expect(status.replicas.map((r) => [r.state, r.healthy])).toEqual([['running', true]]);

    const two = await scalePlugin(pluginsDir, 'fft', 2);
    expect(two.replicas.map((r) => [r.replica, r.state])).toEqual([
      [0, 'running'],
      [1, 'running'],
    ]);
    const paused = await pausePlugin(pluginsDir, 'fft', true);
    expect(paused.replicas.map((r) => [r.state, r.paused, r.healthy])).toEqual([
      ['running', true, false],
      ['running', true, false],
    ]);
    const thawed = await pausePlugin(pluginsDir, 'fft', false);
    expect(thawed.replicas.map((r) => [r.paused ?? false, r.healthy])).toEqual([
      [false, true],
      [false, true],
    ]);

    // A replica that ends where docker will not restart it is left to docker: the supervisor, which
    // restarts process replicas under on-failure, does nothing to it.
    const first = docker(
      'ps',
      '-q',
      '--filter',
      `label=org.magellon.home=${home}`,
      '--filter',
      'label=org.magellon.replica=0',
    ).trim();
    docker('update', '--restart=no', first);
    docker('kill', first);
    // Past the supervisor's first backoff (0.5 s), so it would act on a process replica now.
    await new Promise((r) => setTimeout(r, backoffMs(0) + 100));
    const events: SupervisorEvent[] = [];
    await new Supervisor(pluginsDir, {}, { onEvent: (e) => events.push(e) }).tick();
    // It only says what it sees: one of two replicas up.
    expect(events).toMatchObject([{ type: 'status', plugin_id: 'fft', health: 'degraded' }]);
    expect((await pluginStatus(pluginsDir, 'fft')).replicas.map((r) => [r.replica, r.state])).toEqual([
      [0, 'exited'],
      [1, 'running'],
    ]);

    // Without --purge the data dir (bound into the containers) stays; nothing of docker does.
    await uninstall(pluginsDir, 'fft');
    expect(labelled('ps')).toEqual([]);
    expect(labelled('image')).toEqual([]);
    expect(readdirSync(home)).toEqual(['data']);
    await uninstall(pluginsDir, 'fft', { purge: true });
    expect(existsSync(home)).toBe(false);
  }, 180_000);
});

describe('the docker backend refuses what is not data', () => {
  const scratch = scratchDir('refusals-', root);

  it('takes only image references, never an option or anything docker would read otherwise', () => {
    for (const ok of ['fft', 'lab/fft:1.0', 'registry.lab:5000/a/b_c:v1', `x@sha256:${'a'.repeat(64)}`])
      expect(isImageRef(ok), ok).toBe(true);
    for (const bad of [
      '-v',
      '--privileged',
      'a b',
      'x/UPPER',
      'a;rm',
      'x:-t',
      '/abs',
      'a\nb',
      '',
      'x'.repeat(300),
    ])
      expect(isImageRef(bad), bad).toBe(false);
  });

  it('refuses a Dockerfile or build context outside the version, and an image that is no reference, before docker runs', async () => {
    const cli = join(scratchDir('nocli-', scratch), 'docker-never-run');
    const backend = new DockerBackend({ cli });
    const entries = [
      'dockerfile: ../../../etc/passwd\n    build_context: .\n',
      'dockerfile: Dockerfile\n    build_context: ..\n',
      'image: "--privileged"\n',
    ];
    for (const entry of entries) {
      const rt = installedExample(scratch, 'fft', 'docker', (d) => {
        const m = join(d, 'manifest.yaml');
        writeFileSync(
          m,
          readFileSync(m, 'utf8').replace(/dockerfile: Dockerfile\n\s*build_context: \.\n/, entry),
        );
      });
      await expectFailure(
        backend.prepare(rt, () => {}),
        'bad-archive',
      );
    }
  });

  it('refuses a value a container env-file cannot carry, before anything is recorded or run', async () => {
    const backend = new DockerBackend({ cli: join(scratchDir('nocli-', scratch), 'docker-never-run') });
    const rt = installedExample(scratch, 'fft', 'docker');
    const at = new Date().toISOString();
    mkdirSync(containersDir(rt.home, rt.version), { recursive: true });
    writeRecord(containerImageFile(rt.home, rt.version), containerImageSchema, {
      image: 'x',
      built: true,
      prepared_at: at,
    });
    const env = { ...pluginEnv(rt), MAGELLON_PLUGIN_FFT_NOTE: 'line one\nINJECTED=1' };
    const err = await expectFailure(backend.start(rt, { replicas: 1, env }), 'backend-failed');
    expect(err.message).toMatch(/MAGELLON_PLUGIN_FFT_NOTE holds a line break/);
    expect(err.message).not.toContain('INJECTED');
    expect(readdirSync(containersDir(rt.home, rt.version))).toEqual(['image.json']);
  });

  it('puts replicas only on host, none or container:<name>; anything else is refused before docker runs, naming the setting', async () => {
    for (const ok of ['host', 'none', 'container:hub-verify-net.1', 'container:a_b-c'])
      expect(dockerNetworkProblem(ok), ok).toBeUndefined();
    for (const bad of [
      'bridge',
      '--privileged',
      'container:',
      'container:-x',
      'container:a b',
      'container:a,b',
      'host --privileged',
      'container:x\n',
      `container:${'x'.repeat(200)}`,
    ])
      expect(dockerNetworkProblem(bad), bad).toMatch(/is not host, none or container:<name>/);
    const cli = join(scratchDir('nocli-', scratch), 'docker-never-run');
    const backend = new DockerBackend({ cli, network: 'container:x --privileged' });
    expect(backend.unavailable(await probeHost())).toMatch(
      /"container:x --privileged" is not host, none or container:<name>.*MAGELLON_DOCKER_NETWORK/,
    );
    const rt = installedExample(scratch, 'fft', 'docker');
    mkdirSync(containersDir(rt.home, rt.version), { recursive: true });
    writeRecord(containerImageFile(rt.home, rt.version), containerImageSchema, {
      image: 'x',
      built: true,
      prepared_at: new Date().toISOString(),
    });
    await expectFailure(backend.start(rt, { replicas: 1, env: pluginEnv(rt) }), 'backend-failed');
    expect(readdirSync(containersDir(rt.home, rt.version))).toEqual(['image.json']);
  });

  it('says why it cannot run: no docker CLI, or no daemon answering', async () => {
    const host = { ...(await probeHost()), dockerDaemon: false };
    expect(new DockerBackend({ cli: '/nonexistent/docker' }).unavailable(host)).toMatch(
      /the docker CLI \(\/nonexistent\/docker\) is not installed/,
    );
    expect(
      new DockerBackend({ cli: '/bin/sh', env: { DOCKER_HOST: 'unix:///nowhere.sock' } }).unavailable(host),
    ).toBe('no Docker daemon answers at unix:///nowhere.sock');
  });
});

describe('a docker plugin through a real coreservice serve (HTTP, heartbeats, the CLI)', () => {
  const scratch = scratchDir('serve-', root);
  const TOKEN = 'test-admin-token-0123456789abcdef';
  const pluginsDir = join(scratch, 'plugins');
  let svc: RunningService | undefined;
  const serve = async () => {
    svc = await serveCoreService({
      pluginsDir,
      hubs: [],
      port: 0,
      token: TOKEN,
      run: { heartbeatSeconds: 1 },
      log: () => {},
    });
  };
  afterAll(async () => {
    await svc?.close();
    if (!skipped) await stopAllUnder(scratch);
  }, 120_000);

  const call = (method: string, path: string, body?: unknown) =>
    adminCall(svc!.url, TOKEN, method, path, body);
  const status = async (): Promise<PluginStatus> => (await call('GET', '/admin/plugins/fft/status')).body;
  /** Each replica as [replica, state, healthy, heartbeat]. */
  const seen = async () => (await status()).replicas.map((r) => [r.replica, r.state, r.healthy, r.heartbeat]);
  const cli = (...args: string[]) =>
    runCoreservice(['--plugins-dir', pluginsDir, ...args], { env: cleanCoreserviceEnv() });

  it('scales 1 → 3 → 1 over HTTP keeping replica 0; a killed container comes back by docker’s policy; pause from the CLI; stopped stays stopped', async (ctx) => {
    if (skipped) return ctx.skip();
    await serve();
    const bytes = await dockerOnlyFft(scratch, (m) =>
      m.replace(/restart_policy: on-failure/, 'restart_policy: unless-stopped'),
    );
    const installed = await call('POST', '/admin/plugins/install', bytes);
    expect(installed.status, JSON.stringify(installed.body)).toBe(201);
    await expect.poll(seen, { timeout: 30_000, interval: 200 }).toEqual([[0, 'running', true, 'fresh']]);
    const first = (await status()).replicas[0]!;
    expect(first).toMatchObject({ backend: 'docker', ref: containerNameOf(join(pluginsDir, 'fft')) });
    expect(await status()).toMatchObject({
      health: 'healthy',
      supports_pause: true,
      supports_scale: true,
      scale: { desired: 1, min: 1, max: 4, live: 1 },
    });

    // Out of range: 400 naming the range, nothing changed.
    for (const desired of [0, 5]) {
      const r = await call('POST', '/admin/plugins/fft/scale', { desired });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(new RegExp(`between 1 and 4 replicas.*; ${desired} is outside`));
    }
    expect((await status()).scale.desired).toBe(1);

    const three = await call('POST', '/admin/plugins/fft/scale', { desired: 3 });
    expect(three.status).toBe(200);
    expect(three.body.scale).toMatchObject({ desired: 3, live: 3 });
    await expect
      .poll(seen, { timeout: 30_000, interval: 200 })
      .toEqual([0, 1, 2].map((n) => [n, 'running', true, 'fresh']));
    const up = (await status()).replicas;
    // Replica 0 is the same container, never restarted.
    expect([up[0]!.ref, up[0]!.pid, up[0]!.started_at]).toEqual([first.ref, first.pid, first.started_at]);
    expect(new Set(up.map((r) => r.ref)).size).toBe(3);
    expect((await status()).health).toBe('healthy');

    const one = await call('POST', '/admin/plugins/fft/scale', { desired: 1 });
    expect(one.status).toBe(200);
    expect(
      one.body.replicas.map((r: { replica: number; ref: string; pid: number }) => [r.replica, r.ref, r.pid]),
    ).toEqual([[0, first.ref, first.pid]]);
    expect(containerNameOf(join(pluginsDir, 'fft'))).toBe(first.ref);

    // kill -9 of the container's main process from the host: docker's policy brings it back.
    const pid = inspect(first.ref!).State.Pid as number;
    expect(pid).toBe(first.pid);
    process.kill(pid, 'SIGKILL');
    await expect
      .poll(
        async () =>
          (await status()).replicas.map((r) => [r.ref, r.state, r.healthy, r.restarts, r.pid === pid]),
        {
          timeout: 30_000,
          interval: 200,
        },
      )
      .toEqual([[first.ref, 'running', true, 1, false]]);
    expect(inspect(first.ref!).RestartCount).toBe(1);

    // Pause and unpause from the CLI; status --json says paused.
    expect((await cli('pause', 'fft')).code).toBe(0);
    const paused = JSON.parse((await cli('status', 'fft', '--json')).stdout).result as PluginStatus;
    expect(paused).toMatchObject({ status: 'paused', health: 'down', healthy: false, running: true });
    expect(paused.replicas).toMatchObject([{ paused: true, healthy: false }]);
    expect((await cli('unpause', 'fft')).code).toBe(0);
    await expect
      .poll(async () => [(await status()).status, (await status()).health], {
        timeout: 30_000,
        interval: 200,
      })
      .toEqual(['running', 'healthy']);

    // unless-stopped, stopped by the operator: docker does not bring it back, nor a CoreService restart.
    const stopped = await call('POST', '/admin/plugins/fft/stop');
    expect(stopped.body).toMatchObject({ desired: 'stopped', status: 'stopped', health: 'down' });
    const id = inspect(first.ref!).Id;
    expect(inspect(first.ref!)).toMatchObject({
      State: { Status: 'exited' },
      HostConfig: { RestartPolicy: { Name: 'no' } },
    });
    await svc!.close();
    await serve();
    expect(await status()).toMatchObject({ desired: 'stopped', status: 'stopped', running: false });
    expect(inspect(first.ref!)).toMatchObject({ Id: id, State: { Status: 'exited' } });
    expect((await call('DELETE', '/admin/plugins/fft')).status).toBe(200);
  }, 300_000);
});
