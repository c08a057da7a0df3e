// The author roles' paths as a TUF client matches them (tuf-js: minimatch per path part), and the
// catalog rule that keeps another plugin's archive out of a signed plugin's paths.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { authorKey, makeAuthorSigned } from '../../test/author-signed';
import { tempDir } from '../../test/finding-fixtures/fixture';
import { STARTER_CATALOG } from '../../test/pr-repo';
import { loadCatalog } from './load-catalog';
import {
  HUB_ROLE_PATHS,
  pluginDelegation,
  readKeyFile,
  roleCoversPath,
  signPluginTargets,
  verifyPluginRole,
} from './tuf';

const key = authorKey();
const signing = { threshold: 1, keys: [{ keyid: key.keyid, public: key.public }] };
const covers = (id: string, path: string) => roleCoversPath(pluginDelegation(id, signing), path);

describe('plugin-<id> paths', () => {
  it("cover the plugin's own archives, pre-releases and build metadata included", () => {
    for (const v of ['1.0.0', '10.20.30', '1.2.0-rc.1', '1.0.0+build.5'])
      expect(covers('ctf', `assets/plugins/ctf-${v}.mpn`), v).toBe(true);
  });

  it("never cover another plugin's archive whose id starts with the same letters", () => {
    for (const path of [
      'assets/plugins/ctf-2d-1.0.0.mpn',
      'assets/plugins/ctf-10-1.0.0.mpn',
      'assets/plugins/ctfx-1.0.0.mpn',
      'assets/plugins/ctf-1.0.mpn',
      'assets/plugins/sub/ctf-1.0.0.mpn',
      'v1/plugins/ctf.json',
    ])
      expect(covers('ctf', path), path).toBe(false);
  });

  it("leave documents and other archives to hub's paths", () => {
    const hub = {
      ...pluginDelegation('x', signing),
      role: { ...pluginDelegation('x', signing).role, paths: HUB_ROLE_PATHS },
    };
    for (const path of ['assets/plugins/fft-1.0.0.mpn', 'v1/plugins/ctf.json'])
      expect(roleCoversPath(hub, path), path).toBe(true);
  });
});

describe('the catalog rule on archive names', () => {
  it('refuses a plugin whose archive names fall under a signed plugin (ids may hold dots)', async () => {
    // Plugin "fft-1.0.0" version 1.0.0 is archive fft-1.0.0-1.0.0.mpn, which plugin-fft's pattern covers.
    const dir = join(tempDir('hub-claim-'), 'catalog');
    cpSync(STARTER_CATALOG, dir, { recursive: true });
    await makeAuthorSigned(dir, 'fft');
    const before = await loadCatalog(dir, { displayFrom: dir });
    expect(before.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(before.authorRoles?.map((r) => r.pluginId)).toEqual(['fft']);
    cpSync(join(dir, 'plugins/ctf'), join(dir, 'plugins/fft-1.0.0'), { recursive: true });
    for (const v of ['1.0.0', '1.1.0']) {
      const file = join(dir, `plugins/fft-1.0.0/${v}.yaml`);
      writeFileSync(
        file,
        readFileSync(file, 'utf8')
          .replace(/^plugin_id: .*$/m, 'plugin_id: fft-1.0.0')
          .replace(/ctf-(\d)/g, 'fft-1.0.0-$1'),
      );
    }
    const after = await loadCatalog(dir, { displayFrom: dir });
    const claimed = after.findings.filter((f) => f.code === 'catalog.unsigned-version');
    expect(claimed.map((f) => f.file).sort()).toEqual([
      'plugins/fft-1.0.0/1.0.0.yaml',
      'plugins/fft-1.0.0/1.1.0.yaml',
    ]);
    expect(claimed[0]!.message).toContain('falls under the paths of plugin-fft');
    expect(after.authorRoles).toEqual([]);
  });
});

describe('verifyPluginRole', () => {
  it('refuses a role signed by another key, and an expired one', () => {
    const good = signPluginTargets('ctf', undefined, [], readKeyFile(key.file));
    expect(verifyPluginRole('ctf', signing, Buffer.from(good)).signed.version).toBe(1);
    const other = signPluginTargets('ctf', undefined, [], readKeyFile(authorKey().file));
    expect(() => verifyPluginRole('ctf', signing, Buffer.from(other))).toThrow(/signed by 0\/1 keys/);
    const old = signPluginTargets('ctf', undefined, [], readKeyFile(key.file), {
      now: new Date('2020-01-01T00:00:00Z'),
      expirySeconds: 86400,
    });
    expect(() => verifyPluginRole('ctf', signing, Buffer.from(old))).toThrow(/expired/);
  });
});
