// Proves the engines the docker and slurm backends are tested against, for real: a private dockerd
// runs the base image and the repo's fft plugin (built FROM that image, no network), a private Slurm
// cluster runs and cancels batch jobs, a private RabbitMQ broker routes a message on a topic
// exchange; each is stopped by PID and leaves nothing running.
import { execFile, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type DockerEngine,
  processAlive,
  type RabbitBroker,
  type SlurmCluster,
  startDocker,
  startRabbit,
  startSlurm,
} from './engines';

const REPO = join(import.meta.dirname, '..');
const START_TIMEOUT = 600_000; // a fresh machine installs docker.io / slurm-wlm first
const scratch = mkdtempSync(join(tmpdir(), 'hub-engines-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  timeout = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, encoding: 'utf8', timeout },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Polls check every 100 ms until it returns a value, at most `seconds`. */
async function until<T>(what: string, seconds: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Running processes (not zombies) whose command line or environment names dir. */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid || !processAlive(Number(pid))) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmdline.includes(dir) || environ.includes(dir)) found.push(`${pid} ${cmdline.trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

describe('the engines when they cannot run', () => {
  it('each says so in one loud line and resolves to undefined; under HUB_REQUIRE_ALL=1 it throws', async () => {
    const saved = {
      unavailable: process.env.HUB_ENGINES_UNAVAILABLE,
      requireAll: process.env.HUB_REQUIRE_ALL,
    };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      process.env.HUB_ENGINES_UNAVAILABLE = 'docker,slurm,rabbitmq';
      delete process.env.HUB_REQUIRE_ALL;
      expect(await startDocker()).toBeUndefined();
      expect(await startSlurm()).toBeUndefined();
      expect(await startRabbit()).toBeUndefined();
      expect(warn.mock.calls.map((c) => String(c[0]).trim())).toEqual([
        '*** SKIPPED: docker backend tests (HUB_ENGINES_UNAVAILABLE makes the docker engine unavailable) ***',
        '*** SKIPPED: slurm backend tests (HUB_ENGINES_UNAVAILABLE makes the slurm engine unavailable) ***',
        '*** SKIPPED: broker liveness tests (HUB_ENGINES_UNAVAILABLE makes the rabbitmq broker unavailable) ***',
      ]);
      process.env.HUB_REQUIRE_ALL = '1';
      await expect(startDocker()).rejects.toThrow(/SKIPPED: docker backend tests .*HUB_REQUIRE_ALL=1/);
      await expect(startSlurm()).rejects.toThrow(/SKIPPED: slurm backend tests .*HUB_REQUIRE_ALL=1/);
      await expect(startRabbit()).rejects.toThrow(/SKIPPED: broker liveness tests .*HUB_REQUIRE_ALL=1/);
    } finally {
      warn.mockRestore();
      restoreEnv('HUB_ENGINES_UNAVAILABLE', saved.unavailable);
      restoreEnv('HUB_REQUIRE_ALL', saved.requireAll);
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    'not root, the scripts refuse with the reason (what the helper would print)',
    () => {
      // As nobody, with a PATH lacking the tools: what a developer's unprivileged machine sees.
      for (const [script, why] of [
        ['docker/dockerd.sh', /dockerd needs root here/],
        ['slurm/slurm.sh', /slurmd needs root here/],
        ['rabbitmq/rabbitmq.sh', /the private broker needs root here/],
      ] as const) {
        const r = spawnSync(
          'setpriv',
          ['--reuid=65534', '--regid=65534', '--clear-groups', join(import.meta.dirname, script), 'check'],
          { encoding: 'utf8', env: { PATH: '/nonexistent:/usr/bin:/bin' } },
        );
        expect(r.status, r.stderr).toBe(3);
        expect(r.stderr).toMatch(why);
      }
    },
  );
});

describe('a private dockerd', () => {
  let engine: DockerEngine | undefined;
  const docker = (args: string[], timeout?: number) => run(engine!.docker, args, engine!.env, timeout);

  beforeAll(async () => {
    const t = Date.now();
    engine = await startDocker();
    if (engine) console.log(`docker engine and base image ready in ${Date.now() - t} ms`);
  }, START_TIMEOUT);
  afterAll(() => engine?.stop(), 120_000);

  it('answers only on its unix socket, with no bridge', async (ctx) => {
    if (!engine) return ctx.skip();
    expect(engine.socket.startsWith(engine.stateDir)).toBe(true);
    expect(engine.env.DOCKER_HOST).toBe(`unix://${engine.socket}`);
    const nets = await docker(['network', 'ls', '--format', '{{.Name}}']);
    expect(nets.stdout.split('\n').filter(Boolean).sort()).toEqual(['host', 'none']);
  });

  it('runs python3 from the base image with no network', async (ctx) => {
    if (!engine) return ctx.skip();
    const r = await docker([
      'run',
      '--rm',
      '--network=none',
      engine.baseImage,
      'python3',
      '-c',
      'print(1+1)',
    ]);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: '2\n' });
  });

  it('builds FROM the base image offline, RUN steps included', async (ctx) => {
    if (!engine) return ctx.skip();
    const dir = join(scratch, 'trivial');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x.py'), 'print("x")\n');
    writeFileSync(
      join(dir, 'Dockerfile'),
      `FROM ${engine.baseImage}\nCOPY x.py /x.py\nRUN python3 -c "open('/built', 'w').write('built')" && ls /x.py\nCMD ["cat", "/built"]\n`,
    );
    const b = await docker(['build', '--network=none', '-q', '-t', 'hub-trivial:test', dir]);
    expect(b.code, b.stderr).toBe(0);
    const r = await docker(['run', '--rm', '--network=none', 'hub-trivial:test']);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: 'built' });
  });

  it("runs the fft plugin from its own Dockerfile as nobody, read-only, on the host's loopback", async (ctx) => {
    if (!engine) return ctx.skip();
    // The plugin's dir with its runtime symlinks resolved (a build context cannot follow them).
    const context = join(scratch, 'fft');
    cpSync(join(REPO, 'examples', 'plugins', 'fft'), context, {
      recursive: true,
      dereference: true,
      filter: (src) => !src.includes('__pycache__'),
    });
    const b = await docker([
      'build',
      '--network=none',
      '-q',
      '--build-arg',
      `BASE_IMAGE=${engine.baseImage}`,
      '-t',
      'hub-fft:test',
      context,
    ]);
    expect(b.code, b.stderr).toBe(0);

    const started = await docker([
      'run',
      '-d',
      '--network=host',
      '--user',
      '65534:65534',
      '--read-only',
      '--security-opt',
      'no-new-privileges',
      '--tmpfs',
      '/tmp',
      'hub-fft:test',
      'python3',
      'main.py',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
    ]);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    try {
      const ready = await until('the READY line in docker logs', 30, async () => {
        const logs = await docker(['logs', id]);
        const m = /^MAGELLON_PLUGIN_READY (\{.*\})$/m.exec(logs.stdout);
        return m?.[1] ? (JSON.parse(m[1]) as { port: number; host: string; plugin_id: string }) : undefined;
      });
      expect(ready).toMatchObject({ plugin_id: 'fft', host: '127.0.0.1' });
      const base = `http://127.0.0.1:${ready.port}`;
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', plugin_id: 'fft', version: '1.1.0' });
      const ran = await fetch(`${base}/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: [1, 0, 0, 0] }),
      });
      expect(ran.status).toBe(200);
      expect(JSON.stringify(await ran.json())).toContain('"padded_shape":[4]');

      // The plugin runs as nobody, with no_new_privs and the default seccomp filter, on a read-only root.
      const status = await docker(['exec', id, 'grep', '-E', '^(Uid|NoNewPrivs|Seccomp):', '/proc/1/status']);
      expect(
        status.stdout
          .replace(/[ \t]+/g, ' ')
          .trim()
          .split('\n'),
      ).toEqual(['Uid: 65534 65534 65534 65534', 'NoNewPrivs: 1', 'Seccomp: 2']);
      const write = await docker(['exec', id, 'touch', '/plugin/x']);
      expect(write.stderr).toMatch(/Read-only file system/);
      const logs = await docker(['logs', id]);
      expect(logs.stdout + logs.stderr).toMatch(/"GET \/health" 200/);

      // Paused: frozen, so /health does not answer; unpaused, it does again.
      expect((await docker(['pause', id])).code).toBe(0);
      expect((await docker(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim()).toBe('paused');
      await expect(fetch(`${base}/health`, { signal: AbortSignal.timeout(700) })).rejects.toThrow();
      expect((await docker(['unpause', id])).code).toBe(0);
      expect((await fetch(`${base}/health`)).status).toBe(200);

      const stopped = await docker(['stop', '-t', '10', id]);
      expect(stopped.code, stopped.stderr).toBe(0);
      const state = await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id]);
      expect(state.stdout.trim()).toBe('exited 0');
      const last = await docker(['logs', id]);
      expect(last.stdout + last.stderr).toMatch(/received SIGTERM/);
    } finally {
      await docker(['rm', '-f', id]);
    }
  });

  it('stops by PID and leaves nothing running', async (ctx) => {
    if (!engine) return ctx.skip();
    expect(engine.pids.length).toBe(2);
    // A container still running when the engine stops is killed with it.
    const left = await docker(['run', '-d', '--network=none', engine.baseImage, 'sleep', '300']);
    expect(left.code, left.stderr).toBe(0);
    await engine.stop();
    for (const pid of engine.pids) expect(processAlive(pid), `PID ${pid}`).toBe(false);
    expect(processesUsing(engine.stateDir)).toEqual([]);
    expect(existsSync(engine.stateDir)).toBe(false);
  }, 120_000);
});

describe('a private Slurm cluster', () => {
  let cluster: SlurmCluster | undefined;
  const slurm = (cmd: string, args: string[]) => run(cmd, args, cluster!.env);
  const jobState = async (id: string) =>
    /JobState=(\w+)/.exec((await slurm('scontrol', ['show', 'job', '-o', id])).stdout)?.[1];

  beforeAll(async () => {
    const t = Date.now();
    cluster = await startSlurm();
    if (cluster) console.log(`slurm cluster idle in ${Date.now() - t} ms`);
  }, START_TIMEOUT);
  afterAll(() => cluster?.stop(), 120_000);

  it('has one idle node and listens on 127.0.0.1 only', async (ctx) => {
    if (!cluster) return ctx.skip();
    const nodes = await slurm('sinfo', ['-h', '-N', '-o', '%N %t %c']);
    expect(nodes.stdout.trim()).toMatch(/^\S+ idle \d+$/);
    const conf = readFileSync(cluster.conf, 'utf8');
    expect(conf).toMatch(/^CommunicationParameters=NoCtldInAddrAny,NoInAddrAny$/m);
    const ports = [...conf.matchAll(/^Slurm(?:ctld|d)Port=(\d+)$/gm)].map((m) => m[1]);
    expect(ports).toHaveLength(2);
    const listening = readFileSync('/proc/net/tcp', 'utf8') + readFileSync('/proc/net/tcp6', 'utf8');
    for (const port of ports) {
      const hex = Number(port).toString(16).toUpperCase().padStart(4, '0');
      const lines = listening.split('\n').filter((l) => l.includes(`:${hex} `) && / 0A /.test(l));
      expect(lines.map((l) => l.trim().split(/\s+/)[1])).toEqual([`0100007F:${hex}`]);
    }
  });

  it('runs an sbatch --wrap job that writes a file, until scontrol says COMPLETED', async (ctx) => {
    if (!cluster) return ctx.skip();
    const out = join(scratch, 'slurm-job');
    mkdirSync(out);
    cpSync(join(REPO, 'examples', 'plugins', 'fft', 'manifest.yaml'), join(out, 'input.yaml'));
    const submitted = await slurm('sbatch', [
      '--parsable',
      `--chdir=${out}`,
      `--output=${out}/job-%j.out`,
      '--wrap',
      'grep -c plugin_id input.yaml > written.txt; echo done',
    ]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^\d+$/);
    const final = await until(`job ${id} finished`, 60, async () => {
      const s = await jobState(id);
      return s && !['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING'].includes(s) ? s : undefined;
    });
    expect(final).toBe('COMPLETED');
    expect(readFileSync(join(out, 'written.txt'), 'utf8')).toBe('1\n');
    expect(readFileSync(join(out, `job-${id}.out`), 'utf8')).toBe('done\n');
    const sacct = await slurm('sacct', ['-j', id]);
    expect(sacct.stdout + sacct.stderr).toMatch(/accounting storage is disabled/); // no slurmdbd: ask scontrol
  });

  it('srun runs a step and scancel ends a long job and its processes', async (ctx) => {
    if (!cluster) return ctx.skip();
    const step = await slurm('srun', ['-N1', '-n1', 'printf', 'step']);
    expect(step, step.stderr).toMatchObject({ code: 0, stdout: 'step' });

    const submitted = await slurm('sbatch', ['--parsable', '--output=/dev/null', '--wrap', 'sleep 300']);
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    await until(`job ${id} running`, 30, async () => ((await jobState(id)) === 'RUNNING' ? true : undefined));
    const pids = await until(`job ${id}'s processes`, 10, async () => {
      const r = await slurm('scontrol', ['listpids', id]);
      const found = r.stdout
        .split('\n')
        .slice(1)
        .map((l) => Number(l.trim().split(/\s+/)[0]))
        .filter((p) => p > 0);
      return found.length > 0 ? found : undefined;
    });
    expect((await slurm('scancel', [id])).code).toBe(0);
    expect(
      await until(`job ${id} cancelled`, 30, async () =>
        (await jobState(id)) === 'CANCELLED' ? 'CANCELLED' : undefined,
      ),
    ).toBe('CANCELLED');
    await until(`job ${id}'s processes gone`, 30, async () => (pids.some(processAlive) ? undefined : true));
  });

  it('stops by PID and leaves nothing running', async (ctx) => {
    if (!cluster) return ctx.skip();
    expect(cluster.pids.length).toBe(3);
    // A job still running when the cluster stops is cancelled with it.
    const left = await slurm('sbatch', ['--parsable', '--output=/dev/null', '--wrap', 'sleep 300']);
    expect(left.code, left.stderr).toBe(0);
    await until('the leftover job running', 30, async () =>
      (await jobState(left.stdout.trim())) === 'RUNNING' ? true : undefined,
    );
    await cluster.stop();
    for (const pid of cluster.pids) expect(processAlive(pid), `PID ${pid}`).toBe(false);
    expect(processesUsing(cluster.stateDir)).toEqual([]);
    expect(existsSync(cluster.stateDir)).toBe(false);
  }, 120_000);
});

