import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('the runtime-free entry point (@magellon/hub-core)', () => {
  it('bundles for a browser/Workers target with no Node built-ins', async () => {
    const result = await build({
      entryPoints: [new URL('./index.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => p.startsWith('node:') || /\/src\/(node|yaml)\//.test(p))).toEqual([]);
    expect(inputs.some((p) => p.includes('js-yaml') || p.includes('yauzl'))).toBe(false);
    expect(result.outputFiles[0]!.text.length).toBeGreaterThan(1000);
  });
});
