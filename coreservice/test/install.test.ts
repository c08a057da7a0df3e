// Install from a real hub server on 127.0.0.1 (hub serve's Node server over a build of the repo
// catalog), and fail-closed checks: whatever goes wrong, the plugins dir is as it was before.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { buildZip } from '@magellon/hub-core/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallError } from '../src/errors';
import { installFromFile, installFromHub, listInstalled, readReceipt, uninstall } from '../src/install';
import { expectFailure, repoHubForTests, snapshot } from './helpers';

const { scratch, hub } = repoHubForTests('install');

let n = 0;
const freshPluginsDir = () => mkdtempSync(join(scratch, `plugins-${n++}-`));

describe('installFromHub', () => {
  it('installs a pinned version, lists it, and uninstall --purge leaves no trace', async () => {
    const dir = freshPluginsDir();
    const stages: string[] = [];
    const receipt = await installFromHub({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'fft',
      version: '1.0.0',
      onEvent: (e) => stages.push(e.stage),
    });
    expect(receipt).toMatchObject({ plugin_id: 'fft', version: '1.0.0', registry: hub.url });
    expect(existsSync(join(dir, 'fft', '1.0.0', 'manifest.yaml'))).toBe(true);
    expect(readReceipt(dir, 'fft')?.version).toBe('1.0.0');
    expect(listInstalled(dir).map((r) => `${r.plugin_id}@${r.version}`)).toEqual(['fft@1.0.0']);
    expect(stages.filter((s, i) => s !== stages[i - 1])).toEqual([
      'resolve',
      'download',
      'verify',
      'prepare',
      'start',
      'health',
      'activate',
    ]);
    expect(readdirSync(dir)).toEqual(['fft']);
    await expectFailure(
      installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft' }),
      'already-installed',
    );
    await uninstall(dir, 'fft', { purge: true });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes latest_version by default; a yanked version only by exact number, with a warning', async () => {
    const dir = freshPluginsDir();
    expect((await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'ctf' })).version).toBe(
      '1.0.0',
    );
    await uninstall(dir, 'ctf');
    const warnings: string[] = [];
    const yanked = await installFromHub({
      pluginsDir: dir,
      hubs: [hub.url],
      pluginId: 'ctf',
      version: '1.1.0',
      onEvent: (e) => e.stage === 'warning' && warnings.push(e.message),
    });
    expect(yanked.version).toBe('1.1.0');
    expect(warnings.join('\n')).toMatch(/yanked/);
  });

  it("refuses (422) a plugin whose requires_sdk does not admit the platform's SDK", async () => {
    const dir = freshPluginsDir();
    const err = await expectFailure(
      installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', sdkVersion: '1.0.0' }),
      'incompatible',
    );
    expect(err.status).toBe(422);
    expect(err.message).toMatch(/requires the Magellon SDK .* this platform has 1\.0\.0/);
    expect(readdirSync(dir)).toEqual([]);
    expect(
      (await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', sdkVersion: '2.5.0' }))
        .plugin_id,
    ).toBe('fft');
  });

  it('tries registries in order: a mirror without the plugin, then the hub', async () => {
    const dir = freshPluginsDir();
    const empty = createServer((_req, res) => res.writeHead(404).end('{}'));
    await new Promise<void>((r) => empty.listen(0, '127.0.0.1', r));
    try {
      const mirror = `http://127.0.0.1:${(empty.address() as { port: number }).port}`;
      expect(
        (await installFromHub({ pluginsDir: dir, hubs: [mirror, hub.url], pluginId: 'topaz' })).registry,
      ).toBe(hub.url);
    } finally {
      empty.close();
    }
  });

  it('unknown plugins and versions are not-found; a dead hub is hub-unreachable; nothing is written', async () => {
    const dir = freshPluginsDir();
    await expectFailure(
      installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'no-such' }),
      'not-found',
    );
    const v = await expectFailure(
      installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '9.9.9' }),
      'not-found',
    );
    expect(v.message).toContain('1.1.0');
    await expectFailure(
      installFromHub({ pluginsDir: dir, hubs: ['http://127.0.0.1:1'], pluginId: 'fft' }),
      'hub-unreachable',
    );
    await expectFailure(
      installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: '../etc' }),
      'not-found',
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('concurrency', () => {
  it('two installs of the same plugin at once: exactly one wins, the other is busy', async () => {
    const dir = freshPluginsDir();
    const results = await Promise.allSettled([
      installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'motioncor' }),
      installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'motioncor' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((lost.reason as InstallError).code).toMatch(/busy|already-installed/);
    expect(readdirSync(dir).sort()).toEqual(['motioncor']);
  });

  it('every plugin of the catalog at once: all succeed', async () => {
    const dir = freshPluginsDir();
    const index = JSON.parse(readFileSync(join(hub.dir, 'v1/index.json'), 'utf8')) as {
      plugins: { plugin_id: string }[];
    };
    const ids = index.plugins.map((p) => p.plugin_id);
    await Promise.all(ids.map((pluginId) => installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId })));
    expect(listInstalled(dir).map((r) => r.plugin_id)).toEqual([...ids].sort());
    expect(readdirSync(dir).sort()).toEqual([...ids].sort());
  });
});

