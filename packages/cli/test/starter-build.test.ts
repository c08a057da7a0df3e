import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  categoriesDocumentSchema,
  categoryDocumentSchema,
  indexDocumentSchema,
  pluginDocumentSchema,
} from '@magellon/hub-core';
import { afterAll, describe, expect, it } from 'vitest';
import { runHub } from './run-hub';

const ROOT = mkdtempSync(join(tmpdir(), 'hub-starter-build-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));
const out = join(ROOT, 'dist');

describe('hub validate + hub build on the starter catalog', () => {
  it('validates clean, archives included', () => {
    const r = runHub(['validate']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('15 valid entries in 9 plugins; 0 errors, 0 warnings');
  });

  it('builds documents that parse with the /v1 shapes, byte for byte as snapshotted', async () => {
    const r = runHub(['build', 'catalog', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const read = (p: string) => readFileSync(join(out, p), 'utf8');
    const index = indexDocumentSchema.parse(JSON.parse(read('v1/index.json')));
    categoriesDocumentSchema.parse(JSON.parse(read('v1/categories.json')));
    expect(index.plugins).toHaveLength(9);
    expect(index.plugins.find((p) => p.plugin_id === 'ctf')?.latest_version).toBe('1.0.0');
    expect(index.plugins.find((p) => p.plugin_id === 'fft')?.latest_version).toBe('1.1.0');
    const snapshots = join(import.meta.dirname, '__snapshots__', 'starter-build');
    await expect(read('v1/index.json')).toMatchFileSnapshot(join(snapshots, 'v1/index.json'));
    await expect(read('v1/categories.json')).toMatchFileSnapshot(join(snapshots, 'v1/categories.json'));
    for (const f of readdirSync(join(out, 'v1', 'plugins'))
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const text = read(`v1/plugins/${f}`);
      pluginDocumentSchema.parse(JSON.parse(text));
      await expect(text).toMatchFileSnapshot(join(snapshots, 'v1/plugins', f));
    }
    for (const f of readdirSync(join(out, 'v1', 'categories')).filter((f) => f.endsWith('.json'))) {
      const text = read(`v1/categories/${f}`);
      categoryDocumentSchema.parse(JSON.parse(text));
      await expect(text).toMatchFileSnapshot(join(snapshots, 'v1/categories', f));
    }
    expect(readdirSync(join(out, 'assets', 'plugins'))).toHaveLength(15);
  });

  it('CoreService can find a yanked version by exact number, with nested and flat archive fields', () => {
    const ctf = pluginDocumentSchema.parse(
      JSON.parse(readFileSync(join(out, 'v1/plugins/ctf.json'), 'utf8')),
    );
    const v = ctf.versions.find((x) => x.version === '1.1.0')!;
    expect(v.yanked?.reason).toMatch(/wrong sign/);
    expect(v.archive.url).toBe('/assets/plugins/ctf-1.1.0.mpn');
    expect(v.url).toBe(v.archive.url);
    expect(v.sha256).toBe(v.archive.sha256);
  });
});
