// Categories and their backends over the admin API of a real `coreservice serve`: two plugins that
// serve one category (fft and magellon-sample-plugin) and one that serves another (ctf), installed
// from the repo's hub on 127.0.0.1; the default backend pinned, kept across a restart of the
// service, refused where it makes no sense, unpinned, and moved on when the pinned plugin goes; and
// the dispatch rule (target_backend, the pinned default, the only backend, 409 when it is ambiguous).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallError } from '../src/errors';
import { installFromFile, installFromHub, uninstall } from '../src/install';
import { categoryDefaultFile } from '../src/layout';
import { type RunningService, serveCoreService } from '../src/service/serve';
import { packVariant } from './fixtures';
import { adminCall, repoHubForTests } from './helpers';

const TOKEN = 'categories-admin-token-0123456789';
const { scratch, hub } = repoHubForTests('categories');
const pluginsDir = join(scratch, 'plugins');
let svc: RunningService | undefined;

const serve = async () => {
  svc = await serveCoreService({ pluginsDir, hubs: [hub.url], port: 0, token: TOKEN, log: () => {} });
};
const call = (method: string, path: string, body?: unknown) => adminCall(svc!.url, TOKEN, method, path, body);

beforeAll(async () => {
  // Installed in this order, not started: categories need only what is installed.
  for (const pluginId of ['fft', 'magellon-sample-plugin', 'ctf'])
    await installFromHub({ pluginsDir, hubs: [hub.url], pluginId, noStart: true });
  await serve();
}, 180_000);

afterAll(async () => {
  await svc?.close();
});

/** Each category as [slug, default plugin, why, [backend plugin, backend id, is_default]…]. */
const summary = async () =>
  (await call('GET', '/admin/categories')).body.categories.map(
    (c: {
      slug: string;
      default: { plugin_id: string; source: string } | null;
      backends: { plugin_id: string; backend_id: string; is_default: boolean }[];
    }) => [
      c.slug,
      c.default?.plugin_id,
      c.default?.source,
      c.backends.map((b) => [b.plugin_id, b.backend_id, b.is_default]),
    ],
  );

