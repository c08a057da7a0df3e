// The backend contract (backend-contract.ts) run against each backend with the capabilities it
// declares; then what only the process and uv backends do: the uv backend's dependencies from the
// archive's wheels (never an index), the supervisor's restart policies with real processes killed
// by real signals, and run records a plugin or a crash can garble.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { receiptFile, replicaFile, runDir, stateFile } from '../src/layout';
import { receiptSchema, replicaRecordSchema, runStateSchema, writeRecord } from '../src/records';
import type { PluginRuntime } from '../src/runtime/backend';
import { waitHealthy } from '../src/runtime/health';
import { findPython } from '../src/runtime/host';
import { ProcessBackend } from '../src/runtime/process';
import { pluginEnv } from '../src/runtime/settings';
import { Supervisor, type SupervisorEvent, shouldRestart } from '../src/runtime/supervisor';
import { UvBackend, venvDir } from '../src/runtime/uv';
import { describeBackendContract, installedExample } from './backend-contract';
import { alive, expectFailure, scratchDir, stopAllUnder } from './helpers';

const scratch = scratchDir('coreservice-backends-');
afterAll(async () => {
  await stopAllUnder(scratch);
  rmSync(scratch, { recursive: true, force: true });
});

/** An example plugin laid out as CoreService installs it (see installedExample). */
const installed = (id: string, method: 'subprocess' | 'uv', edit?: (dir: string) => void): PluginRuntime =>
  installedExample(scratch, id, method, edit);

/**
 * A `uv` on PATH that speaks uv's command line and records each call: `uv venv [--no-config]
 * [--python P] [--] PATH` and `uv pip install [--no-config] --python P [--no-index] [--find-links D]
 * [--only-binary :all:] [--] REQ…`, done with the interpreter's own venv and pip. Any other option
 * is refused, as a uv that does not know it would.
 */
function fakeUv(): { bin: string; calls: () => string[] } {
  const bin = mkdtempSync(join(scratch, 'fake-uv-'));
  const script = `#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
cmd="$1"; shift
if [ "$cmd" = pip ]; then sub="$1"; shift; [ "$sub" = install ] || { echo "fake uv: pip $sub unsupported" >&2; exit 2; }; fi
python=""; links=""; index=yes; binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-config) shift ;;
    --python) python="$2"; shift 2 ;;
    --no-index) index=no; shift ;;
    --find-links) links="$links --find-links $2"; shift 2 ;;
    --only-binary) binary="$2"; shift 2 ;;
    --) shift; break ;;
    -*) echo "error: unexpected argument '$1' found" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ "$cmd" = venv ]; then
  [ $# -eq 1 ] || { echo "fake uv: venv takes one path" >&2; exit 2; }
  exec "$python" -m venv --without-pip "$1"
elif [ "$cmd" = pip ]; then
  [ "$index" = no ] || { echo "fake uv: this test never installs from an index" >&2; exit 2; }
  "$python" -m ensurepip --default-pip >/dev/null || exit 1
  exec "$python" -m pip --isolated install --disable-pip-version-check --no-cache-dir --no-index $links \${binary:+--only-binary "$binary"} -- "$@"
fi
echo "fake uv: unsupported: $cmd" >&2
exit 2
`;
  writeFileSync(join(bin, 'uv'), script);
  chmodSync(join(bin, 'uv'), 0o755);
  return {
    bin,
    calls: () =>
      existsSync(join(bin, 'calls.log'))
        ? readFileSync(join(bin, 'calls.log'), 'utf8').trim().split('\n')
        : [],
  };
}

describeBackendContract(() => new ProcessBackend(), {
  name: 'process',
  plugin: 'ctf',
  method: 'subprocess',
  needsPython: true,
  preparesVenv: false,
  pause: false,
  scale: true,
});

describeBackendContract(() => new UvBackend(), {
  name: 'uv (python3 -m venv + pip, no uv binary)',
  plugin: 'fft',
  method: 'uv',
  needsPython: true,
  preparesVenv: true,
  pause: false,
  scale: true,
  prepareSays: /python3 -m venv/,
});

describeBackendContract(() => new UvBackend(), {
  name: 'uv (a uv binary on PATH)',
  plugin: 'fft',
  method: 'uv',
  needsPython: true,
  preparesVenv: true,
  pause: false,
  scale: true,
  prepareSays: /with uv/,
  fixture: () => {
    const fake = fakeUv();
    return {
      pathPrepend: fake.bin,
      afterPrepare: async (rt) => {
        const python = (await findPython())!.executable;
        expect(fake.calls()).toEqual([`venv --no-config --python ${python} -- ${venvDir(rt)}`]);
      },
    };
  },
});

