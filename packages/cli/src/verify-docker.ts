// The smoke install of a plugin that only docker can run here. CoreService's docker backend starts
// the plugin as a container of the daemon's, which no namespace of `hub verify`'s would hold: so
// verify makes a network holder first, a container with `--network none` that only sleeps, and
// runs the contained CoreService inside that container's network namespace (contain.ts, `nsenter`:
// root only) with the daemon's socket bound in and MAGELLON_DOCKER_NETWORK=container:<holder>. The
// plugin's container joins the same namespace: CoreService reaches its /health and it reaches
// CoreService's heartbeat on their shared loopback, and neither reaches the host's network.
// Afterwards every container and image the run made (labelled org.magellon.home=<plugins dir>/<id>
// by the docker backend) and the holder are removed by label, whatever became of the install.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { onPath } from '@magellon/hub-core/node';

/** The label the holder carries: the scratch dir of the run it belongs to. */
export const VERIFY_LABEL = 'org.magellon.verify';
/** The label CoreService's docker backend gives every container and image it makes. */
const HOME_LABEL = 'org.magellon.home';
const CALL_TIMEOUT_MS = 120_000;

/** The docker CLI CoreService uses (MAGELLON_DOCKER_CLI, else `docker` on PATH): verify uses the same. */
const dockerCli = () => process.env.MAGELLON_DOCKER_CLI || 'docker';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** `docker …` with an argument array (never a shell); resolves with how it ended, never rejects. */
function docker(args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((done) => {
    execFile(
      dockerCli(),
      args,
      { env, encoding: 'utf8', timeout: CALL_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr: stderr || (err && code === -1 ? err.message : '') });
      },
    );
  });
}

const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** The last thing docker said, as the reason something failed. */
const said = (r: Ran) => lines(`${r.stderr}\n${r.stdout}`).at(-1) ?? `exit status ${r.code}`;

/** The network holder of one smoke install, and how the contained CoreService reaches the daemon. */
export interface DockerHold {
  /** `/proc/<holder pid>/ns/net`: the namespace the contained command joins. */
  netns: string;
  /** The daemon's unix socket, to bind into the sandbox. */
  socket: string;
  /** The variables the contained CoreService gets over verify's own. */
  env: Record<string, string>;
  /** Removes every container and image of the run, then the holder (never throws). */
  cleanup(): Promise<void>;
}

/** The daemon's unix socket from DOCKER_HOST (default /var/run/docker.sock), or why it is not one. */
function daemonSocket(): string | { why: string } {
  const host = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  if (!host.startsWith('unix:///'))
    return { why: `DOCKER_HOST must be a unix socket for a contained install (it is ${host.slice(0, 200)})` };
  return host.slice('unix://'.length);
}

/**
 * Makes the network holder for a smoke install whose files are under `scratch`, or says why it
 * cannot (not root, no base image, no daemon answering). Whatever it made is removed by `cleanup`.
 */
export async function holdDockerNetwork(scratch: string): Promise<DockerHold | { why: string }> {
  if (process.getuid?.() !== 0)
    return {
      why: 'it needs root (the contained CoreService joins the holder’s network namespace with nsenter)',
    };
  if (!onPath('nsenter')) return { why: 'nsenter (util-linux) is not installed' };
  const socket = daemonSocket();
  if (typeof socket !== 'string') return socket;
  // Given after `--`: docker reads it as an image, whatever it holds.
  const image = process.env.MAGELLON_DOCKER_BASE_IMAGE ?? '';
  if (!image)
    return {
      why: 'MAGELLON_DOCKER_BASE_IMAGE must name the base image (it holds the sleep the network holder runs)',
    };
  const env = {
    ...process.env,
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: join(scratch, 'docker-config'),
  };
  const name = `hub-verify-net-${randomBytes(6).toString('hex')}`;
  const cleanup = () => removeRun(scratch, env);
  const made = await docker(
    [
      'run',
      '-d',
      '--name',
      name,
      '--label',
      `${VERIFY_LABEL}=${scratch}`,
      '--network',
      'none',
      '--user',
      '65534:65534',
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--pids-limit',
      '8',
      '--entrypoint',
      'sleep',
      '--',
      image,
      '86400',
    ],
    env,
  );
  if (made.code !== 0) {
    await cleanup();
    return { why: `the network holder could not be started: ${said(made)}` };
  }
  const pid = await docker(['inspect', '--type', 'container', '--format', '{{.State.Pid}}', '--', name], env);
  const n = Number(pid.stdout.trim());
  if (pid.code !== 0 || !Number.isInteger(n) || n <= 0) {
    await cleanup();
    return { why: `the network holder is not running: ${said(pid)}` };
  }
  return {
    netns: `/proc/${n}/ns/net`,
    socket,
    env: {
      DOCKER_HOST: env.DOCKER_HOST,
      DOCKER_CONFIG: env.DOCKER_CONFIG,
      MAGELLON_DOCKER_NETWORK: `container:${name}`,
    },
    cleanup,
  };
}

/**
 * Removes, by label, the containers and images CoreService made under `scratch` (their home label
 * starts with it), then the holder of that run.
 */
async function removeRun(scratch: string, env: NodeJS.ProcessEnv): Promise<void> {
  // `<id> <home label>` lines: the ids whose home is under the scratch dir.
  const ours = (text: string) =>
    lines(text).flatMap((l) => {
      const at = l.indexOf(' ');
      return at > 0 && l.slice(at + 1).startsWith(`${scratch}/`) ? [l.slice(0, at)] : [];
    });
  const ps = await docker(
    [
      'ps',
      '-a',
      '--no-trunc',
      '--filter',
      `label=${HOME_LABEL}`,
      '--format',
      `{{.ID}} {{.Label "${HOME_LABEL}"}}`,
    ],
    env,
  );
  const containers = ours(ps.stdout);
  if (containers.length > 0) await docker(['rm', '-f', '-v', '--', ...containers], env);
  const ids = [
    ...new Set(
      lines(
        (await docker(['image', 'ls', '-q', '--no-trunc', '--filter', `label=${HOME_LABEL}`], env)).stdout,
      ),
    ),
  ];
  if (ids.length > 0) {
    const labelled = await docker(
      ['image', 'inspect', '--format', `{{.Id}} {{index .Config.Labels "${HOME_LABEL}"}}`, '--', ...ids],
      env,
    );
    const images = ours(labelled.stdout);
    if (images.length > 0) await docker(['image', 'rm', '-f', '--', ...images], env);
  }
  const holders = lines(
    (await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${VERIFY_LABEL}=${scratch}`], env)).stdout,
  );
  if (holders.length > 0) await docker(['rm', '-f', '-v', '--', ...holders], env);
}
