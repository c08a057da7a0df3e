// hub verify's smoke install of a plugin that only docker can run, against a real private dockerd
// (infra/engines.ts): the contained CoreService runs in a network holder's namespace and the
// plugin's container joins it, so it installs and passes its health check; a plugin that tries to
// reach the host's 127.0.0.1 reaches nothing, and nothing of either (container, image, holder, a
// process it left behind) outlives verify. Without an engine here the file is skipped after one
// loud line (under HUB_REQUIRE_ALL=1 it fails instead).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOnly } from '../../../coreservice/test/fixtures';
import { type DockerEngine, startDocker } from '../../../infra/engines';
import { HUB_BIN, PrRepo } from '../../core/test/pr-repo';

let engine: DockerEngine | undefined;
const repos: PrRepo[] = [];

beforeAll(async () => {
  engine = await startDocker();
}, 600_000);
afterAll(async () => {
  for (const r of repos) r.cleanup();
  await engine?.stop();
}, 120_000);

/** The docker-only install section of the fft example. */
const dockerOnly = (dir: string) =>
  installOnly(dir, '  - method: docker\n    dockerfile: Dockerfile\n    build_context: .\n');

/** `docker …` against the test engine: its output lines. */
const docker = (...args: string[]) =>
  execFileSync(engine!.docker, args, { env: { ...process.env, ...engine!.env }, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);

/** Every container on the engine, and every image but the base image: what a run could leave. */
const leftOnEngine = () => ({
  containers: docker('ps', '-a', '--format', '{{.Names}} {{.Labels}}'),
  images: docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}').filter(
    (i) => i !== engine!.baseImage,
  ),
});

