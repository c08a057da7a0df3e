import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTool } from '../../../scripts/require-tool';
import { runHub } from './run-hub';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-scaffold-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

describe('hub scaffold', () => {
  const dir = join(ROOT, 'beam-tilt');

  it('creates a plugin that lints clean, even with --strict', () => {
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
    const lint = runHub(['lint', dir, '--strict']);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
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
