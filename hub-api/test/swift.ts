// The real S3 endpoint for the tests: OpenStack Swift on 127.0.0.1, installed and started by
// infra/swift/swift.sh. When it cannot be had, S3 tests skip with one loud line (under
// HUB_REQUIRE_ALL=1, CI, they fail instead).

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';

export interface SwiftEndpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops Swift if this process started it. */
  stop(): void;
}

const SCRIPT = join(import.meta.dirname, '..', '..', 'infra', 'swift', 'swift.sh');

export function startSwift(): SwiftEndpoint | undefined {
  const already = spawnSync(SCRIPT, ['status'], { encoding: 'utf8' }).status === 0;
  const r = spawnSync(SCRIPT, ['start'], { encoding: 'utf8', timeout: 600_000 });
  const m = /endpoint=(\S+) key=(\S+) secret=(\S+)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) {
    const why = (r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').at(-1);
    skipLoudly('S3 tests', `OpenStack Swift could not be started: ${why}`);
    return undefined;
  }
  return {
    endpoint: m[1]!,
    accessKeyId: m[2]!,
    secretAccessKey: m[3]!,
    stop: () => {
      if (!already) spawnSync(SCRIPT, ['stop'], { encoding: 'utf8', timeout: 60_000 });
    },
  };
}
