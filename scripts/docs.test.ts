import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FINDING_CODES, renderFindingCodesDoc } from '@magellon/hub-core';
import { describe, expect, it } from 'vitest';

const DOCS = join(import.meta.dirname, '..', 'docs');

describe('docs/', () => {
  it('finding-codes.md lists exactly the codes the hub can report (run `npm run docs` after adding one)', () => {
    expect(readFileSync(join(DOCS, 'finding-codes.md'), 'utf8')).toBe(renderFindingCodesDoc());
    for (const code of Object.keys(FINDING_CODES)) expect(renderFindingCodesDoc()).toContain(`\`${code}\``);
  });

  it('the README links only to files that exist in the repo', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)].map((m) => m[1]!);
    const local = links.filter((l) => !/^[a-z]+:/.test(l));
    expect(local.length).toBeGreaterThan(0);
    for (const link of local) {
      expect(link, `${link} must not leave the repo`).not.toMatch(/^(\.\.\/|\/)/);
      expect(() => readFileSync(join(import.meta.dirname, '..', link)), link).not.toThrow();
    }
    expect(readme).not.toMatch(/\.\.\/shared\//);
  });
});
