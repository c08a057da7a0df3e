import { describe, expect, it } from 'vitest';
import { mdText, REPORT_MARKER, renderVerifyMarkdown } from './report';
import type { VerifyResult } from './verify-pr';

const result = (over: Partial<VerifyResult>): VerifyResult => ({
  base: 'a'.repeat(40),
  head: 'b'.repeat(40),
  mergeBase: 'a'.repeat(40),
  changes: [],
  otherFiles: [],
  findings: [],
  archivesChecked: 0,
  installed: 0,
  entries: 0,
  label: 'tier:community',
  maintainerApproved: false,
  ...over,
});

describe('the pull-request report', () => {
  it('text from the pull request cannot inject HTML, links, table cells, code spans or mentions', () => {
    const hostile =
      '<img src=x onerror=alert(1)> [click](https://evil.example) | cell `code` @octocat\nline\u001b[31m';
    const safe = mdText(hostile);
    expect(safe).not.toMatch(/[<>|`[\]\n]/);
    expect(safe).not.toContain(String.fromCharCode(27));
    expect(safe).not.toContain('@octocat');
    expect(safe).toContain('@\u200boctocat');
  });

  it('names every finding with its place, and the label the PR gets', () => {
    const md = renderVerifyMarkdown(
      result({
        changes: [
          {
            kind: 'added',
            file: 'catalog/plugins/x/1.0.0.yaml',
            pluginId: 'x',
            version: '1.0.0',
            tier: 'verified',
          },
        ],
        findings: [
          {
            file: 'catalog/plugins/x/1.0.0.yaml',
            line: 12,
            severity: 'error',
            code: 'verify.tier-not-allowed',
            message: 'no | way',
          },
        ],
        label: 'tier:verified-request',
      }),
    );
    expect(md.startsWith(REPORT_MARKER)).toBe(true);
    expect(md).toContain('Catalog check failed: 1 error');
    expect(md).toContain(
      '| ❌ | catalog/plugins/x/1.0.0.yaml:12 | `verify.tier-not-allowed` | no &#124; way |',
    );
    expect(md).toContain('label `tier:verified-request`');
    expect(renderVerifyMarkdown(result({}))).toContain('✅ Catalog check passed');
  });
});