/** Runs `hub verify` on the PR with the engine in its environment, as CI would give it. */
function verify(r: PrRepo): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [HUB_BIN, 'verify', r.dir, '--base', 'main', '--author', 'sstagg'],
      {
        env: {
          ...process.env,
          ...engine!.env,
          MAGELLON_DOCKER_CLI: engine!.docker,
          MAGELLON_DOCKER_BASE_IMAGE: engine!.baseImage,
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('hub verify installs a docker-only plugin with the docker backend, contained', () => {
  it('passes the smoke install, and leaves no container, image or network holder', async (ctx) => {
    if (!engine) return ctx.skip();
    const r = new PrRepo('verify-docker');
    repos.push(r);
    await r.addVersion('fft', '1.3.0', { pack: dockerOnly });
    r.commit('fft 1.3.0, docker only');
    const res = await verify(r);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stderr).toContain('1 archive verified, 1 installed');
    expect(leftOnEngine()).toEqual({ containers: [], images: [] });
  }, 300_000);

  it('a docker-only plugin that never gets healthy: the finding says so, and nothing of it or the holder is left', async (ctx) => {
    if (!engine) return ctx.skip();
    const r = new PrRepo('verify-docker');
    repos.push(r);
    await r.addVersion('fft', '1.3.0', {
      pack: (dir) => {
        dockerOnly(dir);
        writeFileSync(join(dir, 'main.py'), 'import time\nwhile True:\n    time.sleep(1)\n');
        const m = join(dir, 'manifest.yaml');
        writeFileSync(m, readFileSync(m, 'utf8').replace(/timeout_seconds: \d+/, 'timeout_seconds: 3'));
      },
    });
    r.commit('fft 1.3.0, never healthy');
    const res = await verify(r);
    expect(res.code).toBe(1);
    expect(res.stdout + res.stderr).toMatch(
      /verify\.install-failed: .*unhealthy: fft 1\.3\.0 did not pass its health check/,
    );
    expect(leftOnEngine()).toEqual({ containers: [], images: [] });
  }, 300_000);

  it('CoreService killed mid-install (its container running): verify still removes the container, the image and the holder', async (ctx) => {
    if (!engine) return ctx.skip();
    const r = new PrRepo('verify-docker');
    repos.push(r);
    await r.addVersion('fft', '1.3.0', {
      pack: (dir) => {
        dockerOnly(dir);
        writeFileSync(join(dir, 'main.py'), 'import time\nwhile True:\n    time.sleep(1)\n');
      },
    });
    r.commit('fft 1.3.0, never healthy');
    const running = verify(r);
    // The plugin's container names the run's plugins dir: its scratch dir, unique to this verify.
    let home = '';
    await expect
      .poll(
        () => {
          home =
            docker(
              'ps',
              '--filter',
              'label=org.magellon.home',
              '--format',
              '{{.Label "org.magellon.home"}}',
            )[0] ?? '';
          return home;
        },
        { timeout: 120_000, interval: 250 },
      )
      .toMatch(/\/hub-verify-install-[^/]+\/plugins\/fft$/);
    const scratch = home.replace(/\/plugins\/fft$/, '');
    const pids = execFileSync('pgrep', ['-f', `install-file ${scratch}/archive.mpn`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    const res = await running;
    expect(res.code).toBe(1);
    expect(res.stdout + res.stderr).toMatch(/verify\.install-failed/);
    expect(leftOnEngine()).toEqual({ containers: [], images: [] });
  }, 300_000);

  it('a plugin that reaches for the host’s 127.0.0.1 and leaves a process behind: nothing connects, nothing is left', async (ctx) => {
    if (!engine) return ctx.skip();
    const seen: string[] = [];
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      sockets.push(s);
      s.on('data', (d) => seen.push(String(d)));
      seen.push('connection');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as { port: number }).port;
    try {
      const r = new PrRepo('verify-docker');
      repos.push(r);
      await r.addVersion('fft', '1.3.0', {
        pack: (dir) => {
          dockerOnly(dir);
          // Before it serves: one try now, and a process in a session of its own that keeps trying.
          const reach = `
import socket, subprocess, sys, time
def reach():
    try:
        with socket.create_connection(("127.0.0.1", ${port}), timeout=2) as s:
            s.sendall(b"escaped from the smoke install\\n")
    except OSError:
        pass
if sys.argv[1:2] == ["--keep-trying"]:
    while True:
        reach()
        time.sleep(0.2)
reach()
subprocess.Popen([sys.executable, __file__, "--keep-trying"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
`;
          writeFileSync(join(dir, 'reach.py'), reach);
          const main = join(dir, 'main.py');
          writeFileSync(
            main,
            `import subprocess, sys\nsubprocess.run([sys.executable, "reach.py"])\n${readFileSync(main, 'utf8')}`,
          );
        },
      });
      r.commit('fft 1.3.0, which reaches for the host');
      const res = await verify(r);
      expect(seen, 'what reached the host’s 127.0.0.1 during verify').toEqual([]);
      // It installed and was healthy: main.py ran past its attempt and started the process.
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(res.stderr).toContain('1 installed');
      expect(leftOnEngine()).toEqual({ containers: [], images: [] });
      // Had the process outlived verify, it would connect five times a second.
      await new Promise((done) => setTimeout(done, 1_000));
      expect(seen).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  }, 300_000);

  it.runIf(process.getuid?.() === 0)(
    'run by a user who is not root: a finding says a docker plugin cannot run contained, and no plugin code ran',
    async (ctx) => {
      const r = new PrRepo('verify-docker');
      repos.push(r);
      await r.addVersion('fft', '1.3.0', { pack: dockerOnly });
      r.commit('fft 1.3.0, docker only');
      execFileSync('chmod', ['-R', 'a+rX', r.dir]);
      // As nobody, with a daemon that would answer root: verify must not reach for it.
      const res = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--',
          process.execPath,
          HUB_BIN,
          'verify',
          r.dir,
          '--base',
          'main',
        ],
        {
          encoding: 'utf8',
          env: {
            ...process.env,
            ...(engine?.env ?? {}),
            ...(engine
              ? { MAGELLON_DOCKER_CLI: engine.docker, MAGELLON_DOCKER_BASE_IMAGE: engine.baseImage }
              : {}),
            HOME: tmpdir(),
            // The PR's repo is root's: git reads it for another user only when told it is safe.
            GIT_CONFIG_COUNT: '1',
            GIT_CONFIG_KEY_0: 'safe.directory',
            GIT_CONFIG_VALUE_0: '*',
          },
        },
      );
      if (/cannot be contained here/.test(res.stdout + res.stderr)) {
        skipLoudly('hub verify as a user who is not root', 'bubblewrap cannot make a user namespace here');
        return ctx.skip();
      }
      expect(res.status).toBe(1);
      expect(res.stdout + res.stderr).toMatch(
        /verify\.install-failed: .*docker is the only install method of this plugin that fits here, and it cannot run contained: it needs root/,
      );
      expect(res.stderr).toContain('0 installed');
      if (engine) expect(leftOnEngine()).toEqual({ containers: [], images: [] });
    },
    300_000,
  );
});
