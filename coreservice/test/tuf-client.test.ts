// CoreService verifies a registry's signed metadata (TUF) before it installs, upgrades or offers an
// upgrade: real builds of the repo catalog signed with real keys, served by the hub's own Node
// server on 127.0.0.1, and one test per attack. Each attack fails closed with a named error and
// leaves the plugins dir as it was (nothing installed, or the installed version untouched).
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import {
  generateRoleKey,
  generateTufKeys,
  loadCatalog,
  rotateRootKeys,
  signingYaml,
  signMetadataFile,
  signPluginVersions,
  writeHubBuild,
} from '@magellon/hub-core/node';
import { serveInProcess } from '@magellon/hub-functions/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hubBinTargets, REPO } from '../../functions/test/harness';
import type { Registry } from '../src/config';
import { installFromHub, readReceipt } from '../src/install';
import { exportLock, syncLock } from '../src/lockfile';
import type { Receipt } from '../src/records';
import { listUpgrades, upgradeFromHub } from '../src/upgrade';
import { expectFailure, runCoreservice, scratchDir, snapshot, stopAllUnder } from './helpers';

const scratch = scratchDir('coreservice-tuf-');
const keys = join(scratch, 'keys');
/** Build A: the catalog without fft 1.1.0 (an older revision); build B: all of it, one version later. */
const buildA = join(scratch, 'build-a');
const buildB = join(scratch, 'build-b');
const pinned = join(scratch, 'pinned-root.json');
type Server = { url: string; port: number; close(): Promise<void> };
const servers: Server[] = [];

async function serve(dir: string, port = 0): Promise<Server> {
  const running = await serveInProcess({ dir, port, host: '127.0.0.1' });
  const server = {
    url: running.url,
    port: Number(new URL(running.url).port),
    close: async () => {
      await running.close(100);
      servers.splice(servers.indexOf(server), 1);
    },
  };
  servers.push(server);
  return server;
}

