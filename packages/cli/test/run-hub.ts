import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const HUB_BIN = join(import.meta.dirname, '..', 'bin', 'hub.js');
export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');

export interface HubRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `hub` bin in a child process, the way a user's shell would. */
export function runHub(args: string[], cwd: string = REPO_ROOT, env: Record<string, string> = {}): HubRun {
  const r = spawnSync(process.execPath, [HUB_BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', SOURCE_DATE_EPOCH: '', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
