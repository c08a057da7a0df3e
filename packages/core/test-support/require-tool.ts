import { spawnSync } from 'node:child_process';

/**
 * Says, in one loud line, that tests needing `what` are skipped, and why; under HUB_REQUIRE_ALL=1
 * (CI) throws instead, so nothing is skipped silently there.
 */
export function skipLoudly(what: string, why: string): void {
  const line = `SKIPPED: ${what} (${why})`;
  if (process.env.HUB_REQUIRE_ALL === '1') throw new Error(`${line}, and HUB_REQUIRE_ALL=1 forbids skipping`);
  console.warn(`\n*** ${line} ***\n`);
}

/**
 * Whether a command-line tool a test needs is on this machine. When it is not, the test
 * should skip with one loud line; under HUB_REQUIRE_ALL=1 (CI) a missing tool fails instead.
 */
export function requireTool(command: string, versionArgs: string[] = ['--version']): boolean {
  const found = spawnSync(command, versionArgs, { stdio: 'ignore' }).status === 0;
  if (!found) skipLoudly(`tests that need \`${command}\``, 'not found on PATH');
  return found;
}