// These tests install from the archive's wheels/ only: offline, so nothing here ever reaches an
// index (python-index.test.ts tests installs from one).
process.env.MAGELLON_PYTHON_OFFLINE = '1';

describe("the uv backend with a dependency in the archive's wheels/", () => {
  it("installs it from the wheel, with no index, into the version's venv", async () => {
    const rt = installed('fft', 'uv', (d) => {
      const p = join(d, 'pyproject.toml');
      writeFileSync(
        p,
        readFileSync(p, 'utf8').replace('dependencies = []', 'dependencies = ["hubdemo==1.0"]'),
      );
      mkdirSync(join(d, 'wheels'));
      // A pure-Python wheel, written the way any build backend lays one out.
      execFileSync('python3', [
        '-c',
        [
          'import sys, zipfile',
          'z = zipfile.ZipFile(sys.argv[1], "w")',
          'z.writestr("hubdemo/__init__.py", "ANSWER = 42\\n")',
          'z.writestr("hubdemo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: hubdemo\\nVersion: 1.0\\n")',
          'z.writestr("hubdemo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")',
          'z.writestr("hubdemo-1.0.dist-info/RECORD", "")',
          'z.close()',
        ].join('\n'),
        join(d, 'wheels', 'hubdemo-1.0-py3-none-any.whl'),
      ]);
    });
    await new UvBackend().prepare(rt, () => {});
    const out = execFileSync(
      join(venvDir(rt), 'bin', 'python'),
      ['-c', 'import hubdemo; print(hubdemo.ANSWER)'],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toBe('42');
    await new UvBackend().remove(rt);
    expect(existsSync(venvDir(rt))).toBe(false);
  }, 120_000);
});

describe('the uv backend without a wheel for a dependency', () => {
  it('fails prepare with pip’s reason and leaves no venv', async () => {
    const rt = installed('fft', 'uv', (d) => {
      const p = join(d, 'pyproject.toml');
      writeFileSync(
        p,
        readFileSync(p, 'utf8').replace('dependencies = []', 'dependencies = ["numpy>=1.26"]'),
      );
    });
    const err = await expectFailure(
      new UvBackend().prepare(rt, () => {}),
      'backend-failed',
    );
    expect(err.message).toMatch(/numpy/);
    expect(existsSync(venvDir(rt))).toBe(false);
  }, 120_000);
});

describe('dependencies are data, never options', () => {
  /** A PEP 503 index on 127.0.0.1 that counts every request it gets (it should get none). */
  async function countingIndex(): Promise<{ url: string; requests: string[]; close: () => void }> {
    const requests: string[] = [];
    const server = createHttpServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return { url, requests, close: () => server.close() };
  }

  it('an option, a URL or a path as a dependency is refused before pip runs: nothing fetched, nothing written', async () => {
    const index = await countingIndex();
    const target = join(scratchDir('pip-', scratch), 'target');
    try {
      for (const dep of [
        `--target=${target}`,
        `--index-url=${index.url}/simple`,
        `-r ${join(scratch, 'reqs.txt')}`,
        `hubdemo @ ${index.url}/hubdemo-1.0-py3-none-any.whl`,
        './local-package',
        'hubdemo\n--extra-index-url http://127.0.0.1:1/',
      ]) {
        const rt = installed('fft', 'uv', (d) => {
          const p = join(d, 'pyproject.toml');
          writeFileSync(
            p,
            readFileSync(p, 'utf8').replace('dependencies = []', `dependencies = [${JSON.stringify(dep)}]`),
          );
        });
        const err = await expectFailure(
          new UvBackend().prepare(rt, () => {}),
          'bad-archive',
        );
        expect(err.message, dep).toMatch(/pyproject\.toml is refused: line \d+/);
        expect(existsSync(venvDir(rt)), dep).toBe(false);
      }
      expect(index.requests).toEqual([]);
      expect(existsSync(target)).toBe(false);
    } finally {
      index.close();
    }
  }, 120_000);

  it('pip settings in CoreService’s environment never reach pip: no index is asked', async () => {
    const index = await countingIndex();
    const saved = { ...process.env };
    Object.assign(process.env, {
      PIP_INDEX_URL: `${index.url}/simple`,
      PIP_EXTRA_INDEX_URL: `${index.url}/extra`,
      PIP_FIND_LINKS: `${index.url}/links`,
      PIP_NO_INDEX: '0',
      UV_INDEX_URL: `${index.url}/uv`,
    });
    try {
      const rt = installed('fft', 'uv', (d) => {
        const p = join(d, 'pyproject.toml');
        writeFileSync(
          p,
          readFileSync(p, 'utf8').replace('dependencies = []', 'dependencies = ["hubdemo==1.0"]'),
        );
      });
      const err = await expectFailure(
        new UvBackend().prepare(rt, () => {}),
        'backend-failed',
      );
      expect(err.message).toMatch(/hubdemo/);
      expect(index.requests).toEqual([]);
    } finally {
      process.env = saved;
      index.close();
    }
  }, 120_000);
});

describe('the supervisor honours the restart policy', () => {
  async function running(policy: string, retries: number) {
    const rt = installed('ctf', 'subprocess', (d) => {
      const m = join(d, 'manifest.yaml');
      writeFileSync(
        m,
        readFileSync(m, 'utf8').replace(
          /lifecycle:[\s\S]*?restart_max_retries: \d+/,
          `lifecycle:\n  restart_policy: ${policy}\n  restart_max_retries: ${retries}`,
        ),
      );
    });
    // Lay it out as an installed plugin so the supervisor finds it.
    const pluginsDir = join(rt.home, '..');
    writeRecord(receiptFile(rt.home), receiptSchema, {
      plugin_id: 'ctf',
      version: '1.0.0',
      archive_id: '',
      sha256: '0'.repeat(64),
      size_bytes: 0,
      registry: 'upload',
      method: 'subprocess',
      installed_at: new Date().toISOString(),
    });
    writeRecord(stateFile(rt.home), runStateSchema, { desired: 'running', replicas: 1 });
    const backend = new ProcessBackend();
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    const [r] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
    const events: SupervisorEvent[] = [];
    // Restarts and giving up (its health changes are status.test.ts's).
    const sup = new Supervisor(pluginsDir, {}, { onEvent: (e) => e.type !== 'status' && events.push(e) });
    return { rt, backend, pid: r!.pid!, sup, events };
  }

  async function tickUntil(sup: Supervisor, done: () => Promise<boolean>, ms = 10_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      await sup.tick();
      if (await done()) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  it('on-failure: a replica killed with SIGKILL comes back; one that exits 0 (SIGTERM) stays down', async () => {
    const { rt, backend, pid, sup, events } = await running('on-failure', 5);
    process.kill(pid, 'SIGKILL');
    const back = await tickUntil(sup, async () => (await backend.status(rt))[0]?.pid !== pid);
    expect(back).toBe(true);
    const [again] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
    expect(again).toMatchObject({ restarts: 1, state: 'running' });
    expect(events).toMatchObject([
      { type: 'restart', plugin_id: 'ctf', replica: 0, restarts: 1, exit_code: null },
    ]);
    process.kill(again!.pid!, 'SIGTERM');
    await tickUntil(sup, async () => (await backend.status(rt))[0]?.state === 'exited', 5_000);
    expect((await backend.status(rt))[0]).toMatchObject({ state: 'exited', exit_code: 0 });
    await tickUntil(sup, async () => false, 1_500);
    expect((await backend.status(rt))[0]?.state).toBe('exited');
    expect(events).toHaveLength(1);
  }, 60_000);

  it('no: a killed replica is left down', async () => {
    const { rt, backend, pid, sup, events } = await running('no', 5);
    process.kill(pid, 'SIGKILL');
    await tickUntil(sup, async () => false, 2_000);
    expect((await backend.status(rt))[0]?.state).toBe('exited');
    expect(events).toEqual([]);
  }, 30_000);

  it('restart_max_retries caps the restarts, then the supervisor gives up and says so', async () => {
    const { rt, backend, pid, sup, events } = await running('always', 1);
    process.kill(pid, 'SIGKILL');
    await tickUntil(sup, async () => (await backend.status(rt))[0]?.pid !== pid);
    const [again] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
    process.kill(again!.pid!, 'SIGKILL');
    const gaveUp = await tickUntil(sup, async () => events.some((e) => e.type === 'gave-up'));
    expect(gaveUp).toBe(true);
    expect((await backend.status(rt))[0]?.state).toBe('exited');
  }, 60_000);

  it('policy table', () => {
    expect(shouldRestart('no', 0, { exit_code: 1, restarts: 0 })).toBe('leave');
    expect(shouldRestart('on-failure', 0, { exit_code: 0, restarts: 0 })).toBe('leave');
    expect(shouldRestart('on-failure', 3, { exit_code: null, restarts: 2 })).toBe('restart');
    expect(shouldRestart('on-failure', 3, { exit_code: 1, restarts: 3 })).toBe('give-up');
    expect(shouldRestart('always', 0, { exit_code: 0, restarts: 99 })).toBe('restart');
    expect(shouldRestart('unless-stopped', 2, { exit_code: 0, restarts: 1 })).toBe('restart');
  });
});

describe('pids are never confused', () => {
  it('a record whose pid now belongs to another process is not signalled', async () => {
    const rt = installed('ctf', 'subprocess');
    const victim = execFileSync('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], {
      encoding: 'utf8',
    }).trim();
    mkdirSync(runDir(rt.home, rt.version), { recursive: true });
    writeRecord(replicaFile(rt.home, rt.version, 0, 'json'), replicaRecordSchema, {
      pid: Number(victim),
      pid_start: '1',
      started_at: new Date().toISOString(),
      restarts: 0,
    });
    const backend = new ProcessBackend();
    expect((await backend.status(rt))[0]?.state).toBe('exited');
    await backend.stop(rt, { graceMs: 100 });
    expect(alive(Number(victim))).toBe(true);
    process.kill(Number(victim), 'SIGKILL');
  });
});

describe('files a plugin can tamper with', () => {
  it('a FIFO or a link planted where CoreService reads or writes never hangs it nor leads it elsewhere', async () => {
    const rt = installed('ctf', 'subprocess');
    const backend = new ProcessBackend();
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    await waitHealthy(backend, rt, { timeoutMs: 15_000 });
    const run = runDir(rt.home, rt.version);
    // The log becomes a FIFO: reading the logs must not block on it.
    rmSync(join(run, 'replica-0.log'));
    execFileSync('mkfifo', [join(run, 'replica-0.log')]);
    expect(await backend.logs(rt, 10)).toEqual([]);
    // The next start replaces it with a regular file instead of blocking on the open.
    await backend.stop(rt);
    const outside = join(scratch, 'outside.txt');
    writeFileSync(outside, 'keep me\n');
    rmSync(join(run, 'replica-0.out'));
    symlinkSync(outside, join(run, 'replica-0.out'));
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    await waitHealthy(backend, rt, { timeoutMs: 15_000 });
    expect(statSync(join(run, 'replica-0.log')).isFile()).toBe(true);
    expect(readFileSync(outside, 'utf8')).toBe('keep me\n');
    await backend.stop(rt);
    // A manifest.yaml that became a FIFO: reloading the version fails at once, saying why.
    rmSync(join(rt.dir, 'manifest.yaml'));
    execFileSync('mkfifo', [join(rt.dir, 'manifest.yaml')]);
    const { loadRuntime } = await import('../src/runtime/runner');
    expect(() => loadRuntime(join(rt.home, '..'), 'ctf', '1.0.0', 'subprocess')).toThrow(/FIFO/);
  }, 60_000);
});

describe('a run record that cannot be read', () => {
  it('is an unknown replica in status, named with why, and never acted on; remove still takes it away', async () => {
    const rt = installed('ctf', 'subprocess');
    const backend = new ProcessBackend();
    await backend.start(rt, { replicas: 2, env: pluginEnv(rt) });
    const [, second] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
    await backend.stop(rt);
    const record = replicaFile(rt.home, rt.version, 0, 'json');
    for (const [garbled, why] of [
      ['{"pid": 12', /not JSON/],
      [JSON.stringify({ pid: 'one', started_at: 'x', restarts: 0 }), /^pid: /],
      ['[]', /\(top level\)/],
    ] as const) {
      writeFileSync(record, garbled);
      const [first, other] = await backend.status(rt);
      expect(first).toMatchObject({ replica: 0, state: 'unknown', unreadable: { path: record } });
      expect(first!.unreadable!.why).toMatch(why);
      expect(first!.pid).toBeUndefined();
      // The readable one is as it was.
      expect(other).toMatchObject({ replica: 1, state: 'stopped', pid: second!.pid });
    }
    // A torn settings record costs only the settings, never the replica.
    writeRecord(replicaFile(rt.home, rt.version, 0, 'json'), replicaRecordSchema, {
      pid: second!.pid!,
      started_at: new Date().toISOString(),
      restarts: 0,
    });
    const json = JSON.parse(readFileSync(record, 'utf8'));
    writeFileSync(record, JSON.stringify({ ...json, given: { settings: 'torn' } }));
    expect((await backend.status(rt))[0]).toMatchObject({ replica: 0, state: 'exited' });
    expect((await backend.status(rt))[0]?.given).toBeUndefined();
    writeFileSync(record, 'garbled');
    await backend.stop(rt);
    expect(await backend.logs(rt, 100)).not.toEqual([]);
    await backend.remove(rt);
    expect(existsSync(runDir(rt.home, rt.version))).toBe(false);
  }, 60_000);
});
