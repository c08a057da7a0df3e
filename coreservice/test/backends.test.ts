// The contract every install backend keeps, run against each of them on real example plugins:
// prepare, start, health, status, environment, logs, stop, remove. Then the supervisor's restart
// policies, with real processes killed by real signals.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
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
import { readManifest } from '@magellon/hub-core/node';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REPO } from '../../functions/test/harness';
import type { Backend, PluginRuntime } from '../src/runtime/backend';
import { probeHealth, waitHealthy } from '../src/runtime/health';
import { findPython, type HostFacts, probeHost } from '../src/runtime/host';
import { isAlive } from '../src/runtime/proc';
import { ProcessBackend } from '../src/runtime/process';
import { pluginEnv } from '../src/runtime/settings';
import { Supervisor, type SupervisorEvent, shouldRestart } from '../src/runtime/supervisor';
import { UvBackend, venvDir } from '../src/runtime/uv';
import { expectFailure, scratchDir, stopAllUnder } from './helpers';

const scratch = scratchDir('coreservice-backends-');
afterAll(async () => {
  await stopAllUnder(scratch);
  rmSync(scratch, { recursive: true, force: true });
});

let n = 0;
/** An example plugin laid out as CoreService installs it: `<home>/<version>/` holding its files. */
function installed(
  id: string,
  method: 'subprocess' | 'uv',
  edit: (dir: string) => void = () => {},
): PluginRuntime {
  const home = join(scratch, `${n++}`, id);
  const dir = join(home, '1.0.0');
  mkdirSync(home, { recursive: true });
  cpSync(join(REPO, 'examples', 'plugins', id), dir, { recursive: true, dereference: true });
  const m = join(dir, 'manifest.yaml');
  writeFileSync(m, readFileSync(m, 'utf8').replace(/^version:.*$/m, 'version: 1.0.0'));
  edit(dir);
  const parsed = readManifest(readFileSync(m, 'utf8'), 'manifest.yaml');
  if (!parsed.ok) throw new Error(parsed.findings[0]?.message);
  const entry = parsed.manifest.install.find((e) => e.method === method)!;
  return { pluginId: id, version: '1.0.0', home, dir, manifest: parsed.manifest, entry };
}

const environ = (pid: number) =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );

/** Alive and not a zombie (a stopped child stays a zombie until Node reaps it). */
const alive = (pid: number) => isAlive(pid, undefined);

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

const suites: { name: string; backend: Backend; id: string; method: 'subprocess' | 'uv'; uv?: boolean }[] = [
  { name: 'process', backend: new ProcessBackend(), id: 'ctf', method: 'subprocess' },
  { name: 'uv (python3 -m venv + pip, no uv binary)', backend: new UvBackend(), id: 'fft', method: 'uv' },
  { name: 'uv (a uv binary on PATH)', backend: new UvBackend(), id: 'fft', method: 'uv', uv: true },
];

describe.each(suites)('backend contract: $name', ({ backend, id, method, uv }) => {
  const path = process.env.PATH;
  afterEach(() => {
    process.env.PATH = path;
  });

  it('says whether it can run here', async () => {
    const host = await probeHost();
    expect(backend.unavailable(host)).toBeUndefined();
    const bare: HostFacts = { ...host, python: undefined, hasBinary: () => false };
    expect(backend.unavailable(bare)).toMatch(/python3/);
  });

  it('prepare → start → healthy → status, env, logs → stop → remove', async () => {
    const fake = uv ? fakeUv() : undefined;
    if (fake) process.env.PATH = `${fake.bin}:${path}`;
    const rt = installed(id, method);
    const lines: string[] = [];
    await backend.prepare(rt, (l) => lines.push(l));
    if (method === 'uv') {
      expect(existsSync(join(venvDir(rt), 'bin', 'python'))).toBe(true);
      expect(lines.join('\n')).toMatch(uv ? /with uv/ : /python3 -m venv/);
    }
    if (fake) {
      const python = (await findPython())!.executable;
      expect(fake.calls()).toEqual([`venv --no-config --python ${python} -- ${venvDir(rt)}`]);
    }

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
    if (method === 'uv') expect(readFileSync(`/proc/${r!.pid}/cmdline`, 'utf8')).toContain(venvDir(rt));

    expect((await backend.logs(rt, 50)).length).toBeGreaterThan(0);
    expect(await backend.logs(rt, 1)).toHaveLength(1);

    await backend.stop(rt);
    expect(alive(r!.pid!)).toBe(false);
    expect((await backend.status(rt)).map((x) => x.state)).toEqual(['stopped']);
    await backend.remove(rt);
    expect(existsSync(join(rt.home, 'run', '1.0.0'))).toBe(false);
    expect(existsSync(venvDir(rt))).toBe(false);
  }, 60_000);

  it('a plugin that dies at start fails the health check at once, with its last log lines', async () => {
    const rt = installed(id, method, (d) =>
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
    const target = join(scratch, `pip-target-${n}`);
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
    writeFileSync(
      join(rt.home, 'receipt.json'),
      JSON.stringify({ plugin_id: 'ctf', version: '1.0.0', method: 'subprocess' }),
    );
    writeFileSync(join(rt.home, 'state.json'), JSON.stringify({ desired: 'running', replicas: 1 }));
    const backend = new ProcessBackend();
    await backend.start(rt, { replicas: 1, env: pluginEnv(rt) });
    const [r] = await waitHealthy(backend, rt, { timeoutMs: 15_000 });
    const events: SupervisorEvent[] = [];
    const sup = new Supervisor(pluginsDir, {}, { onEvent: (e) => events.push(e) });
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
    mkdirSync(join(rt.home, 'run', '1.0.0'), { recursive: true });
    writeFileSync(
      join(rt.home, 'run', '1.0.0', 'replica-0.json'),
      JSON.stringify({
        pid: Number(victim),
        pid_start: '1',
        started_at: new Date().toISOString(),
        restarts: 0,
      }),
    );
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
    const run = join(rt.home, 'run', '1.0.0');
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
