import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runHub } from './run-hub';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-catalog-dir-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

describe('which catalog hub validate and hub build use', () => {
  it('hub validate inside a catalog subfolder finds the catalog root by walking up', () => {
    const r = runHub(['validate', '--no-archives'], join(REPO_ROOT, 'catalog/plugins/fft'));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain('15 valid entries in 9 plugins');
  });

  it('finding paths are relative to where it was run', () => {
    const r = runHub(
      ['validate', '--no-archives'],
      join(REPO_ROOT, 'packages/core/test/fixtures/broken-catalog/plugins/bad-tier'),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^1\.0\.0\.yaml:8:\d+: entry\.invalid-tier: /m);
    expect(r.stdout).toMatch(/^\.\.\/bad-semver\/1\.0\.yaml:\d+:\d+: entry\.invalid-semver: /m);
  });

  it('hub validate <repo root> uses its catalog/', () => {
    const r = runHub(['validate', REPO_ROOT, '--no-archives'], ROOT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain('15 valid entries in 9 plugins');
  });

  it('hub build inside a catalog subfolder builds that catalog into dist/ beside the catalog', () => {
    const cat = join(ROOT, 'cat');
    cpSync(join(REPO_ROOT, 'catalog'), cat, { recursive: true });
    const deep = join(cat, 'plugins', 'fft');
    const r = runHub(['build'], deep);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('into ../../../dist/');
    expect(existsSync(join(ROOT, 'dist', 'v1', 'index.json'))).toBe(true);
    expect(existsSync(join(cat, 'dist'))).toBe(false);
    expect(existsSync(join(deep, 'dist'))).toBe(false);
    // …which leaves the catalog valid.
    const again = runHub(['validate', '--no-archives'], deep);
    expect(again.code, again.stdout).toBe(0);
  });

  it("on a plugin's sources, suggests hub lint and exits 1", () => {
    const inside = runHub(['validate'], join(REPO_ROOT, 'examples/plugins/fft'));
    expect(inside.code).toBe(1);
    expect(inside.stdout).toBe(
      ".: catalog.plugin-sources: this looks like a plugin's sources (it holds a manifest), not a catalog; run hub lint .\n",
    );
    const below = runHub(['build'], join(REPO_ROOT, 'examples/plugins/fft/plugin'));
    expect(below.code).toBe(1);
    expect(below.stdout).toContain('run hub lint ..');
    const given = runHub(['validate', 'examples/plugins/ctf']);
    expect(given.code).toBe(1);
    expect(given.stdout).toContain('run hub lint examples/plugins/ctf');
  });

  it('with no catalog anywhere up the tree, says where it looked', () => {
    const r = runHub(['validate'], ROOT);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `.: catalog.not-found: no catalog here or above: looked for plugins/ and catalog/plugins/ in ${ROOT} and every folder up to /`,
    );
    expect(r.stderr).toContain('✖ not validated: catalog.not-found');
  });
});
