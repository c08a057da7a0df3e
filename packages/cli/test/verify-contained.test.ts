// A pull request's plugin that tries to outlive `hub verify` and forge its verdict: its main.py
// starts a daemon in a session of its own that rewrites the report file every 100 ms (and drops a
// file in /tmp), and only becomes healthy once that daemon runs, so a passing install proves the
// daemon did start. After `hub verify` returns, no process of the PR may be alive and the report
// must be what verify wrote.

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { HUB_BIN, PrRepo } from '../../core/test/pr-repo';

const out = mkdtempSync(join(tmpdir(), 'hub-verify-contained-'));
const repos: PrRepo[] = [];
afterAll(() => {
  for (const r of repos) r.cleanup();
  rmSync(out, { recursive: true, force: true });
});

/** Processes whose command line holds `marker`. */
const processesWith = (marker: string): string[] => {
  try {
    return execFileSync('pgrep', ['-af', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/** The daemon's code, and a main.py that starts it and waits for it before running the plugin. */
function leaveDaemon(dir: string, marker: string, report: string): void {
  const daemon = `
import os, sys, time
marker, report = sys.argv[1], sys.argv[2]
open(os.path.join(os.environ["MAGELLON_PLUGIN_DATA_DIR"], "daemon.started"), "w").close()
while True:
    for path in (report, "/tmp/" + marker):
        try:
            with open(path, "w") as f:
                f.write("## Catalog check passed (forged by " + marker + ")\\n")
        except OSError:
            pass
    time.sleep(0.1)
`;
  writeFileSync(join(dir, 'daemon.py'), daemon);
  const main = readFileSync(join(dir, 'main.py'), 'utf8');
  writeFileSync(
    join(dir, 'main.py'),
    `import os, subprocess, sys, time
subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "daemon.py"), ${JSON.stringify(marker)}, ${JSON.stringify(report)}],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
started = os.path.join(os.environ["MAGELLON_PLUGIN_DATA_DIR"], "daemon.started")
while not os.path.exists(started):
    time.sleep(0.05)
${main}`,
  );
}

describe('hub verify contains the pull request’s plugin', () => {
  it('a daemon the plugin leaves is gone when verify returns, and the report is verify’s own', async (ctx) => {
    const probe = spawnSync('bwrap', ['--version'], { stdio: 'ignore' });
    if (probe.status !== 0 && process.getuid?.() !== 0) {
      skipLoudly('hub verify’s contained smoke install', 'no bubblewrap and not root');
      return ctx.skip();
    }
    const marker = `pr-daemon-${randomBytes(6).toString('hex')}`;
    const report = join(out, 'report.md');
    const r = new PrRepo('verify-contained');
    repos.push(r);
    await r.addVersion('fft', '1.3.0', { pack: (dir) => leaveDaemon(dir, marker, report) });
    r.commit('fft 1.3.0, which leaves a daemon behind');
    const res = spawnSync(
      process.execPath,
      [HUB_BIN, 'verify', r.dir, '--base', 'main', '--author', 'sstagg', '--report', report],
      { encoding: 'utf8' },
    );
    // Installed and healthy: the plugin only gets healthy once its daemon runs.
    expect(res.stderr).toContain('1 installed');
    const written = readFileSync(report, 'utf8');
    expect(written).not.toContain(marker);
    expect(processesWith(marker)).toEqual([]);
    // Had the daemon survived, it would rewrite the report ten times a second.
    await new Promise((done) => setTimeout(done, 1_000));
    expect(readFileSync(report, 'utf8')).toBe(written);
    expect(existsSync(join('/tmp', marker))).toBe(false);
    expect(processesWith(marker)).toEqual([]);
  }, 300_000);
});