describe('fail closed: a bad download leaves the plugins dir exactly as it was', () => {
  let evil: Server;
  let evilUrl = '';
  let mode = 'flip';
  const fftDoc = () => JSON.parse(readFileSync(join(hub.dir, 'v1/plugins/fft.json'), 'utf8'));
  const archive = () => readFileSync(join(hub.dir, 'assets/plugins/fft-1.1.0.mpn'));
  beforeAll(async () => {
    // A hub that serves the real plugin document and a damaged archive, as `mode` says.
    evil = createServer((req, res) => {
      if (req.url === '/v1/plugins/fft.json') {
        const doc = fftDoc();
        if (mode === 'other-manifest') {
          // The document points 1.1.0 at ctf's (valid) archive, with its real sha256 and size.
          const ctf = readFileSync(join(hub.dir, 'assets/plugins/ctf-1.0.0.mpn'));
          const v = doc.versions.find((x: { version: string }) => x.version === '1.1.0');
          const sha = createHash('sha256').update(ctf).digest('hex');
          v.archive = { url: '/assets/plugins/ctf-1.0.0.mpn', sha256: sha, size_bytes: ctf.length };
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
        return;
      }
      const bytes = req.url?.includes('ctf')
        ? readFileSync(join(hub.dir, 'assets/plugins/ctf-1.0.0.mpn'))
        : archive();
      if (mode === 'flip') {
        const b = Buffer.from(bytes);
        b[100] = (b[100]! + 1) % 256;
        res.writeHead(200, { 'content-length': b.length }).end(b);
      } else if (mode === 'truncate') {
        res.writeHead(200).end(bytes.subarray(0, bytes.length - 10));
      } else if (mode === 'longer') {
        res.writeHead(200).end(Buffer.concat([bytes, Buffer.from('extra')]));
      } else if (mode === 'slow') {
        res.writeHead(200, { 'content-length': bytes.length });
        res.write(bytes.subarray(0, 1)); // then nothing: the idle timeout must end it
      } else if (mode === 'reset') {
        res.writeHead(200, { 'content-length': bytes.length });
        res.write(bytes.subarray(0, 1000), () => req.socket.destroy());
      } else {
        res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
      }
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    evilUrl = `http://127.0.0.1:${(evil.address() as { port: number }).port}`;
  });
  afterAll(() => {
    evil.closeAllConnections();
    evil.close();
  });

  const cases: Array<[string, InstallError['code']]> = [
    ['flip', 'checksum-mismatch'],
    ['truncate', 'checksum-mismatch'],
    ['longer', 'checksum-mismatch'],
    ['slow', 'download-failed'],
    ['reset', 'download-failed'],
    ['other-manifest', 'wrong-plugin'],
  ];
  for (const [m, code] of cases) {
    it(`${m} → ${code}, and the installed plugin and the dir are untouched`, async () => {
      const dir = freshPluginsDir();
      await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'topaz' });
      cpSync(join(dir, 'topaz'), join(scratch, `before-${m}`), { recursive: true });
      const before = snapshot(dir);
      mode = m;
      await expectFailure(
        installFromHub({
          pluginsDir: dir,
          hubs: [evilUrl],
          pluginId: 'fft',
          version: '1.1.0',
          timeouts: { idleMs: 1_000 },
        }),
        code,
      );
      expect(snapshot(dir)).toEqual(before);
    });
  }
});

describe('installFromFile (an uploaded .mpn)', () => {
  it('installs under the id and version its manifest names, with registry "upload"', async () => {
    const dir = freshPluginsDir();
    const receipt = await installFromFile({
      pluginsDir: dir,
      file: join(hub.dir, 'assets/plugins/topaz-0.3.0.mpn'),
    });
    expect(receipt).toMatchObject({ plugin_id: 'topaz', version: '0.3.0', registry: 'upload' });
    expect(receipt.sha256).toBe(
      createHash('sha256')
        .update(readFileSync(join(hub.dir, 'assets/plugins/topaz-0.3.0.mpn')))
        .digest('hex'),
    );
    await expectFailure(
      installFromFile({ pluginsDir: dir, file: join(hub.dir, 'assets/plugins/topaz-0.3.0.mpn') }),
      'already-installed',
    );
  });

  it('refuses hostile archives and non-files, leaving the plugins dir exactly as it was', async () => {
    const dir = freshPluginsDir();
    await installFromHub({ pluginsDir: dir, hubs: [hub.url], pluginId: 'fft', version: '1.0.0' });
    const before = snapshot(dir);
    const bad = mkdtempSync(join(scratch, 'bad-'));
    // zip-slip, and a symbolic link entry, each beside a valid manifest
    const manifest = readFileSync(join(dir, 'fft', '1.0.0', 'manifest.yaml'));
    writeFileSync(
      join(bad, 'slip.mpn'),
      buildZip([
        { name: 'manifest.yaml', data: manifest },
        { name: '../evil.py', data: Buffer.from('x') },
      ]),
    );
    writeFileSync(
      join(bad, 'link.mpn'),
      buildZip([
        { name: 'manifest.yaml', data: manifest },
        { name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 },
      ]),
    );
    // a real archive with one file added that file_checksums does not list (Python's zipfile appends it)
    const unlisted = join(bad, 'unlisted.mpn');
    cpSync(join(hub.dir, 'assets/plugins/ctf-1.0.0.mpn'), unlisted);
    execFileSync('python3', [
      '-c',
      'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], "a")\nz.writestr("unlisted.py", "print(1)\\n")\nz.close()',
      unlisted,
    ]);
    writeFileSync(join(bad, 'not-a-zip.mpn'), 'hello');
    execFileSync('mkfifo', [join(bad, 'fifo.mpn')]);
    for (const name of ['slip.mpn', 'link.mpn', 'unlisted.mpn', 'not-a-zip.mpn', 'fifo.mpn']) {
      const err = await expectFailure(
        installFromFile({ pluginsDir: dir, file: join(bad, name) }),
        'bad-archive',
      );
      expect(err.message, name).not.toBe('');
      expect(snapshot(dir), name).toEqual(before);
    }
    await expectFailure(
      installFromFile({
        pluginsDir: dir,
        file: join(hub.dir, 'assets/plugins/ctf-1.0.0.mpn'),
        maxBytes: 1000,
      }),
      'bad-archive',
    );
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('registries: trust modes, priority and unreachable mirrors', () => {
  it('verified-only refuses a community plugin (403 untrusted) and accepts a verified one', async () => {
    const dir = freshPluginsDir();
    const strict = [{ url: hub.url, trust: 'verified-only' as const, unsigned: true }];
    const err = await expectFailure(
      installFromHub({ pluginsDir: dir, hubs: strict, pluginId: 'topaz' }),
      'untrusted',
    );
    expect(err.status).toBe(403);
    expect(err.details.join('\n')).toMatch(/verified plugins only.*topaz is community/);
    expect(readdirSync(dir)).toEqual([]);
    expect((await installFromHub({ pluginsDir: dir, hubs: strict, pluginId: 'ctf' })).plugin_id).toBe('ctf');
  });

  it('an allow-list mirror passes on what it does not allow; the next registry serves it', async () => {
    const dir = freshPluginsDir();
    const hubs = [
      { url: hub.url, trust: 'allow-list' as const, allow: ['fft'], unsigned: true },
      { url: `${hub.url}/`, trust: 'all' as const, unsigned: true },
    ];
    expect((await installFromHub({ pluginsDir: dir, hubs, pluginId: 'fft' })).registry).toBe(hub.url);
    expect((await installFromHub({ pluginsDir: dir, hubs, pluginId: 'topaz' })).registry).toBe(`${hub.url}/`);
  });

  it('an unreachable mirror is passed over with a warning', async () => {
    const dir = freshPluginsDir();
    const warnings: string[] = [];
    const r = await installFromHub({
      pluginsDir: dir,
      hubs: ['http://127.0.0.1:1', hub.url],
      pluginId: 'ctf',
      onEvent: (e) => e.stage === 'warning' && warnings.push(e.message),
    });
    expect(r.registry).toBe(hub.url);
    expect(warnings.join('\n')).toMatch(/127\.0\.0\.1:1 could not be reached.*next registry/);
  });
});

describe('the config file', () => {
  it('reads registries, sdk_version, plugins_dir and settings; errors name file:line:column', async () => {
    const { readConfigFile } = await import('../src/config');
    const d = mkdtempSync(join(scratch, 'config-'));
    const good = join(d, 'good.yaml');
    writeFileSync(
      good,
      'registries:\n  - url: http://mirror:8080\n    trust: allow-list\n    allow: [fft]\n    unsigned: true\n  - url: https://hub.magellon.org\n    unsigned: true\nsdk_version: 2.3.0\nplugins:\n  fft:\n    log_level: debug\n',
    );
    expect(readConfigFile(good)).toEqual({
      registries: [
        { url: 'http://mirror:8080', trust: 'allow-list', allow: ['fft'], unsigned: true },
        { url: 'https://hub.magellon.org', trust: 'all', unsigned: true },
      ],
      sdk_version: '2.3.0',
      plugins: { fft: { log_level: 'debug' } },
    });
    const cases: [string, RegExp][] = [
      ['registries: [\n  {url: x', /bad\.yaml:\d+:\d+/],
      ['registries:\n  - url: ftp://x\n', /registries\.0\.url: a registry url must be an http\(s\) URL/],
      ['registries:\n  - url: http://x\n    trust: allow-list\n    unsigned: true\n', /needs allow/],
      [
        'registries:\n  - url: http://x\n',
        /registries\.0: a registry needs its pinned TUF root \(root: <root\.json>\), or unsigned: true/,
      ],
      ['plugin_dir: /x\n', /plugin_dir|unrecognized/i],
      ['docker:\n  network: bridge\n', /docker\.network: network must be host, none or container:<name>/],
      ['docker:\n  network: "container:x --privileged"\n', /docker\.network: network must be host/],
    ];
    for (const [text, want] of cases) {
      writeFileSync(join(d, 'bad.yaml'), text);
      expect(() => readConfigFile(join(d, 'bad.yaml'))).toThrow(want);
    }
    execFileSync('mkfifo', [join(d, 'fifo.yaml')]);
    expect(() => readConfigFile(join(d, 'fifo.yaml'))).toThrow(/not a regular file/);
    expect(() => readConfigFile(join(d, 'missing.yaml'))).toThrow(/ENOENT/);
    writeFileSync(join(d, 'docker.yaml'), 'docker:\n  network: container:hub-verify-net-1\n');
    expect(readConfigFile(join(d, 'docker.yaml'))).toEqual({
      docker: { network: 'container:hub-verify-net-1' },
    });
  });
});
