// Shared by the CoreService tests: the plugins-dir snapshot that fail-closed tests compare, and a
// sweep that stops every plugin process a test started under a scratch dir.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { expect } from 'vitest';
import { InstallError } from '../src/errors';
import { stopRecorded } from '../src/runtime/runner';

/**
 * Every path under dir with its sha256 ('dir' for directories): the state a failed operation must
 * not change. A running plugin's log (`run/<v>/replica-<n>.log`) grows as it serves, so for logs
 * only their presence counts.
 */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const abs = join(dir, name);
    const st = statSync(abs);
    const rel = relative(dir, abs);
    if (st.isDirectory()) out[rel] = 'dir';
    else if (/(^|\/)run\/[^/]+\/replica-\d+\.log$/.test(rel.split(sep).join('/'))) out[rel] = 'log';
    else out[rel] = createHash('sha256').update(readFileSync(abs)).digest('hex');
  }
  return out;
}

export async function expectFailure(p: Promise<unknown>, code: InstallError['code']): Promise<InstallError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InstallError);
  expect((err as InstallError).code, (err as Error).message).toBe(code);
  return err as InstallError;
}

/** Stops every plugin process recorded anywhere under `root` (`…/<id>/run/<version>/replica-*.json`). */
export async function stopAllUnder(root: string): Promise<void> {
  if (!existsSync(root)) return;
  const homes = new Set<string>();
  for (const name of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    const parts = name.split(sep);
    const i = parts.lastIndexOf('run');
    if (i > 0 && parts.length === i + 3 && /^replica-\d+\.json$/.test(parts[i + 2]!)) {
      homes.add(`${join(root, ...parts.slice(0, i))}\0${parts[i + 1]}`);
    }
  }
  await Promise.all(
    [...homes].map((h) => {
      const [home, version] = h.split('\0') as [string, string];
      return stopRecorded(home, version);
    }),
  );
}
