// The slurm backend against a real one-node cluster (infra/engines.ts: slurmctld, slurmd and munged
// of the test's own): the backend contract with the capabilities it declares, then what only it
// does: the batch script holds no string of the plugin's, the job runs under the plugin's uid,
// secrets never reach `scontrol show job` or `ps`, a cancelled job leaves no process behind.
// Without a cluster (not root, no slurm-wlm) the file says so in one loud line and skips.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlurmCluster, startSlurm } from '../../infra/engines';
import { doctor } from '../src/doctor';
import { installFromFile, uninstall } from '../src/install';
import { receiptFile, slurmBatchScript, slurmDir, slurmReplicaFile, stateFile } from '../src/layout';
import { readRecord, receiptSchema, runStateSchema, slurmJobRecordSchema, writeRecord } from '../src/records';
import type { PluginRuntime } from '../src/runtime/backend';
import { probeHealth, waitHealthy } from '../src/runtime/health';
import { probeHost } from '../src/runtime/host';
import { bubblewrapUnavailable } from '../src/runtime/isolation';
import {
  launch,
  loadRuntime,
  replicaStatus,
  retire,
  stopWholePlugin,
  withSandbox,
} from '../src/runtime/runner';
import { pluginEnv } from '../src/runtime/settings';
import { batchScript, parseShowJob, SlurmBackend, shQuote } from '../src/runtime/slurm';
import { Supervisor, type SupervisorEvent } from '../src/runtime/supervisor';
import { describeBackendContract, environ, installedExample } from './backend-contract';
import { packVariant } from './fixtures';
import { alive, asRoot, expectFailure, scratchDir, stopAllUnder } from './helpers';

/** What a command printed, or '' when it failed (grep and pgrep fail when they find nothing). */
const output = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', env: process.env }).trim();
  } catch {
    return '';
  }
};

/** Every process below `pid` (through /proc/<pid>/task/<tid>/children). */
const descendants = (pid: number): number[] => {
  let kids: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) kids = kids.concat(text.split(/\s+/).map(Number));
    }
  } catch {}
  return kids.flatMap((k) => [k, ...descendants(k)]);
};

/** Adds a slurm install entry (the fft example's uv environment) to an example's manifest. */
const withSlurmEntry = (dir: string) => {
  const m = join(dir, 'manifest.yaml');
  writeFileSync(
    m,
    readFileSync(m, 'utf8').replace(
      /^install:\n/m,
      'install:\n  - method: slurm\n    pyproject: pyproject.toml\n',
    ),
  );
};

