import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HUB_BIN, PrRepo } from '../../core/test/pr-repo';

const out = mkdtempSync(join(tmpdir(), 'hub-verify-cli-'));
const repos: PrRepo[] = [];
afterAll(() => {
  for (const r of repos) r.cleanup();
  rmSync(out, { recursive: true, force: true });
});

const hub = (args: string[]) => spawnSync(process.execPath, [HUB_BIN, ...args], { encoding: 'utf8' });

describe('hub verify (the command CI runs on every catalog pull request)', () => {
  it('passes a clean new version after really installing it, and writes the report and JSON', () => {
    return (async () => {
      const r = new PrRepo('verify-cli');
      repos.push(r);
      await r.addVersion('fft', '1.3.0');
      r.commit('fft 1.3.0');
      const report = join(out, 'report.md');
      const json = join(out, 'result.json');
      const res = hub([
        'verify',
        r.dir,
        '--base',
        'main',
        '--author',
        'someone',
        '--report',
        report,
        '--findings',
        json,
      ]);
      expect(res.status, res.stdout + res.stderr).toBe(0);
      expect(res.stderr).toContain('1 archive verified, 1 installed');
      const md = readFileSync(report, 'utf8');
      expect(md).toContain('Catalog check passed');
      expect(md).toMatch(/\| added \| fft \| 1\.3\.0 \| community \|/);
      const result = JSON.parse(readFileSync(json, 'utf8'));
      expect(result).toMatchObject({
        installed: 1,
        archivesChecked: 1,
        label: 'tier:community',
        findings: [],
      });
      // The throw-away install left no plugin process behind.
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(ps).not.toMatch(/hub-verify-install-/);
    })();
  });

  it('exits 1 with annotations GitHub shows on the line, for a PR that changes a published entry', () => {
    const r = new PrRepo('verify-cli');
    repos.push(r);
    r.edit('catalog/plugins/topaz/0.2.0.yaml', (t) => t.replace(/^name: .*$/m, 'name: Topaz (renamed)'));
    r.commit('rename');
    const res = hub(['verify', r.dir, '--base', 'main', '--format', 'github']);
    expect(res.status).toBe(1);
    expect(res.stdout).toMatch(
      new RegExp(
        `^::error file=catalog/plugins/topaz/0.2.0.yaml,line=${r.lineOf('catalog/plugins/topaz/0.2.0.yaml', 'name:')},col=\\d+,title=verify.published-changed::`,
        'm',
      ),
    );
  });

  it('bad usage and a bad ref say what is wrong', () => {
    const r = new PrRepo('verify-cli');
    repos.push(r);
    const noBase = hub(['verify', r.dir]);
    expect(noBase.status).toBe(2);
    expect(noBase.stderr).toContain('needs --base');
    const badRef = hub(['verify', r.dir, '--base', 'nope']);
    expect(badRef.status).toBe(1);
    expect(badRef.stderr).toContain('"nope" is not a commit');
    const notRepo = hub(['verify', out, '--base', 'main']);
    expect(notRepo.status).toBe(1);
    expect(notRepo.stderr).toMatch(/not a git repository|is not a commit/);
  });
});
