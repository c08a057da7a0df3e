import { spawn, spawnSync } from 'node:child_process';
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

/**
 * The same, without blocking this process: for tests whose own process serves what hub talks to
 * (a fake GitHub, a TLS archive server). An env value of undefined removes the variable.
 */
export function runHubAsync(args: string[], env: Record<string, string | undefined> = {}): Promise<HubRun> {
  const merged: Record<string, string | undefined> = {
    ...process.env,
    NO_COLOR: '1',
    SOURCE_DATE_EPOCH: '',
    ...env,
  };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  return new Promise((done) => {
    const child = spawn(process.execPath, [HUB_BIN, ...args], { env: merged as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