describe('shQuote and the batch script (no cluster needed)', () => {
  it('quotes every word so that sh reads it back unchanged and runs nothing in it', () => {
    const scratch = scratchDir('coreservice-shq-');
    const pwn = join(scratch, 'pwned');
    const words = [
      'plain',
      "it's",
      `$(touch ${pwn})`,
      `\`touch ${pwn}\``,
      'a\nnew line',
      '"double" \\ back',
      `'; touch ${pwn}; '`,
      '',
    ];
    for (const w of words) {
      const out = execFileSync('sh', ['-c', `printf %s ${shQuote(w)}`], { encoding: 'utf8' });
      expect(out).toBe(w);
    }
    expect(existsSync(pwn)).toBe(false);
    expect(() => shQuote('a\0b')).toThrow(/NUL/);
    const script = batchScript(`/x/'$(touch ${pwn})'`, '/y/launch.py');
    expect(script).toContain(`exec '/x/'\\''$(touch ${pwn})'\\''' -I -S '/y/launch.py' "$1"`);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('reads how a job ended from scontrol show job', () => {
    expect(parseShowJob('JobId=7 JobState=FAILED Reason=x ExitCode=4:0 NodeList=vm')).toEqual({
      state: 'FAILED',
      exit: 4,
      node: 'vm',
    });
    expect(parseShowJob('JobState=CANCELLED ExitCode=0:15 NodeList=(null)')).toEqual({
      state: 'CANCELLED',
      exit: null,
    });
  });
});

const cluster: SlurmCluster | undefined = await startSlurm();

if (!cluster) {
  describe.skip('slurm backend (no cluster here: see the SKIPPED line above)', () => {
    it('skipped', () => {});
  });
} else {
  const saved = process.env.SLURM_CONF;
  beforeAll(() => {
    process.env.SLURM_CONF = cluster.conf;
  });
  afterAll(async () => {
    await cluster.stop();
    if (saved === undefined) delete process.env.SLURM_CONF;
    else process.env.SLURM_CONF = saved;
  }, 60_000);
  // The contract's first test asks unavailable() before any beforeAll of this file could run it.
  process.env.SLURM_CONF = cluster.conf;

  describeBackendContract(() => new SlurmBackend(), {
    name: 'slurm (real slurmctld/slurmd)',
    plugin: 'fft',
    method: 'slurm',
    needsPython: true,
    preparesVenv: true,
    pause: asRoot,
    scale: true,
    editExample: withSlurmEntry,
    prepareSays: /batch script/,
  });

  describe('the slurm backend on a real cluster', () => {
    const scratch = scratchDir('coreservice-slurm-');
    const backend = new SlurmBackend();
    const slurmEnv = () => ({ ...process.env, SLURM_CONF: cluster.conf });
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));
    const example = (edit?: (d: string) => void): PluginRuntime =>
      installedExample(scratch, 'fft', 'slurm', (d) => {
        withSlurmEntry(d);
        edit?.(d);
      });

    it('says why it cannot run when no controller answers', async () => {
      const host = await probeHost();
      process.env.SLURM_CONF = join(scratch, 'nowhere.conf');
      try {
        expect(backend.unavailable(host)).toMatch(/no Slurm controller answers/);
      } finally {
        process.env.SLURM_CONF = cluster.conf;
      }
      expect(backend.unavailable({ ...host, hasBinary: (b) => b !== 'sbatch' })).toMatch(/sbatch/);
    });

    it('writes the batch script 0600 in a 0700 dir, with no manifest string in it; hostile strings run nothing', async () => {
      const pwn = join(scratch, 'pwned');
      const hostile = `$(touch ${pwn})'"\n\`touch ${pwn}\``;
      const rt = example((d) => {
        const m = join(d, 'manifest.yaml');
        writeFileSync(
          m,
          readFileSync(m, 'utf8').replace(/^name:.*$/m, `name: ${JSON.stringify(`fft ${hostile}`)}`),
        );
      });
      await backend.prepare(rt, () => {});
      const script = readFileSync(slurmBatchScript(rt.home, rt.version), 'utf8');
      expect(script).not.toContain('touch');
      expect(script).not.toContain(rt.manifest.name);
      expect(statSync(slurmBatchScript(rt.home, rt.version)).mode & 0o777).toBe(0o600);
      expect(statSync(slurmDir(rt.home, rt.version)).mode & 0o777).toBe(0o700);
      const env = pluginEnv(rt, { settings: { file: { fft: { greeting: hostile } } } });
      await backend.start(rt, { replicas: 1, env });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      expect(environ(r!.pid!).MAGELLON_PLUGIN_FFT_GREETING).toBe(hostile);
      expect(existsSync(pwn)).toBe(false);
      await backend.remove(rt);
    }, 60_000);

    it('runs from a plugins dir whose path holds quotes, $(…), spaces and %: nothing runs, the paths stay as they are', async () => {
      const pwn = `pwned-${process.pid}`;
      const weird = scratchDir(`it's $(touch ${pwn}) \`touch ${pwn}\` %j x`, scratch);
      const rt = installedExample(weird, 'fft', 'slurm', withSlurmEntry);
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      expect(readFileSync(`/proc/${r!.pid}/cmdline`, 'utf8')).toContain(rt.home);
      expect(existsSync(slurmReplicaFile(rt.home, rt.version, 0, 'log'))).toBe(true);
      // Where a command substitution would have run: the job's dir, the submitter's, and below.
      expect(output('find', [scratch, process.cwd(), '-maxdepth', '6', '-name', pwn])).toBe('');
      await backend.remove(rt);
    }, 60_000);

    it('keeps secrets out of scontrol show job, the job environment Slurm stores, and ps', async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      const secret = `s3cret-${process.pid}-${Date.now()}`;
      const env = pluginEnv(rt, { settings: { file: { fft: { api_token: secret } } } });
      await backend.start(rt, { replicas: 1, env });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      const rec = readRecord(slurmReplicaFile(rt.home, rt.version, 0, 'json'), slurmJobRecordSchema);
      expect(rec.ok).toBe(true);
      const jobId = rec.ok ? rec.value.job_id : '';
      const shown = execFileSync('scontrol', ['show', 'job', '-dd', jobId], {
        env: slurmEnv(),
        encoding: 'utf8',
      });
      expect(shown).toContain(`magellon-fft-1.0.0-r0`);
      expect(shown).not.toContain(secret);
      // The environment slurmctld keeps for the job (what `scontrol show job` could not show).
      expect(output('grep', ['-rl', 'PATH=', join(cluster.stateDir, 'ctld')])).not.toBe('');
      expect(output('grep', ['-rl', secret, cluster.stateDir])).toBe('');
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(ps).not.toContain(secret);
      // The plugin has it, and its spec file (which held it) is gone.
      expect(environ(r!.pid!).MAGELLON_PLUGIN_FFT_API_TOKEN).toBe(secret);
      expect(existsSync(slurmReplicaFile(rt.home, rt.version, 0, 'spec.json'))).toBe(false);
      // The record shows it masked.
      expect(JSON.stringify(rec)).not.toContain(secret);
      await backend.remove(rt);
    }, 60_000);

    it('a cancelled job leaves no process; its replica reports stopped, and /health answered on 127.0.0.1', async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      expect(r!.host).toBe('127.0.0.1');
      expect(r!.node).toBeTruthy();
      expect(await probeHealth('127.0.0.1', r!.port!, rt)).toBe(true);
      await backend.stop(rt, { graceMs: 3_000 });
      expect(alive(r!.pid!)).toBe(false);
      expect(output('pgrep', ['-f', rt.dir])).toBe('');
      const [s] = await backend.status(rt);
      expect(s).toMatchObject({ state: 'stopped' });
      await backend.remove(rt);
    }, 60_000);

    it('a job that exits is reported exited with its code, for the supervisor to restart by policy', async () => {
      const rt = example((d) =>
        writeFileSync(
          join(d, 'main.py'),
          'import os, sys\nprint("run " + os.environ["MAGELLON_REPLICA_ID"] + " failing", file=sys.stderr)\nsys.exit(3)\n',
        ),
      );
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      let s = (await backend.status(rt))[0];
      for (let i = 0; i < 100 && s?.state !== 'exited'; i++) {
        await new Promise((res) => setTimeout(res, 200));
        s = (await backend.status(rt))[0];
      }
      expect(s).toMatchObject({ state: 'exited', exit_code: 3, restarts: 0 });
      await backend.restartReplica(rt, 0, { replicas: 1, env: pluginEnv(rt), restarts: 1 });
      expect((await backend.status(rt))[0]?.restarts).toBe(1);
      for (let i = 0; i < 100 && (await backend.status(rt))[0]?.state !== 'exited'; i++) {
        await new Promise((res) => setTimeout(res, 200));
      }
      // Both runs' output: the first one's is kept across the restart.
      expect((await backend.logs(rt, 10)).filter((l) => l === 'run fft-0 failing')).toHaveLength(2);
      await backend.remove(rt);
    }, 60_000);

    it("passes the operator's SBATCH_PARTITION, and says clearly why Slurm refused a job", async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      process.env.SBATCH_PARTITION = 'no-such-partition';
      try {
        const err = await expectFailure(
          backend.start(rt, { replicas: 1, env: pluginEnv(rt) }),
          'backend-failed',
        );
        expect(err.message).toMatch(/Slurm refused replica 0 of fft 1\.0\.0: .*[Pp]artition/);
      } finally {
        delete process.env.SBATCH_PARTITION;
      }
      process.env.SBATCH_PARTITION = 'hub';
      try {
        await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
        expect((await waitHealthy(backend, rt, { timeoutMs: 20_000 }))[0]?.state).toBe('running');
      } finally {
        delete process.env.SBATCH_PARTITION;
      }
      await backend.remove(rt);
    }, 60_000);

    it('a garbled job record is an unknown replica in status, named with why, never acted on; remove takes it away', async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      writeFileSync(slurmReplicaFile(rt.home, rt.version, 0, 'json'), '{"job_id": "1; scancel -u root"}');
      const [s] = await backend.status(rt);
      expect(s).toMatchObject({ replica: 0, state: 'unknown' });
      expect(s?.unreadable?.why).toMatch(/job_id|submitted_at/);
      await backend.stop(rt);
      await backend.remove(rt);
      expect(existsSync(slurmDir(rt.home, rt.version))).toBe(false);
      expect(await backend.leftovers(rt.home)).toEqual([]);
    });

    it("the tests' sweep (stopAllUnder) finds slurm job records and cancels their jobs", async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      await stopAllUnder(join(rt.home, '..'));
      expect(alive(r!.pid!)).toBe(false);
      expect(existsSync(slurmDir(rt.home, rt.version))).toBe(false);
    }, 60_000);

    it('installFromFile picks the slurm entry, starts it healthy as a job, and uninstall cancels it', async () => {
      const work = scratchDir('pack-', scratch);
      const bytes = await packVariant(work, 'fft', '1.0.0', withSlurmEntry);
      const file = join(work, 'fft-slurm.mpn');
      writeFileSync(file, bytes);
      const pluginsDir = scratchDir('plugins-', scratch);
      const receipt = await installFromFile({
        pluginsDir,
        file,
        method: 'slurm',
        run: { healthTimeoutMs: 30_000 },
      });
      expect(receipt).toMatchObject({ plugin_id: 'fft', version: '1.0.0', method: 'slurm' });
      const home = join(pluginsDir, 'fft');
      const rec = readRecord(slurmReplicaFile(home, '1.0.0', 0, 'json'), slurmJobRecordSchema);
      expect(rec.ok).toBe(true);
      const jobId = rec.ok ? rec.value.job_id : '';
      const state = () => output('squeue', ['-h', '-t', 'all', '-j', jobId, '-o', '%T']);
      expect(state()).toBe('RUNNING');
      await uninstall(pluginsDir, 'fft', { purge: true });
      expect(['CANCELLED', 'COMPLETED', 'FAILED', '']).toContain(state());
      expect(existsSync(home)).toBe(false);
    }, 120_000);

    it('refuses more replicas than resources.replicas.max', async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      await expectFailure(backend.start(rt, { replicas: 5, env: pluginEnv(rt) }), 'unsupported');
      await backend.remove(rt);
    });

    it('the supervisor applies the manifest policy to jobs: a killed job is resubmitted (on-failure), a clean exit stays down', async () => {
      const rt = example((d) => {
        const m = join(d, 'manifest.yaml');
        writeFileSync(
          m,
          readFileSync(m, 'utf8').replace(
            /lifecycle:[\s\S]*?restart_max_retries: \d+/,
            'lifecycle:\n  restart_policy: on-failure\n  restart_max_retries: 5',
          ),
        );
      });
      writeRecord(receiptFile(rt.home), receiptSchema, {
        plugin_id: 'fft',
        version: '1.0.0',
        archive_id: '',
        sha256: '0'.repeat(64),
        size_bytes: 0,
        registry: 'upload',
        method: 'slurm',
        installed_at: new Date().toISOString(),
      });
      writeRecord(stateFile(rt.home), runStateSchema, { desired: 'running', replicas: 1 });
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      const jobOf = () => {
        const rec = readRecord(slurmReplicaFile(rt.home, rt.version, 0, 'json'), slurmJobRecordSchema);
        return rec.ok ? rec.value.job_id : '';
      };
      const first = jobOf();
      const events: SupervisorEvent[] = [];
      // Restarts (its health changes are status.test.ts's).
      const sup = new Supervisor(
        join(rt.home, '..'),
        {},
        { onEvent: (e) => e.type !== 'status' && events.push(e) },
      );
      const tickUntil = async (done: () => Promise<boolean>, ms: number) => {
        for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
          await sup.tick();
          if (await done()) return true;
          await new Promise((res) => setTimeout(res, 200));
        }
        return false;
      };
      process.kill(r!.pid!, 'SIGKILL');
      expect(await tickUntil(async () => jobOf() !== first, 20_000)).toBe(true);
      const [again] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      expect(again).toMatchObject({ restarts: 1, state: 'running' });
      expect(events).toMatchObject([
        { type: 'restart', plugin_id: 'fft', replica: 0, restarts: 1, exit_code: null },
      ]);
      // SIGTERM: the plugin exits 0, which on-failure leaves down.
      process.kill(again!.pid!, 'SIGTERM');
      await tickUntil(async () => (await backend.status(rt))[0]?.state === 'exited', 20_000);
      await tickUntil(async () => false, 1_500);
      expect((await backend.status(rt))[0]).toMatchObject({ state: 'exited', exit_code: 0 });
      expect(events).toHaveLength(1);
      await backend.remove(rt);
    }, 90_000);

    it("CoreService's launch() runs a slurm plugin like any other: sandboxed, healthy, stopped whole", async () => {
      const plain = example();
      const rt = loadRuntime(join(plain.home, '..'), 'fft', '1.0.0', 'slurm');
      await backend.prepare(rt, () => {});
      const replicas = await launch(rt, { replicas: 1, healthTimeoutMs: 20_000 });
      expect(replicas[0]?.state).toBe('running');
      if (asRoot) expect(replicas[0]?.isolation).toBe('uid');
      const boxed = await withSandbox(rt);
      expect((await replicaStatus(boxed)).map((r) => r.healthy)).toEqual([true]);
      await stopWholePlugin(boxed);
      expect(alive(replicas[0]!.pid!)).toBe(false);
      await retire(rt, 'slurm');
      expect(existsSync(slurmDir(rt.home, rt.version))).toBe(false);
    }, 60_000);

    it('doctor cancels the jobs of an install that never finished (no receipt) and removes it', async () => {
      const rt = example();
      await backend.prepare(rt, () => {});
      await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
      const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
      const report = await doctor(join(rt.home, '..'));
      expect(report.removed.map((x) => x.path)).toContain('fft');
      expect(alive(r!.pid!)).toBe(false);
      const jobs = execFileSync('squeue', ['-h', '-o', '%j|%k'], { env: slurmEnv(), encoding: 'utf8' });
      expect(jobs).not.toContain(rt.home);
      expect(existsSync(rt.home)).toBe(false);
    }, 60_000);

    it.runIf(asRoot)(
      'runs the job under the plugin’s own uid (uid isolation, as root)',
      async () => {
        const rt = await withSandbox(example(), { isolation: 'uid' });
        const uid = rt.sandbox!.identity!.uid;
        await backend.prepare(rt, () => {});
        await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
        const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
        const status = readFileSync(`/proc/${r!.pid}/status`, 'utf8');
        expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
        expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
        expect(status).toMatch(/^Groups:\s*$/m);
        // The job's output and records stay root's: the replica only has the descriptor.
        expect(statSync(slurmReplicaFile(rt.home, rt.version, 0, 'log')).uid).toBe(0);
        expect(statSync(slurmReplicaFile(rt.home, rt.version, 0, 'json')).mode & 0o777).toBe(0o600);
        await backend.remove(rt);
      },
      60_000,
    );

    it.runIf(asRoot && !bubblewrapUnavailable())(
      'runs the job in bubblewrap namespaces under the plugin’s uid (namespace isolation, as root)',
      async () => {
        const rt = await withSandbox(example(), { isolation: 'namespace' });
        const uid = rt.sandbox!.identity!.uid;
        await backend.prepare(rt, () => {});
        await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
        const [r] = await waitHealthy(backend, rt, { timeoutMs: 20_000 });
        expect(await probeHealth('127.0.0.1', r!.port!, rt)).toBe(true);
        // The job's batch task is bwrap, under the plugin's uid; main.py runs inside its PID namespace.
        expect(readFileSync(`/proc/${r!.pid}/cmdline`, 'utf8').split('\0')[0]).toMatch(/bwrap$/);
        expect(readFileSync(`/proc/${r!.pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${uid}\\s`, 'm'));
        const inside = descendants(r!.pid!);
        expect(inside.length).toBeGreaterThan(0);
        expect(
          inside.some((p) => /^NSpid:\s+\d+\s+\d+/m.test(readFileSync(`/proc/${p}/status`, 'utf8'))),
        ).toBe(true);
        await backend.remove(rt);
        expect(alive(r!.pid!)).toBe(false);
      },
      60_000,
    );
  });
}
