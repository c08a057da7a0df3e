// The one interface every install backend implements (process, uv; docker, systemd and slurm come
// with the lifecycle work). A backend runs one installed version of a plugin: it prepares what the
// version needs (a venv, an image), starts and stops its replicas, reports their state and logs, and
// removes what prepare and start made. It owns those files: nothing else in CoreService knows where
// a backend keeps them (doctor asks `leftovers`, retiring a version asks `remove`). CoreService
// decides when; the backend only does. Backends are found by method in backends.ts, and each
// passes the one contract suite (test/backend-contract.ts).
import type { ArchiveManifest, InstallMethod, InstallSpec } from '@magellon/hub-core';
import type { z } from 'zod';
import type { recordedStartSchema } from '../records';
import type { HostFacts } from './host';
import type { IsolationLevel, SandboxSpec } from './isolation';
import type { FollowOptions, LogLine } from './log-follow';
import type { EffectiveSetting } from './settings';

/** One installed version of a plugin, as a backend sees it. */
export interface PluginRuntime {
  pluginId: string;
  version: string;
  /** `<plugins_dir>/<id>`: per-plugin state (venvs, run state, data, snapshots). */
  home: string;
  /** `<plugins_dir>/<id>/<version>`: the verified files of this version. */
  dir: string;
  manifest: ArchiveManifest;
  entry: InstallSpec;
  /** How its replicas are kept from CoreService and from other plugins (absent: not at all). */
  sandbox?: SandboxSpec;
}

export interface StartOptions {
  /** How many replicas to run. */
  replicas: number;
  /** The environment the plugin gets (already filtered: CoreService's own secrets are not in it). */
  env: Record<string, string>;
  /** The settings in `env`, kept (secrets masked) in the replica's run record for status. */
  settings?: EffectiveSetting[];
}

/** Which version of which plugin: all a backend needs to find (and remove) what it made for it. */
export type VersionRef = Pick<PluginRuntime, 'pluginId' | 'home' | 'version'>;

/** What a replica was given when it was started, as its run record keeps it (secrets masked). */
export type RecordedStart = z.infer<typeof recordedStartSchema>;

/** `unknown`: its record cannot be read (`unreadable` says which and why), so nothing is done to it. */
export type ReplicaState = 'starting' | 'running' | 'exited' | 'stopped' | 'unknown';

/** One replica of a running version. */
export interface ReplicaInfo {
  replica: number;
  state: ReplicaState;
  /**
   * What its engine calls it, for an operator to find it there: the container's name (docker), the
   * job id (slurm), the unit (systemd), the pid (process, uv).
   */
  ref?: string;
  pid?: number;
  /** Where it serves /health, once it announced itself (or was told). */
  host?: string;
  port?: number;
  started_at?: string;
  /** Its exit status when it ended (null: killed by a signal or not known). */
  exit_code?: number | null;
  exited_at?: string;
  /** Frozen by pause (still `running`, but it answers nothing until unpaused). */
  paused?: boolean;
  /** The node it runs on (batch jobs). */
  node?: string;
  /** How many times the supervisor restarted it. */
  restarts: number;
  /** The isolation it was started with. */
  isolation?: IsolationLevel;
  /** The settings and environment it was started with (secrets masked), when its record has them. */
  given?: RecordedStart;
  /** With state `unknown`: the record that cannot be read, and why. */
  unreadable?: { path: string; why: string };
}

/** One Python package a venv was given: the receipt's `python_dependencies`. */
export interface PythonDependency {
  name: string;
  version: string;
  /** The sha256 (hex) of the file installed, when the installer reported it. */
  sha256?: string;
}

/** What prepare found worth recording in the receipt (records.ts receiptSchema). */
export interface PreparedFacts {
  python_dependencies?: PythonDependency[];
  /** The primary index they came from (no credentials); absent offline. */
  python_index?: string;
  /** Whether they were the exact set of a uv.lock. */
  locked?: boolean;
}

export interface Prepared {
  receipt?: PreparedFacts;
}

export interface Backend {
  /** The install method this backend serves (`subprocess` is the process backend). */
  readonly method: InstallMethod;
  /**
   * Its engine restarts replicas itself as the manifest's restart policy says (docker's
   * `--restart`, systemd's `Restart=`): CoreService's supervisor then leaves its replicas alone.
   */
  readonly restartsItself?: boolean;
  /** Why this backend cannot run plugins on this host, or undefined when it can. */
  unavailable(host: HostFacts): string | undefined;
  /** Paths besides the version's files that a replica must be able to read (a venv). */
  readablePaths?(rt: PluginRuntime): string[];
  /**
   * Builds what the version needs to run (idempotent); `log` receives progress lines. What it
   * returns is recorded in the receipt (the uv backend: the Python packages it installed).
   */
  prepare(rt: PluginRuntime, log: (line: string) => void): Promise<Prepared | undefined>;
  /**
   * Brings the version to `replicas` replicas: those numbered beyond it are stopped and forgotten,
   * those that run (or are starting, or paused) are left as they are, and the others are launched.
   * It does not wait for them to be healthy (see health.ts).
   */
  start(rt: PluginRuntime, opts: StartOptions): Promise<void>;
  /** Starts one replica again (the supervisor's restart); `restarts` is its new count. */
  restartReplica(
    rt: PluginRuntime,
    replica: number,
    opts: StartOptions & { restarts: number },
  ): Promise<void>;
  /** Stops every replica: SIGTERM (or the backend's equivalent), then a hard stop after `graceMs`. */
  stop(rt: PluginRuntime, opts?: { graceMs?: number }): Promise<void>;
  /** The replicas this version has (running, starting or exited). */
  status(rt: PluginRuntime): Promise<ReplicaInfo[]>;
  /** The last `tail` lines of the version's logs, oldest first. */
  logs(rt: PluginRuntime, tail: number): Promise<string[]>;
  /**
   * The live tail: first the last `opts.tail` lines (as `logs` answers them, oldest first, without
   * the `[n] ` prefix: each line says its replica), then every new line as it is written, keeping
   * up with replicas that appear later and logs that are truncated or replaced, until
   * `opts.signal` aborts; then it resolves, having ended whatever it started. A line is valid text,
   * at most 16 KiB (cut with a marker), and not escaped: whoever shows it escapes it.
   */
  follow(rt: PluginRuntime, opts: FollowOptions, onLine: (l: LogLine) => void): Promise<void>;
  /**
   * Removes everything prepare and start made for the version (its venv, image, run records and
   * logs), stopping first whatever of it still runs. Needs no manifest (a crash may have left a
   * version without one), and is idempotent: removing what is not there does nothing.
   */
  remove(ref: VersionRef): Promise<void>;
  /**
   * The versions under `home` this backend holds anything of, other than `installed` (for doctor:
   * what an interrupted operation left, which `remove` then takes away).
   */
  leftovers(home: string, installed?: string): Promise<string[]>;
  /** Pause and unpause exist only where the backend can freeze a plugin (containers). */
  pause?(rt: PluginRuntime): Promise<void>;
  unpause?(rt: PluginRuntime): Promise<void>;
}
