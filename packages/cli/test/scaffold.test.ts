import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { TEMPLATE_PLACEHOLDERS } from '@magellon/hub-core/node';
import { requireTool } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { HUB_BIN, REPO_ROOT, runHub } from './run-hub';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-scaffold-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

describe('hub scaffold', () => {
  const dir = join(ROOT, 'beam-tilt');

  it('creates a plugin that lints, warning that its placeholder description is still to be written', () => {
    const r = runHub(['scaffold', 'beam-tilt', '--category', 'ctf', '--dir', ROOT, '--author', 'Ada Lab']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('next:');
    for (const f of [
      'manifest.yaml',
      'main.py',
      'plugin/compute.py',
      'plugin/plugin.py',
      'pyproject.toml',
      'Dockerfile',
      'tests/test_compute.py',
    ]) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const manifest = readFileSync(join(dir, 'manifest.yaml'), 'utf8');
    expect(manifest).toMatch(/plugin_id: "?beam-tilt"?/);
    expect(manifest).toMatch(/category: "?ctf"?/);
    expect(manifest).toContain('Ada Lab');
    expect(manifest).not.toMatch(/\{\{\w+\}\}/);
    const lint = runHub(['lint', dir]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout).toMatch(
      /^beam-tilt\/manifest\.yaml:\d+:\d+: warning lint\.placeholder: description /m,
    );
    expect(runHub(['lint', dir, '--strict']).code).toBe(1);
    // Once the author writes one, it lints clean even with --strict.
    writeFileSync(
      join(dir, 'manifest.yaml'),
      manifest.replace(TEMPLATE_PLACEHOLDERS.description, 'Estimates beam tilt from a tilt series.'),
    );
    const strict = runHub(['lint', dir, '--strict']);
    expect(strict.code, strict.stdout + strict.stderr).toBe(0);
  });

  it('renders the very placeholders lint knows: a fresh scaffold with no --author or $USER triggers both', () => {
    const parent = mkdtempSync(join(ROOT, 'fresh-'));
    const r = runHub(['scaffold', 'fresh', '--category', 'ctf', '--dir', parent], REPO_ROOT, { USER: '' });
    expect(r.code, r.stderr).toBe(0);
    const manifest = readFileSync(join(parent, 'fresh', 'manifest.yaml'), 'utf8');
    const lineOf = (field: string) => manifest.split('\n').findIndex((l) => l.startsWith(`${field}:`)) + 1;
    const lint = runHub(['lint', join(parent, 'fresh'), '--format', 'json']);
    expect(lint.code, lint.stdout).toBe(0);
    const findings = JSON.parse(lint.stdout) as Array<{ severity: string; code: string; line: number }>;
    expect(findings.map((f) => [f.severity, f.code, f.line])).toEqual([
      ['warning', 'lint.placeholder', lineOf('author')],
      ['warning', 'lint.placeholder', lineOf('description')],
    ]);
  });

  it('packs, and the packed archive lints clean', () => {
    const r = runHub(['pack', dir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(runHub(['lint', join(ROOT, 'beam-tilt-0.1.0.mpn')]).code).toBe(0);
  });

  it.skipIf(!requireTool('python3'))('runs its own tests as generated', () => {
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
  });

  it('refuses an existing folder, a bad id or category, and quotes in --name', () => {
    const again = runHub(['scaffold', 'beam-tilt', '--category', 'ctf', '--dir', ROOT]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
    const badId = runHub(['scaffold', 'Beam Tilt', '--category', 'ctf', '--dir', ROOT]);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/lowercase slug/);
    expect(runHub(['scaffold', 'x', '--dir', ROOT]).stderr).toMatch(/needs --category/);
    expect(runHub(['scaffold', 'y', '--category', 'ctf', '--name', 'a "b"', '--dir', ROOT]).code).toBe(2);
    expect(existsSync(join(ROOT, 'y'))).toBe(false);
  });
});

/** Starts `python3 main.py --port 0` in `dir`, waits for its READY line, and returns what it announced. */
async function serve(dir: string, args: string[]) {
  const child = spawn('python3', args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  const exited = once(child, 'exit');
  try {
    for await (const line of createInterface({ input: child.stdout! })) {
      const m = /^MAGELLON_PLUGIN_READY (\{.*\})$/.exec(line);
      if (m) return { child, exited, ready: JSON.parse(m[1]!) as { port: number; plugin_id: string } };
    }
    throw new Error('the plugin exited without its READY line');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

describe.skipIf(!requireTool('python3'))("hub scaffold's next steps", () => {
  it('run as printed, one after another, from where scaffold ran', async () => {
    const cwd = mkdtempSync(join(ROOT, 'steps-'));
    const r = runHub(['scaffold', 'demo', '--category', 'ctf'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const steps = r.stdout
      .slice(r.stdout.indexOf('next:\n') + 6)
      .trim()
      .split('\n')
      .map((l) => l.trim());
    expect(steps.map((l) => l.replace(/\s+#.*$/, ''))).toEqual([
      'cd demo',
      'python3 -m unittest discover -s tests -t .',
      'python3 main.py --port 8000',
      'hub lint .',
      'hub pack .',
    ]);
    expect(steps[2]).toContain('curl localhost:8000/health');

    // `hub` on PATH, as after installing it.
    const bin = join(cwd, '.bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'hub'), `#!/bin/sh\nexec '${process.execPath}' '${HUB_BIN}' "$@"\n`);
    chmodSync(join(bin, 'hub'), 0o755);
    const env = {
      ...process.env,
      PATH: `${bin}${delimiter}${process.env.PATH}`,
      NO_COLOR: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    };
    // Each line runs in a shell after the `cd` line, exactly as typed (comments included).
    const sh = (line: string) =>
      spawnSync('sh', ['-ec', `${steps[0]}\n${line}`], { cwd, env, encoding: 'utf8', timeout: 60_000 });

    const tests = sh(steps[1]!);
    expect(tests.status, tests.stderr).toBe(0);

    // The serve line blocks until stopped: run it on port 0 instead and talk to it.
    const dir = join(cwd, 'demo');
    const { child, exited, ready } = await serve(dir, ['main.py', '--port', '0']);
    try {
      expect(ready.plugin_id).toBe('demo');
      const health = await fetch(`http://127.0.0.1:${ready.port}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', plugin_id: 'demo' });
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await exited;
    expect(code).toBe(0);

    const lint = sh(steps[3]!);
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    const pack = sh(steps[4]!);
    expect(pack.status, pack.stdout + pack.stderr).toBe(0);
    expect(steps[4]).toContain('write ../demo-0.1.0.mpn');
    expect(existsSync(join(cwd, 'demo-0.1.0.mpn'))).toBe(true);
  });

  it('quote a --dir with spaces so the cd line still works', () => {
    const cwd = mkdtempSync(join(ROOT, 'spaces-'));
    const r = runHub(['scaffold', 'demo', '--category', 'ctf', '--dir', 'my plugins'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const cd = /^ {2}(cd .*)$/m.exec(r.stdout)![1]!;
    expect(cd).toBe("cd 'my plugins/demo'");
    const pwd = spawnSync('sh', ['-ec', `${cd}\npwd`], { cwd, encoding: 'utf8' });
    expect(pwd.stdout.trim()).toBe(join(cwd, 'my plugins', 'demo'));
  });
});