describe('a private RabbitMQ broker', () => {
  let broker: RabbitBroker | undefined;

  beforeAll(async () => {
    const t = Date.now();
    broker = await startRabbit();
    if (broker) console.log(`rabbitmq broker ready in ${Date.now() - t} ms`);
  }, START_TIMEOUT);
  afterAll(() => broker?.stop(), 120_000);

  it('listens on 127.0.0.1 only, with a user and password of its own', (ctx) => {
    if (!broker) return ctx.skip();
    const url = new URL(broker.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.username).toBe('hub');
    expect(url.password).toMatch(/^[0-9a-f]{36}$/);
    const hex = Number(url.port).toString(16).toUpperCase().padStart(4, '0');
    const listening = readFileSync('/proc/net/tcp', 'utf8') + readFileSync('/proc/net/tcp6', 'utf8');
    const lines = listening.split('\n').filter((l) => l.includes(`:${hex} `) && / 0A /.test(l));
    expect(lines.map((l) => l.trim().split(/\s+/)[1])).toEqual([`0100007F:${hex}`]);
  });

  it('answers AMQP: a message published on a topic exchange reaches a bound queue', async (ctx) => {
    if (!broker) return ctx.skip();
    const conn = await amqp.connect(broker.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange('hub.engines.test', 'topic', { durable: false, autoDelete: true });
      const q = await ch.assertQueue('', { exclusive: true, autoDelete: true });
      await ch.bindQueue(q.queue, 'hub.engines.test', 'a.#');
      ch.publish('hub.engines.test', 'a.b.c', Buffer.from('hello'));
      const got = await until(
        'the message',
        10,
        async () => (await ch.get(q.queue, { noAck: true })) || undefined,
      );
      expect(got.fields.routingKey).toBe('a.b.c');
      expect(got.content.toString()).toBe('hello');
    } finally {
      await conn.close();
    }
    await expect(amqp.connect(broker.url.replace(/:[0-9a-f]+@/, ':wrong@'))).rejects.toThrow(
      /ACCESS_REFUSED|403/,
    );
  });

  it('stops by PID and leaves nothing running', async (ctx) => {
    if (!broker) return ctx.skip();
    expect(broker.pids.length).toBe(2);
    await broker.stop();
    for (const pid of broker.pids) expect(processAlive(pid), `PID ${pid}`).toBe(false);
    expect(processesUsing(broker.stateDir)).toEqual([]);
    expect(existsSync(broker.stateDir)).toBe(false);
  }, 120_000);
});
