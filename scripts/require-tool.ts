import { spawnSync } from 'node:child_process';

/**
 * Whether a command-line tool a test needs is on this machine. When it is not, the test
 * should skip with one loud line; under HUB_REQUIRE_ALL=1 (CI) a missing tool fails instead.
 */
export function requireTool(command: string, versionArgs: string[] = ['--version']): boolean {
  const found = spawnSync(command, versionArgs, { stdio: 'ignore' }).status === 0;
  if (found) return true;
  const line = `SKIPPED: tests that need \`${command}\` (not found on PATH)`;
  if (process.env.HUB_REQUIRE_ALL === '1') throw new Error(`${line}, and HUB_REQUIRE_ALL=1 forbids skipping`);
  console.warn(`\n*** ${line} ***\n`);
  return false;
}
