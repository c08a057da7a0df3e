// Running the real `coreservice` command from hub: the one hub verify's smoke install and hub test
// start a plugin with. Its output is bounded, its environment is hub's plus what the caller adds,
// and it is killed after a timeout (a plugin that never becomes healthy cannot hold hub forever).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How long one coreservice command (an install: unpack, venv, start, health) may take. */
export const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** What one coreservice run printed and how it ended. */
export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** This repo's coreservice (hub and coreservice are built side by side by packages/cli/build.mjs). */
export function defaultCoreservice(): string {
  return (
    process.env.HUB_CORESERVICE ??
    fileURLToPath(new URL('../../../coreservice/bin/coreservice.js', import.meta.url))
  );
}

/** Runs a command to its end, each output kept to 1 MiB; killed after `timeoutMs`. */
export function runCommand(
  argv: string[],
  env: Record<string, string>,
  timeoutMs = INSTALL_TIMEOUT_MS,
): Promise<CommandRun> {
  return new Promise((done) => {
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c) => {
      if (stdout.length < 1 << 20) stdout += c;
    });
    child.stderr.on('data', (c) => {
      if (stderr.length < 1 << 20) stderr += c;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ code: 127, stdout, stderr: `${stderr}${err.message}\n`, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr, timedOut });
    });
  });
}