describe('categories and their default backends', () => {
  it('lists every category with its installed backends; unpinned, the default is the only one or the first installed', async () => {
    expect(await summary()).toEqual([
      ['ctf', 'ctf', 'only', [['ctf', 'ctffind4', true]]],
      [
        'fft',
        'fft',
        'first-installed',
        [
          ['fft', 'fft', true],
          ['magellon-sample-plugin', 'magellon-sample-plugin', false],
        ],
      ],
    ]);
    const one = await call('GET', '/admin/categories/fft');
    expect(one.status).toBe(200);
    expect(one.body.backends[0]).toMatchObject({
      version: '1.1.0',
      install_method: 'uv',
      name: expect.any(String),
    });
  });

  it('pins a default, kept in a 0600 file across a restart of the service; DELETE unpins it', async () => {
    const pinned = await call('PUT', '/admin/categories/fft/default', {
      plugin_id: 'magellon-sample-plugin',
    });
    expect(pinned.status).toBe(200);
    expect(pinned.body.default).toMatchObject({ plugin_id: 'magellon-sample-plugin', source: 'pinned' });
    const file = categoryDefaultFile(pluginsDir, 'fft');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    await svc!.close();
    await serve();
    expect((await summary())[1].slice(0, 3)).toEqual(['fft', 'magellon-sample-plugin', 'pinned']);

    const unpinned = await call('DELETE', '/admin/categories/fft/default');
    expect(unpinned.body.default).toMatchObject({ plugin_id: 'fft', source: 'first-installed' });
    expect(existsSync(file)).toBe(false);
  });

  it('dispatch: target_backend names a backend; else the pinned default; else the only one; several and none pinned is 409', async () => {
    const dispatch = (slug: string, target?: string) =>
      call(
        'GET',
        `/admin/categories/${slug}/dispatch${target === undefined ? '' : `?target_backend=${encodeURIComponent(target)}`}`,
      );
    // Not started here: the choice says so, it is still the choice.
    expect((await dispatch('ctf')).body).toEqual({
      category: 'ctf',
      plugin_id: 'ctf',
      backend_id: 'ctffind4',
      chosen_by: 'only',
      healthy: false,
      state: 'stopped',
    });
    const ambiguous = await dispatch('fft');
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body.error).toMatchObject({
      code: 'ambiguous-backend',
      message: expect.stringContaining(
        'fft has several backends (fft, magellon-sample-plugin) and no pinned default',
      ),
    });
    expect((await dispatch('fft', 'magellon-sample-plugin')).body).toMatchObject({
      plugin_id: 'magellon-sample-plugin',
      backend_id: 'magellon-sample-plugin',
      chosen_by: 'target_backend',
    });

    await call('PUT', '/admin/categories/fft/default', { plugin_id: 'magellon-sample-plugin' });
    expect((await dispatch('fft')).body).toMatchObject({
      plugin_id: 'magellon-sample-plugin',
      chosen_by: 'default',
    });
    // A named backend wins over the pinned default.
    expect((await dispatch('fft', 'fft')).body).toMatchObject({
      plugin_id: 'fft',
      chosen_by: 'target_backend',
    });

    const unknown = await dispatch('fft', 'gctf');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toBe(
      'no installed backend "gctf" serves fft; its backends are fft, magellon-sample-plugin',
    );
    // target_backend is a backend id of that category, not any plugin: ctffind4 serves ctf.
    expect((await dispatch('fft', 'ctffind4')).status).toBe(404);
    expect((await dispatch('motioncor')).status).toBe(404);
    expect((await adminCall(svc!.url, null, 'GET', '/admin/categories/fft/dispatch')).status).toBe(401);
    await call('DELETE', '/admin/categories/fft/default');
  });

  it('refuses a backend of another category (400, naming the ones it has), an unknown category (404), no plugin_id (400); writes nothing', async () => {
    const other = await call('PUT', '/admin/categories/ctf/default', { plugin_id: 'fft' });
    expect(other.status).toBe(400);
    expect(other.body.error.message).toBe('"fft" does not serve ctf; its installed backends are ctf');
    const unknown = await call('PUT', '/admin/categories/motioncor/default', { plugin_id: 'fft' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toMatch(/no installed plugin serves the category "motioncor"/);
    const hostile = await call('PUT', '/admin/categories/..%2F..%2Fx/default', { plugin_id: 'fft' });
    expect(hostile.status).toBe(404);
    const missing = await call('PUT', '/admin/categories/fft/default', {});
    expect(missing.status).toBe(400);
    expect(
      existsSync(join(pluginsDir, '.categories')) ? readdirSync(join(pluginsDir, '.categories')) : [],
    ).toEqual([]);
    expect((await call('GET', '/admin/categories')).status).toBe(200);
    expect((await adminCall(svc!.url, null, 'GET', '/admin/categories')).status).toBe(401);
  });

  it('an archive whose category is no slug (`../evil`) is refused, and no default for it ever becomes a path', async () => {
    // hub pack refuses such a manifest: the archive is rewritten by hand, as an attacker would.
    const good = join(scratch, 'good.mpn');
    writeFileSync(good, await packVariant(scratch, 'ptolemy', '1.0.0', () => {}));
    const archive = join(scratch, 'evil.mpn');
    const py = spawnSync(
      'python3',
      [
        '-c',
        `import sys, zipfile, re
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename in ("manifest.yaml", "plugin.yaml"):
            data = re.sub(rb"(?m)^category:.*$", b'category: "../evil"', data)
        zout.writestr(info, data)`,
        good,
        archive,
      ],
      { encoding: 'utf8' },
    );
    expect(py.status, py.stderr).toBe(0);
    const before = readdirSync(pluginsDir).sort();
    const refused = await installFromFile({ pluginsDir, file: archive, noStart: true }).then(
      () => 'installed',
      (err: InstallError) => `${err.code}: ${err.message}`,
    );
    expect(refused).toMatch(/^bad-archive: .*category must be a lowercase slug/);
    expect(readdirSync(pluginsDir).sort()).toEqual(before);
    const slug = encodeURIComponent('../evil');
    // No installed plugin has it: an unknown category (and were one installed before this rule, the
    // slug check in pinCategoryDefault still keeps it from becoming a path).
    const r = await call('PUT', `/admin/categories/${slug}/default`, { plugin_id: 'fft' });
    expect(r.status).toBe(404);
    expect(existsSync(join(pluginsDir, 'evil.json'))).toBe(false);
  });

  it('when the pinned plugin is uninstalled, the default moves to a backend that is still there', async () => {
    await call('PUT', '/admin/categories/fft/default', { plugin_id: 'magellon-sample-plugin' });
    await uninstall(pluginsDir, 'magellon-sample-plugin');
    expect((await summary())[1]).toEqual(['fft', 'fft', 'only', [['fft', 'fft', true]]]);
  });
});
