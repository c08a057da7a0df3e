import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RabbitBroker, startRabbit } from '../../../infra/engines';
import { withPikaWheel } from '../../../infra/python/pika-wheel';
import { runHubAsync } from './run-hub';

// `hub test` runs the real plugin: lint, its own tests, then a real coreservice install and start.
const ROOT = mkdtempSync(join(tmpdir(), 'hub-test-cmd-'));
// Run as root, CoreService starts the plugin under a uid of its own, which must pass through here.
chmodSync(ROOT, 0o711);
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

/** A fresh scaffold, and a private TMPDIR for the hub run so what it leaves behind can be seen. */
function scaffold(name: string): { dir: string; tmp: string } {
  const r = spawnSync(
    process.execPath,
    [join(import.meta.dirname, '..', 'bin', 'hub.js'), 'scaffold', name, '--category', 'ctf', '--dir', ROOT],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  expect(r.status, r.stderr).toBe(0);
  const tmp = join(ROOT, `${name}-tmp`);
  mkdirSync(tmp, { mode: 0o711 });
  chmodSync(tmp, 0o711);
  return { dir: join(ROOT, name), tmp };
}

/** Processes whose command line names `path` (what a run left running). */
function processesUnder(path: string): string[] {
  const r = spawnSync('pgrep', ['-af', '--', path], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .filter((l) => !l.includes('pgrep'));
}

const hubTest = (args: string[], tmp: string) => runHubAsync(['test', ...args], { TMPDIR: tmp });

describe('hub test', () => {
  let good: { dir: string; tmp: string };
  beforeAll(() => {
    good = scaffold('probe-me');
  });

  it('lints, runs the plugin’s own tests, installs and starts it, asks /health, and leaves nothing behind', async () => {
    const r = await hubTest([good.dir], good.tmp);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/✔ lint: probe-me 0\.1\.0/);
    expect(r.stderr).toMatch(/✔ tests: (pytest: \d+ passed|unittest: Ran \d+ tests)/);
    expect(r.stderr).toMatch(
      /replica 0 GET \/health → 200 \{"status": "ok", "plugin_id": "probe-me", "version": "0\.1\.0"/,
    );
    expect(r.stderr).toMatch(/✔ start: installed with \w+, healthy, 1 replica answered \/health/);
    // The throw-away CoreService is gone, with everything it started, and the plugin dir is clean.
    expect(readdirSync(good.tmp)).toEqual([]);
    expect(processesUnder(good.tmp)).toEqual([]);
    const left = spawnSync('find', [good.dir, '-name', '__pycache__', '-o', '-name', '.pytest_cache'], {
      encoding: 'utf8',
    });
    expect(left.stdout.trim()).toBe('');
  });

  it('stops at a failing test of the plugin’s own, naming it, and never starts the plugin', async () => {
    const { dir, tmp } = scaffold('fails-own-test');
    const test = join(dir, 'tests', 'test_server.py');
    writeFileSync(test, readFileSync(test, 'utf8').replace('"sum": 10.0', '"sum": 11.0'));
    const r = await hubTest([dir], tmp);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✖ tests: (pytest: 1 failed|unittest)/);
    expect(r.stderr).toContain('test_run');
    expect(r.stderr).not.toContain('start:');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('stops at lint errors before running anything', async () => {
    const { dir, tmp } = scaffold('bad-manifest');
    const manifest = join(dir, 'manifest.yaml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/^version: .*$/m, 'version: not-semver'));
    const r = await hubTest([dir], tmp);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✖ lint: [1-9]\d* errors?/);
    expect(r.stderr).not.toContain('tests:');
  });

  it('reports a plugin that never becomes healthy with CoreService’s reason, and removes what it started', async () => {
    const { dir, tmp } = scaffold('never-healthy');
    writeFileSync(join(dir, 'main.py'), 'import sys\nprint("giving up", file=sys.stderr)\nsys.exit(3)\n');
    const r = await hubTest([dir, '--no-tests'], tmp);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('- tests: skipped (--no-tests)');
    expect(r.stderr).toMatch(/✖ start: CoreService could not install and start it: unhealthy: .*exited/);
    expect(r.stderr).toContain('giving up');
    expect(readdirSync(tmp)).toEqual([]);
    expect(processesUnder(tmp)).toEqual([]);
  });

  it('refuses a broker URL that is not amqp, and a plugin dir that is not a folder (exit 2)', async () => {
    const a = await hubTest([good.dir, '--broker-url', 'http://127.0.0.1:5672'], good.tmp);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--broker-url: a broker URL starts with amqp:// or amqps://');
    const b = await hubTest([join(good.dir, 'manifest.yaml')], good.tmp);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('is not one');
  });
});

describe('hub test --broker-url (a private RabbitMQ)', () => {
  let broker: RabbitBroker | undefined;
  beforeAll(async () => {
    broker = await startRabbit();
  }, 600_000);
  afterAll(async () => {
    await broker?.stop();
  }, 120_000);

  /** A scaffold with pika in its wheels/ (its venv sees no host package), installed offline. */
  function announcing(name: string): { dir: string; tmp: string } {
    const made = scaffold(name);
    withPikaWheel(made.dir);
    return made;
  }

  it('hears the scaffold’s announce on the broker, matched by its plugin id', async (ctx) => {
    if (!broker) return ctx.skip();
    const { dir, tmp } = announcing('on-the-bus');
    const r = await runHubAsync(['test', dir, '--no-tests', '--broker-url', broker.url], {
      TMPDIR: tmp,
      MAGELLON_PYTHON_OFFLINE: '1',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /broker: announce magellon\.plugins\.announce\.ctf\.on-the-bus from instance on-the-bus-0, matched by plugin_id/,
    );
    expect(r.stderr).toMatch(/✔ start: installed with uv, healthy, announced on the broker/);
    expect(r.stderr).not.toContain(new URL(broker.url).password);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('fails a plugin that answers /health but never announces, naming the broker without its password', async (ctx) => {
    if (!broker) return ctx.skip();
    const { dir, tmp } = scaffold('quiet-one');
    const manifest = join(dir, 'manifest.yaml');
    writeFileSync(
      manifest,
      readFileSync(manifest, 'utf8').replace(/timeout_seconds: \d+/, 'timeout_seconds: 5'),
    );
    const r = await runHubAsync(['test', dir, '--no-tests', '--broker-url', broker.url], { TMPDIR: tmp });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /✖ start: it started, but never announced itself on the broker amqp:\/\/hub:\*\*\*@127\.0\.0\.1/,
    );
    expect(r.stderr).toContain('broker: no announce of quiet-one heard');
    expect(r.stderr).not.toContain(new URL(broker.url).password);
    expect(readdirSync(tmp)).toEqual([]);
    expect(processesUnder(tmp)).toEqual([]);
  });

  it('says when the broker cannot be reached, before starting anything', async (ctx) => {
    if (!broker) return ctx.skip();
    const r = await runHubAsync(
      ['test', scaffold('unreachable').dir, '--no-tests', '--broker-url', 'amqp://u:sekrit@127.0.0.1:1/'],
      {},
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✖ start: cannot listen on the broker amqp:\/\/u:\*\*\*@127\.0\.0\.1:1\//);
    expect(r.stderr).not.toContain('sekrit');
  });
});
