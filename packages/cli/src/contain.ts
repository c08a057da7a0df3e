// Running a pull request's plugin during `hub verify` without letting it outlive the check: the
// smoke install runs in PID, network and IPC namespaces of its own, with the host's files read-only
// but for one scratch dir. When the command ends, the namespace's first process ends and the kernel
// kills every process left in it (a daemon the plugin started in a session of its own included);
// the namespace also dies with `hub verify` itself. The network namespace holds only its own
// loopback, so the plugin can reach nothing outside it. bubblewrap is used when it works, else
// util-linux `unshare` (root only); without either the smoke install is not run. As root, the
// host's registry of plugin uids stays writable inside: the plugin gets a uid no plugin of this
// host has, so it cannot read another's files even though the host's files are visible.
//
// A docker plugin's container is made by dockerd, outside these namespaces: for it the command is
// run (as root) inside the network namespace of a holder container instead of a new one of its own
// (`nsenter --net=…` in front, verify-docker.ts), with the daemon's socket bound in, so the
// plugin's container and the contained CoreService share that namespace's loopback and nothing else.
import { spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { onPath, pluginUidRegistry } from '@magellon/hub-core/node';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Where the contained command's network is: a namespace of its own (default), or an existing one. */
export interface ContainOptions {
  /** `/proc/<pid>/ns/net` of a process whose network namespace the command joins (root only). */
  netns?: string;
  /** Unix sockets the command may connect to (bound in read-only: connecting still works). */
  sockets?: string[];
}

/**
 * A prefix for a contained command: `scratch` stays writable, `programs` (what it runs) readable;
 * `opts` for a command that joins another network namespace.
 */
type Prefix = (scratch: string, programs: string[], opts?: ContainOptions) => string[];

/** `nsenter` into a network namespace, in front of a command that then makes no network namespace. */
const joinNet = (netns: string | undefined) => (netns ? ['nsenter', `--net=${netns}`, '--'] : []);

let probed: { prefix: Prefix } | string | undefined;

/**
 * The folders directly under the temp dir that hold any of `paths`: the sandbox gets a /tmp of its
 * own, so a program that lives there (a checkout under /tmp) is mounted back, read-only.
 */
function underTmp(paths: string[]): string[] {
  const tmp = realpathSync(tmpdir());
  const dirs = new Set<string>();
  for (const p of paths) {
    let real: string;
    try {
      real = realpathSync(p);
    } catch {
      continue;
    }
    if (!real.startsWith(`${tmp}/`)) continue;
    dirs.add(join(tmp, real.slice(tmp.length + 1).split('/')[0]!));
  }
  return [...dirs];
}

/** Whether `args` run to completion (exit 0) here. */
const works = (cmd: string, args: string[]) =>
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 }).status === 0;

/**
 * The command prefix that contains a command as described above, or why none can here. As root
 * the command keeps its uid inside (so CoreService gives the plugin a uid of its own); otherwise a
 * user namespace is made as well.
 */
export function container(): { prefix: Prefix } | string {
  if (probed !== undefined) return probed;
  const userns = isRoot() ? [] : ['--unshare-user'];
  const bwrapNoNet = [
    '--die-with-parent',
    ...userns,
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
  ];
  const bwrapBase = [...bwrapNoNet, '--unshare-net'];
  // The registry and its lock (`<registry>.lock`) live in one folder, bound as a whole.
  const shared = isRoot() ? [dirname(pluginUidRegistry())] : [];
  for (const dir of shared) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const binds = shared.flatMap((dir) => ['--bind', dir, dir]);
  if (onPath('bwrap') && works('bwrap', [...bwrapBase, ...binds, '--', 'true'])) {
    probed = {
      prefix: (scratch, programs, opts = {}) => [
        ...joinNet(opts.netns),
        'bwrap',
        ...(opts.netns ? bwrapNoNet : bwrapBase),
        ...binds,
        ...(opts.sockets ?? []).flatMap((sock) => ['--ro-bind', sock, sock]),
        ...underTmp(programs).flatMap((dir) => ['--ro-bind', dir, dir]),
        '--bind',
        scratch,
        scratch,
        '--chdir',
        scratch,
        '--',
      ],
    };
  } else if (
    isRoot() &&
    onPath('unshare') &&
    works('unshare', ['--pid', '--net', '--ipc', '--fork', '--kill-child', '--mount-proc', '--', 'true'])
  ) {
    // The scratch dir stays writable; the rest is the host's as it is (no read-only bind here).
    probed = {
      prefix: (_scratch, _programs, opts = {}) => [
        ...joinNet(opts.netns),
        'unshare',
        '--pid',
        ...(opts.netns ? [] : ['--net']),
        '--ipc',
        '--fork',
        '--kill-child',
        '--mount-proc',
        '--',
      ],
    };
  } else {
    probed = isRoot()
      ? 'neither bubblewrap (bwrap) nor util-linux unshare can make a PID namespace here; install bubblewrap'
      : 'bubblewrap (bwrap) cannot make user and PID namespaces here; install bubblewrap or run hub verify as root';
  }
  return probed;
}
