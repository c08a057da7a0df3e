// Vitest global setup: (re)build packages/cli/dist before any test runs `hub`, so no test
// ever runs a stale bundle. The build only rewrites files whose bytes changed.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  execFileSync(process.execPath, [join(import.meta.dirname, '..', 'build.mjs'), '--quiet'], {
    stdio: 'inherit',
  });
}
