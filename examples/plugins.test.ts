import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadCatalog, locateArchive } from '@magellon/hub-core/node';
import { extractZip, requireTool } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';

const PLUGINS_DIR = join(import.meta.dirname, 'plugins');
const CATALOG = join(import.meta.dirname, '..', 'catalog');
const hasPython = requireTool('python3');
const ROOT = mkdtempSync(join(tmpdir(), 'hub-examples-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Starts `python3 main.py --port 0` and resolves with the port from its ready line. */
function startPlugin(dir: string): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['main.py', '--port', '0'], {
      cwd: dir,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) =>
      reject(new Error(`plugin exited with ${code} before it was ready:\n${stderr}`)),
    );
    createInterface({ input: child.stdout }).once('line', (line) => {
      const m = /^MAGELLON_PLUGIN_READY (\{.*\})$/.exec(line);
      if (m?.[1]) resolve({ child, ready: JSON.parse(m[1]) });
      else reject(new Error(`unexpected first line: ${line}`));
    });
  });
}

describe.skipIf(!hasPython).concurrent('example plugins', () => {
  for (const id of readdirSync(PLUGINS_DIR).sort()) {
    it(`${id}: its own unit and server tests pass`, async () => {
      const r = await run(
        'python3',
        ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'],
        join(PLUGINS_DIR, id),
      );
      expect(r.code, r.output).toBe(0);
      expect(r.output).toMatch(/\nOK/);
    });
  }

  for (const [id, version] of [
    ['fft', '1.1.0'],
    ['magellon-sample-plugin', '0.2.0'],
  ] as const) {
    it(`${id} ${version}: the catalog's archive, extracted, runs and serves /health`, async () => {
      const catalog = await loadCatalog(CATALOG);
      const entry = catalog.entries.find(
        (e) => e.entry.plugin_id === id && e.entry.version === version,
      )!.entry;
      const dir = join(ROOT, `${id}-${version}`);
      const where = locateArchive(CATALOG, entry.archive.url);
      if (where.kind !== 'local') throw new Error(`${entry.archive.url} is not a catalog archive`);
      await extractZip(where.path, dir);
      const { child, ready } = await startPlugin(dir);
      try {
        expect(ready).toMatchObject({ plugin_id: id, version, host: '127.0.0.1' });
        const res = await fetch(`http://127.0.0.1:${ready.port}/health`);
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ status: 'ok', plugin_id: id, version });
      } finally {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      }
    });
  }
});
