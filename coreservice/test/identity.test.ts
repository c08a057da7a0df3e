// Plugin uids are unique on the host, not per plugins dir: two CoreServices (or two test runs)
// installing the same plugin must not share a uid, which would share its files and let one's
// `kill -1` reach the other's processes. Against the real host-wide registry, as root.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { skipLoudly } from '@magellon/hub-core/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { installFromHub } from '../src/install';
import { ensureIdentity, freeStaleClaims, readIdentity, releaseIdentity } from '../src/runtime/identity';
import { asRoot, expectFailure, scratchDir } from './helpers';

const scratch = scratchDir('coreservice-identity-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A plugin home in its own plugins dir. */
function home(name: string, id: string): { pluginsDir: string; home: string } {
  const pluginsDir = join(scratch, name);
  mkdirSync(join(pluginsDir, id), { recursive: true });
  return { pluginsDir, home: join(pluginsDir, id) };
}

describe('plugin uids', () => {
  it('the same plugin in two plugins dirs gets two uids; a uid given back or left by a removed dir is free again', async (ctx) => {
    if (!asRoot) {
      skipLoudly('host-wide plugin uids', 'the tests do not run as root');
      return ctx.skip();
    }
    const a = home('a', 'fft');
    const b = home('b', 'fft');
    const [ia, ib] = await Promise.all([
      ensureIdentity(a.pluginsDir, 'fft', a.home),
      ensureIdentity(b.pluginsDir, 'fft', b.home),
    ]);
    expect(ia.uid).not.toBe(ib.uid);
    expect(readIdentity(a.home)).toEqual(ia);
    // Asked again, each keeps its own.
    expect(await ensureIdentity(a.pluginsDir, 'fft', a.home)).toEqual(ia);

    // b's plugin goes without a word (a kill -9 mid-install): doctor of b frees its uid, not a's.
    rmSync(b.home, { recursive: true });
    expect(await freeStaleClaims(a.pluginsDir)).toEqual([]);
    expect(await freeStaleClaims(b.pluginsDir)).toEqual([ib.uid]);

    releaseIdentity(a.pluginsDir, 'fft', ia);
    // Given back, then asked for by a plugin that recorded it: it gets it again.
    expect(await ensureIdentity(a.pluginsDir, 'fft', a.home)).toEqual(ia);
    releaseIdentity(a.pluginsDir, 'fft', ia);
  });

  it('a plugins dir below a folder other users cannot pass is refused before anything is downloaded', async (ctx) => {
    if (!asRoot) {
      skipLoudly('uid isolation’s reachability check', 'the tests do not run as root');
      return ctx.skip();
    }
    const closed = mkdtempSync(join(scratch, 'closed-')); // 0700, as mkdtemp makes it
    const pluginsDir = join(closed, 'plugins');
    const err = await expectFailure(
      installFromHub({ pluginsDir, hubs: ['http://127.0.0.1:1'], pluginId: 'fft' }),
      'incompatible',
    );
    expect(err.message).toContain(`chmod o+x ${closed}`);
    expect(existsSync(pluginsDir)).toBe(false);
  });
});