async function build(
  out: string,
  opts: { without?: string; keysDir?: string; previous?: string; now?: Date } = {},
): Promise<void> {
  const catalog = await loadCatalog(join(REPO, 'catalog'));
  const entries = catalog.entries.filter((e) => `${e.entry.plugin_id}@${e.entry.version}` !== opts.without);
  const built = await writeHubBuild(catalog.root, entries, out, {
    removeOld: 'wait',
    tuf: {
      keysDir: opts.keysDir ?? keys,
      authors: catalog.authorRoles ?? [],
      ...(opts.previous ? { previousMetadataDir: join(opts.previous, 'tuf/metadata') } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    },
  });
  if (!built.ok) throw new Error(`the repo catalog did not build: ${built.findings[0]?.message}`);
}

/** A copy of a build to tamper with. */
function copyOf(dir: string, name: string): string {
  const out = join(scratch, name);
  rmSync(out, { recursive: true, force: true });
  cpSync(dir, out, { recursive: true });
  return out;
}

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const signedRegistry = (url: string, root = pinned): Registry => ({ url, trust: 'all', root });
let dirs = 0;
const pluginsDir = () => {
  const d = join(scratch, `plugins-${++dirs}`);
  mkdirSync(d);
  return d;
};
const install = (dir: string, hubs: Registry[], version?: string) =>
  installFromHub({ pluginsDir: dir, hubs, pluginId: 'fft', ...(version ? { version } : {}), noStart: true });

/** Installs nothing and changes nothing: the attack is refused with `code`, and the message names it. */
async function refused(hubs: Registry[], code: Parameters<typeof expectFailure>[1], dir = pluginsDir()) {
  const before = snapshot(dir);
  const withoutState = (s: Record<string, string>) =>
    Object.fromEntries(Object.entries(s).filter(([k]) => !k.startsWith('.tuf')));
  const err = await expectFailure(install(dir, hubs), code);
  expect(withoutState(snapshot(dir))).toEqual(withoutState(before));
  return err;
}

/** A copy of build B serving fft's document (its bytes, .gz, .br and bundle entry) as build A had it. */
function mixedDocument(name: string): string {
  const evil = copyOf(buildB, name);
  const doc = 'v1/plugins/fft.json';
  for (const suffix of ['', '.gz', '.br']) cpSync(join(buildA, doc + suffix), join(evil, doc + suffix));
  const manifest = json(join(evil, 'hub-bundle.json'));
  manifest.documents[doc] = json(join(buildA, 'hub-bundle.json')).documents[doc];
  writeFileSync(join(evil, 'hub-bundle.json'), JSON.stringify(manifest));
  return evil;
}

/** Serves `dir` (a tampered build) on 127.0.0.1 and expects an install from it to be refused with `code`. */
async function refusedFrom(dir: string, code: Parameters<typeof expectFailure>[1], root = pinned) {
  const server = await serve(dir);
  try {
    return await refused([signedRegistry(server.url, root)], code);
  } finally {
    await server.close();
  }
}

let hubB: Server;

beforeAll(async () => {
  generateTufKeys(keys);
  writeFileSync(pinned, readFileSync(join(keys, 'root', '1.root.json')));
  await build(buildA, { without: 'fft@1.1.0' });
  cpSync(buildA, buildB, { recursive: true });
  await build(buildB, { previous: buildA });
  hubB = await serve(buildB);
}, 120_000);

afterAll(async () => {
  vi.useRealTimers();
  await stopAllUnder(scratch);
  for (const s of [...servers]) await s.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('a registry with a pinned root', () => {
  it('installs only what its signed targets name, and remembers what it saw', async () => {
    const dir = pluginsDir();
    const receipt = await install(dir, [signedRegistry(hubB.url)]);
    expect(receipt).toMatchObject({ plugin_id: 'fft', version: '1.1.0' });
    // The state kept per pinned root: the newest timestamp this CoreService verified.
    const state = join(dir, '.tuf');
    const [key] = (await import('node:fs')).readdirSync(state);
    expect(json(join(state, key!, 'timestamp.json')).signed.version).toBe(2);
    // Upgrade checks read the same verified document.
    const choices = await listUpgrades({
      pluginsDir: dir,
      hubs: [signedRegistry(hubB.url)],
      pluginId: 'fft',
    });
    expect(choices.versions.map((v) => v.version)).toContain('1.1.0');
  });

  it('a registry with neither a root nor unsigned: true is refused (unsigned-registry)', async () => {
    const err = await refused([{ url: hubB.url, trust: 'all' }], 'unsigned-registry');
    expect(err.message).toMatch(/no pinned root.*--hub-root.*--unsigned/);
  });

  it('a registry that serves no signed metadata is refused when a root is pinned', async () => {
    const bare = copyOf(buildB, 'bare');
    rmSync(join(bare, 'tuf'), { recursive: true });
    await refusedFrom(bare, 'metadata-unsigned');
  });
});

describe('attacks, each refused by name with nothing installed', () => {
  it('tampered targets: a target hash changed after signing (metadata-unsigned)', async () => {
    // Build B's targets are in its online `hub` role (top-level targets only delegates).
    const evil = copyOf(buildB, 'tampered');
    const file = hubBinTargets(join(evil, 'tuf/metadata')).get('v1/plugins/fft.json')!.file;
    const targets = json(file);
    targets.signed.targets['v1/plugins/fft.json'].hashes.sha256 = '0'.repeat(64);
    writeFileSync(file, JSON.stringify(targets));
    const err = await refusedFrom(evil, 'metadata-unsigned');
    expect(err.message).toMatch(/not signed by the threshold/);
  });

  it('wrong key: targets re-signed by a key the root does not name (metadata-unsigned)', async () => {
    const other = join(scratch, 'other-keys');
    generateTufKeys(other);
    const otherTargetsKey = (await import('node:fs'))
      .readdirSync(other)
      .find((n) => n.startsWith('targets-'))!;
    const evil = copyOf(buildB, 'wrong-key');
    // Top-level targets is build A's, reused unchanged by build B (its delegations did not change).
    const file = join(evil, 'tuf/metadata/1.targets.json');
    const targets = json(file);
    targets.signatures = [];
    writeFileSync(file, JSON.stringify(targets));
    signMetadataFile(file, join(other, otherTargetsKey));
    expect(json(file).signatures).toHaveLength(1);
    await refusedFrom(evil, 'metadata-unsigned');
  });

  it('below threshold: a root rotation signed by 1 of the 2 root keys it needs (metadata-unsigned)', async () => {
    const twoKeys = join(scratch, 'two-keys');
    generateTufKeys(twoKeys, { rootKeys: 2, rootThreshold: 2 });
    const root1 = join(scratch, 'two-keys-root.json');
    writeFileSync(root1, readFileSync(join(twoKeys, 'root', '1.root.json')));
    rotateRootKeys(twoKeys);
    const out = join(scratch, 'two-keys-build');
    await build(out, { keysDir: twoKeys });
    // Drop one of the old root keys' signatures from root 2: 1 of 2 is below the threshold.
    const oldIds: string[] = json(root1).signed.roles.root.keyids;
    const file = join(out, 'tuf/metadata/2.root.json');
    const root2 = json(file);
    const dropped = oldIds[0]!;
    root2.signatures = root2.signatures.filter((s: { keyid: string }) => s.keyid !== dropped);
    writeFileSync(file, JSON.stringify(root2));
    const err = await refusedFrom(out, 'metadata-unsigned', root1);
    expect(err.message).toMatch(/root was signed by 1\/2 keys/);
  });

  it('expired timestamp, by a clock two days on (metadata-expired)', async () => {
    const dir = pluginsDir();
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 2 * 86_400_000 });
    try {
      const err = await refused([signedRegistry(hubB.url)], 'metadata-expired', dir);
      expect(err.message).toMatch(/expired.*frozen hub/);
    } finally {
      vi.useRealTimers();
    }
    // The same registry, read with today's clock, is fine.
    expect((await install(dir, [signedRegistry(hubB.url)])).version).toBe('1.1.0');
  });

  it('rollback: the hub goes back to an older signed revision (metadata-rollback)', async () => {
    const dir = pluginsDir();
    const hub = await serve(buildB);
    await install(dir, [signedRegistry(hub.url)], '1.0.0');
    // The same URL now serves build A: validly signed, one version older, without fft 1.1.0.
    const port = hub.port;
    await hub.close();
    const old = await serve(buildA, port);
    try {
      const before = snapshot(join(dir, 'fft'));
      const err = await expectFailure(
        upgradeFromHub({ pluginsDir: dir, hubs: [signedRegistry(old.url)], pluginId: 'fft' }),
        'metadata-rollback',
      );
      expect(err.message).toMatch(/older than what this CoreService already verified/);
      expect(snapshot(join(dir, 'fft'))).toEqual(before);
      await expectFailure(
        listUpgrades({ pluginsDir: dir, hubs: [signedRegistry(old.url)], pluginId: 'fft' }),
        'metadata-rollback',
      );
    } finally {
      await old.close();
    }
  });

  it('a mirror serving an old catalog, pinned to the same root: refused, and the hub after it is used', async () => {
    const dir = pluginsDir();
    await install(dir, [signedRegistry(hubB.url)], '1.0.0');
    const mirror = await serve(buildA);
    try {
      const before = snapshot(join(dir, 'fft'));
      const err = await expectFailure(
        upgradeFromHub({ pluginsDir: dir, hubs: [signedRegistry(mirror.url)], pluginId: 'fft' }),
        'metadata-rollback',
      );
      expect(err.message).toContain(mirror.url);
      expect(snapshot(join(dir, 'fft'))).toEqual(before);
      // Listed before the hub, the stale mirror is passed over with a warning naming it.
      const warnings: string[] = [];
      const done = await upgradeFromHub({
        pluginsDir: dir,
        hubs: [signedRegistry(mirror.url), signedRegistry(hubB.url)],
        pluginId: 'fft',
        onEvent: (e) => {
          if (e.stage === 'warning') warnings.push(e.message);
        },
        run: { healthTimeoutMs: 30_000 },
      });
      expect(done).toMatchObject({ to: { version: '1.1.0', registry: hubB.url } });
      expect(warnings.join('\n')).toMatch(/older than what this CoreService already verified.*next registry/);
    } finally {
      await mirror.close();
    }
  });

  it('mix-and-match: a plugin document from another revision than the signed targets (metadata-mismatch)', async () => {
    // The server serves build B, but fft's document as build A had it.
    const evil = mixedDocument('mixed');
    const err = await refusedFrom(evil, 'metadata-mismatch');
    expect(err.message).toMatch(/document of fft.*not the one its signed targets name/);
  });

  it('mix-and-match: a snapshot from another revision than the timestamp names (metadata-mismatch)', async () => {
    // Build A's snapshot is validly signed, but it is not the one build B's timestamp names.
    const evil = copyOf(buildB, 'mixed-snapshot');
    writeFileSync(
      join(evil, 'tuf/metadata/2.snapshot.json'),
      readFileSync(join(buildA, 'tuf/metadata/1.snapshot.json')),
    );
    await refusedFrom(evil, 'metadata-mismatch');
  });
});

describe('key rotation', () => {
  it('a client pinned to root 1 follows a rotation signed by the old keys, and refuses one they did not sign', async () => {
    const rotKeys = join(scratch, 'rot-keys');
    generateTufKeys(rotKeys);
    const root1 = join(scratch, 'rot-root-1.json');
    writeFileSync(root1, readFileSync(join(rotKeys, 'root', '1.root.json')));
    rotateRootKeys(rotKeys);
    const out = join(scratch, 'rot-build');
    await build(out, { keysDir: rotKeys });
    const good = await serve(out);
    const dir = pluginsDir();
    try {
      expect((await install(dir, [signedRegistry(good.url, root1)], '1.0.0')).version).toBe('1.0.0');
    } finally {
      await good.close();
    }
    const [key] = (await import('node:fs')).readdirSync(join(dir, '.tuf'));
    expect(json(join(dir, '.tuf', key!, 'root.json')).signed.version).toBe(2);

    // A root 2 signed only by its own new keys (not by root 1's) is refused.
    const evil = copyOf(out, 'rot-evil');
    const file = join(evil, 'tuf/metadata/2.root.json');
    const root2 = json(file);
    const oldIds: string[] = json(root1).signed.roles.root.keyids;
    root2.signatures = root2.signatures.filter((s: { keyid: string }) => !oldIds.includes(s.keyid));
    writeFileSync(file, JSON.stringify(root2));
    const bad = await serve(evil);
    try {
      const err = await refused([signedRegistry(bad.url, root1)], 'metadata-unsigned');
      expect(err.message).toMatch(/root was signed by 0\/1 keys/);
    } finally {
      await bad.close();
    }
  });
});

/**
 * What someone holding every online key of the hub (hub, snapshot, timestamp — not the offline
 * targets key, not an author's key) can serve: a new version of `pluginId` in its document (the
 * identity bytes and their .gz/.br, the bundle entry) and in the hub role's own targets, signed with
 * the hub key. The archive's bytes are a copy of `copyOf`'s (it never gets that far if refused).
 */
function forgeVersion(dir: string, pluginId: string, copyOfVersion: string, forged: string, hubKey: string) {
  const archive = `assets/plugins/${pluginId}-${forged}.mpn`;
  const bytes = readFileSync(join(dir, `assets/plugins/${pluginId}-${copyOfVersion}.mpn`));
  writeFileSync(join(dir, archive), bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const docPath = `v1/plugins/${pluginId}.json`;
  const doc = json(join(dir, docPath));
  const base = doc.versions.find((v: { version: string }) => v.version === copyOfVersion);
  const url = `/${archive}`;
  doc.versions.unshift({
    ...base,
    version: forged,
    url,
    sha256,
    size_bytes: bytes.length,
    ...(base.archive ? { archive: { ...base.archive, url, sha256, size_bytes: bytes.length } } : {}),
  });
  doc.latest_version = forged;
  const docBytes = Buffer.from(JSON.stringify(doc));
  writeFileSync(join(dir, docPath), docBytes);
  writeFileSync(join(dir, `${docPath}.gz`), gzipSync(docBytes));
  writeFileSync(join(dir, `${docPath}.br`), brotliCompressSync(docBytes));
  const manifest = json(join(dir, 'hub-bundle.json'));
  manifest.documents[docPath] = {
    etag: `"forged-${sha256.slice(0, 8)}"`,
    size: docBytes.length,
    gzip: gzipSync(docBytes).length,
    br: brotliCompressSync(docBytes).length,
  };
  manifest.archives[archive] = { sha256, size: bytes.length };
  writeFileSync(join(dir, 'hub-bundle.json'), JSON.stringify(manifest));
  // The hub role (its version unchanged: the snapshot pins only that) now lists both itself.
  const meta = join(dir, 'tuf/metadata');
  const hubFile = join(meta, readdirSync(meta).find((f) => /^[0-9]+\.hub\.json$/.test(f))!);
  const hub = json(hubFile);
  hub.signatures = [];
  hub.signed.targets[docPath] = {
    length: docBytes.length,
    hashes: { sha256: createHash('sha256').update(docBytes).digest('hex') },
  };
  hub.signed.targets[archive] = { length: bytes.length, hashes: { sha256 } };
  writeFileSync(hubFile, JSON.stringify(hub));
  signMetadataFile(hubFile, hubKey);
}

describe('an author-signed plugin', () => {
  it('installs through its authors’ role; a version the hub key alone signed is refused (target-unsigned), though the same forgery of an unsigned plugin gets through', async () => {
    // ctf is author-signed in a copy of the repo catalog: owners.yaml signing + signed-targets.json.
    const catalogDir = join(scratch, 'author-catalog');
    cpSync(join(REPO, 'catalog'), catalogDir, { recursive: true });
    const author = generateRoleKey(join(scratch, 'author-key'), 'author');
    appendFileSync(
      join(catalogDir, 'plugins/ctf/owners.yaml'),
      `${signingYaml([{ keyid: author.key.keyid, public: author.key.keyval.public }])}\n`,
    );
    const signedCtf = await signPluginVersions(catalogDir, 'ctf', author.file);
    expect(signedCtf.ok).toBe(true);
    const catalog = await loadCatalog(catalogDir);
    const out = join(scratch, 'author-build');
    const built = await writeHubBuild(catalog.root, catalog.entries, out, {
      removeOld: 'wait',
      tuf: { keysDir: keys, authors: catalog.authorRoles ?? [] },
    });
    expect(built.ok).toBe(true);
    const good = await serve(out);
    try {
      const dir = pluginsDir();
      const r = await installFromHub({
        pluginsDir: dir,
        hubs: [signedRegistry(good.url)],
        pluginId: 'ctf',
        noStart: true,
      });
      expect(r.version).toBe('1.0.0');
    } finally {
      await good.close();
    }

    const hubKey = join(keys, readdirSync(keys).find((f) => f.startsWith('hub-'))!);
    const evil = copyOf(out, 'author-forged');
    forgeVersion(evil, 'ctf', '1.0.0', '9.9.9', hubKey);
    forgeVersion(evil, 'fft', '1.1.0', '9.9.9', hubKey);
    const server = await serve(evil);
    try {
      const dir = pluginsDir();
      const before = snapshot(dir);
      const err = await expectFailure(
        installFromHub({
          pluginsDir: dir,
          hubs: [signedRegistry(server.url)],
          pluginId: 'ctf',
          noStart: true,
        }),
        'target-unsigned',
      );
      expect(err.message).toMatch(
        /ctf 9\.9\.9: its archive \(assets\/plugins\/ctf-9\.9\.9\.mpn\) is in none of the signed targets/,
      );
      const keep = (x: Record<string, string>) =>
        Object.fromEntries(Object.entries(x).filter(([k]) => !k.startsWith('.tuf')));
      expect(keep(snapshot(dir))).toEqual(keep(before));
      // The control: fft is not author-signed, so the hub key's forgery passes the signatures and
      // is caught only later, by the archive's own manifest (it is a copy of 1.1.0).
      await expectFailure(
        installFromHub({
          pluginsDir: dir,
          hubs: [signedRegistry(server.url)],
          pluginId: 'fft',
          noStart: true,
        }),
        'wrong-plugin',
      );
    } finally {
      await server.close();
    }
  });
});

describe('lockfiles against signed targets', () => {
  it('sync reproduces a lab from a verified registry (same receipts and files); a mix-and-match registry fails each plugin by name', async () => {
    const a = pluginsDir();
    const hubs = [signedRegistry(hubB.url)];
    await installFromHub({ pluginsDir: a, hubs, pluginId: 'fft', version: '1.0.0' });
    await installFromHub({ pluginsDir: a, hubs, pluginId: 'ctf' });
    const lock = exportLock(a);
    const b = pluginsDir();
    const report = await syncLock({ pluginsDir: b, hubs, lock });
    expect(report.matches).toBe(true);
    const portable = ({ installed_at: _, ...rest }: Receipt) => rest;
    for (const id of ['fft', 'ctf']) {
      expect(portable(readReceipt(b, id)!)).toEqual(portable(readReceipt(a, id)!));
      const version = readReceipt(b, id)!.version;
      expect(snapshot(join(b, id, version))).toEqual(snapshot(join(a, id, version)));
    }
    // The same lockfile against a registry serving fft's document from another revision.
    const evil = mixedDocument('mixed-sync');
    const server = await serve(evil);
    try {
      const c = pluginsDir();
      const evilLock = { ...lock, plugins: lock.plugins.map((p) => ({ ...p, registry: server.url })) };
      const bad = await syncLock({ pluginsDir: c, hubs: [signedRegistry(server.url)], lock: evilLock });
      expect(bad.matches).toBe(false);
      const fft = bad.plugins.find((p) => p.plugin_id === 'fft')!;
      expect([fft.outcome, fft.error?.code]).toEqual(['failed', 'metadata-mismatch']);
      expect(readReceipt(c, 'fft')).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

describe('the CLI', () => {
  it('--hub-root pins the root; a --hub without it or --unsigned is refused by name', async () => {
    const dir = pluginsDir();
    const refusedRun = await runCoreservice(['--hub', hubB.url, '--plugins-dir', dir, 'install', 'fft']);
    expect(refusedRun.code).not.toBe(0);
    expect(refusedRun.stderr).toMatch(/unsigned-registry|no pinned root/);
    const ok = await runCoreservice([
      '--hub',
      hubB.url,
      '--hub-root',
      pinned,
      '--plugins-dir',
      dir,
      'install',
      'fft',
      '--no-start',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(join(dir, 'fft', 'receipt.json'))).toMatchObject({ version: '1.1.0' });
  });
});
