// The hub's signed TUF metadata as a real client sees it: the repo catalog built with keys, served
// by the Node server on 127.0.0.1, read by tuf-js's Updater holding the build's 1.root.json.

import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateRoleKey,
  generateTufKeys,
  loadCatalog,
  rotateRoleKey,
  rotateRootKeys,
  signingYaml,
  signMetadataFile,
  signPluginVersions,
  TufError,
  writeHubBuild,
} from '@magellon/hub-core/node';
import { skipLoudly } from '@magellon/hub-core/test-support';
import { Updater } from 'tuf-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubBinTargets, REPO, rawRequest } from './harness';
import { startNode, startWorker, type TestServer } from './servers';

let scratch: string;
let keys: string;
let dist: string;
/** A copy of the repo catalog in which plugin ctf is author-signed (owners.yaml signing + signed-targets.json). */
let catalogDir: string;
let authorKey: string;
let node: TestServer | undefined;
let clients = 0;

async function build(): Promise<void> {
  const catalog = await loadCatalog(catalogDir);
  if (catalog.findings.some((f) => f.severity === 'error'))
    throw new Error(`the catalog copy has errors: ${catalog.findings[0]?.message}`);
  const built = await writeHubBuild(catalog.root, catalog.entries, dist, {
    removeOld: 'wait',
    tuf: { keysDir: keys, authors: catalog.authorRoles ?? [] },
  });
  if (!built.ok) throw new Error(`the repo catalog did not build: ${built.findings[0]?.message}`);
}

const metadataFile = (dir: string, role: string) => {
  const name = readdirSync(join(dir, 'tuf/metadata')).find((f) => f.endsWith(`.${role}.json`));
  if (!name) throw new Error(`no ${role} metadata`);
  return join(dir, 'tuf/metadata', name);
};
const keyFile = (role: string) => join(keys, readdirSync(keys).find((f) => f.startsWith(`${role}-`))!);

/** A client whose only trust is the build's first root (or the metadata dir of an earlier client). */
function client(
  metadataDir?: string,
  url = node!.url,
): { updater: Updater; metadataDir: string; targetDir: string } {
  const base = join(scratch, `client-${++clients}`);
  const targetDir = join(base, 'targets');
  mkdirSync(targetDir, { recursive: true });
  if (!metadataDir) {
    metadataDir = join(base, 'metadata');
    mkdirSync(metadataDir);
    copyFileSync(join(keys, 'root', '1.root.json'), join(metadataDir, 'root.json'));
  }
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: `${url}/tuf/metadata`,
    targetDir,
    targetBaseUrl: `${url}/`,
    // Targets are served under their own paths (the API's), not hash-prefixed copies.
    config: { prefixTargetsWithHash: false, fetchRetries: 0 },
  });
  return { updater, metadataDir, targetDir };
}

async function download(updater: Updater, targetDir: string, path: string): Promise<Buffer> {
  const info = await updater.getTargetInfo(path);
  if (!info) throw new Error(`no target ${path}`);
  const file = await updater.downloadTarget(info, join(targetDir, path.replaceAll('/', '_')));
  return readFileSync(file);
}

const version = (file: string) => JSON.parse(readFileSync(file, 'utf8')).signed.version as number;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'hub-tuf-test-'));
  keys = join(scratch, 'keys');
  dist = join(scratch, 'dist');
  generateTufKeys(keys);
  catalogDir = join(scratch, 'catalog');
  cpSync(join(REPO, 'catalog'), catalogDir, { recursive: true });
  const made = generateRoleKey(join(scratch, 'author'), 'author');
  authorKey = made.file;
  appendFileSync(
    join(catalogDir, 'plugins/ctf/owners.yaml'),
    `${signingYaml([{ keyid: made.key.keyid, public: made.key.keyval.public }])}\n`,
  );
  const signed = await signPluginVersions(catalogDir, 'ctf', authorKey);
  if (!signed.ok) throw new Error(`ctf could not be signed: ${signed.findings[0]?.message}`);
  await build();
  node = await startNode(dist);
}, 120_000);
afterAll(async () => {
  await node?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('hub keys', () => {
  it('keeps private keys 0600 in a 0700 dir and never overwrites them', () => {
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    const files = readFileSync(join(keys, 'root', '1.root.json'), 'utf8');
    const root = JSON.parse(files).signed;
    for (const id of Object.keys(root.keys)) {
      const role = Object.entries(root.roles as Record<string, { keyids: string[] }>).find(([, r]) =>
        r.keyids.includes(id),
      )![0];
      expect(statSync(join(keys, `${role}-${id.slice(0, 16)}.key.json`)).mode & 0o777).toBe(0o600);
    }
    expect(() => generateTufKeys(keys)).toThrow(TufError);
  });
});

describe('a tuf-js client against the Node server', () => {
  it('refreshes and downloads a verified plugin document and archive', async () => {
    const { updater, targetDir } = client();
    await updater.refresh();
    const doc = await download(updater, targetDir, 'v1/plugins/ctf.json');
    expect(doc.equals(readFileSync(join(dist, 'v1/plugins/ctf.json')))).toBe(true);
    const archive = await download(updater, targetDir, 'assets/plugins/ctf-1.0.0.mpn');
    expect(archive.equals(readFileSync(join(dist, 'assets/plugins/ctf-1.0.0.mpn')))).toBe(true);
    expect(await updater.getTargetInfo('v1/index.json')).toBeUndefined();
  });

  it('serves timestamp.json briefly cached and versioned metadata as immutable', async () => {
    const ts = await rawRequest(node!.url, 'GET', '/tuf/metadata/timestamp.json');
    expect(ts.status).toBe(200);
    expect(ts.headers['cache-control']).toBe('public, max-age=60');
    const root = await rawRequest(node!.url, 'GET', '/tuf/metadata/1.root.json');
    expect(root.body.equals(readFileSync(join(keys, 'root', '1.root.json')))).toBe(true);
    expect(root.headers['cache-control']).toContain('immutable');
    expect((await rawRequest(node!.url, 'GET', '/tuf/metadata/2.root.json')).status).toBe(404);
    expect((await rawRequest(node!.url, 'GET', '/tuf/metadata/..%2Fhub-bundle.json')).status).toBe(404);
  });

  it('refuses targets metadata changed on the server (its signature no longer verifies)', async () => {
    // tuf-js wraps the UnsignedMetadataError in a RuntimeError that names it in its message.
    const file = join(dist, 'tuf/metadata/1.targets.json');
    const original = readFileSync(file);
    const forged = JSON.parse(original.toString('utf8'));
    forged.signed.delegations.roles.at(-1).paths.push('*');
    writeFileSync(file, JSON.stringify(forged));
    try {
      const { updater } = client();
      await expect(updater.refresh()).rejects.toThrow(
        /Unable to load targets.*targets was signed by 0\/1 keys/,
      );
    } finally {
      writeFileSync(file, original);
    }
  });

  it('refuses a hub bin changed on the server when it asks for a target', async () => {
    // The hub role lists its targets in hash bins; ctf.json's bin is changed after signing.
    const file = hubBinTargets(join(dist, 'tuf/metadata')).get('v1/plugins/ctf.json')!.file;
    const original = readFileSync(file);
    const forged = JSON.parse(original.toString('utf8'));
    forged.signed.targets['v1/plugins/ctf.json'].length += 1;
    writeFileSync(file, JSON.stringify(forged));
    try {
      const { updater } = client();
      await updater.refresh();
      await expect(updater.getTargetInfo('v1/plugins/ctf.json')).rejects.toThrow(
        /hub-bin-[0-9a-f]+ was signed by 0\/1 keys/,
      );
    } finally {
      writeFileSync(file, original);
    }
  });

  it('refuses an archive whose bytes differ from its signed hash (LengthOrHashMismatchError)', async () => {
    const file = join(dist, 'assets/plugins/ctf-1.0.0.mpn');
    const original = readFileSync(file);
    const changed = Buffer.from(original);
    changed[changed.length - 1] = (changed[changed.length - 1]! + 1) % 256;
    writeFileSync(file, changed);
    try {
      const { updater, targetDir } = client();
      await updater.refresh();
      const refused = await download(updater, targetDir, 'assets/plugins/ctf-1.0.0.mpn').catch(
        (e: Error) => e,
      );
      expect(refused).toBeInstanceOf(Error);
      expect(refused.constructor.name).toBe('LengthOrHashMismatchError');
      expect((refused as Error).message).toMatch(/^Expected hash [0-9a-f]{64} but got [0-9a-f]{64}$/);
    } finally {
      writeFileSync(file, original);
    }
  });

  it('follows a root rotation (v2 signed by old and new keys) from a client holding v1', async () => {
    const first = client();
    await first.updater.refresh();
    expect(version(join(first.metadataDir, 'timestamp.json'))).toBe(1);
    const rotated = rotateRootKeys(keys);
    expect(rotated.version).toBe(2);
    await build();
    await node!.close();
    node = await startNode(dist);
    // The versions continue from the build replaced: a client never sees them go back.
    expect(version(join(dist, 'tuf/metadata/timestamp.json'))).toBe(2);
    const again = client(first.metadataDir);
    await again.updater.refresh();
    expect(version(join(first.metadataDir, 'root.json'))).toBe(2);
    expect(version(join(first.metadataDir, 'timestamp.json'))).toBe(2);
    const doc = await download(again.updater, again.targetDir, 'v1/plugins/fft.json');
    expect(doc.equals(readFileSync(join(dist, 'v1/plugins/fft.json')))).toBe(true);
  });
});

describe('a root the old keys did not sign', () => {
  it('is refused by a client holding v1, which keeps trusting v1', async () => {
    const file = join(dist, 'tuf/metadata/2.root.json');
    const original = readFileSync(file);
    const root = JSON.parse(original.toString('utf8'));
    const oldIds: string[] = JSON.parse(readFileSync(join(keys, 'root', '1.root.json'), 'utf8')).signed.roles
      .root.keyids;
    root.signatures = root.signatures.filter((sig: { keyid: string }) => !oldIds.includes(sig.keyid));
    writeFileSync(file, JSON.stringify(root));
    try {
      const { updater, metadataDir } = client();
      await expect(updater.refresh()).rejects.toThrow(/root was signed by 0\/1 keys/);
      expect(version(join(metadataDir, 'root.json'))).toBe(1);
    } finally {
      writeFileSync(file, original);
    }
  });
});

describe('the Worker in workerd', () => {
  it('serves every metadata file byte for byte as Node does, and clients through each end up verifying the same', async () => {
    let worker: TestServer;
    try {
      worker = await startWorker(dist);
    } catch (err) {
      skipLoudly('TUF on the Worker', `workerd could not start: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    try {
      // Every file of the build's metadata (roots, targets, hub, its bins, snapshot, timestamp).
      const files = readdirSync(join(dist, 'tuf/metadata'));
      expect(files.some((f) => /\.hub-bin-[0-9a-f]+\.json$/.test(f))).toBe(true);
      for (const file of files) {
        const [a, b] = await Promise.all([
          rawRequest(node!.url, 'GET', `/tuf/metadata/${file}`),
          rawRequest(worker.url, 'GET', `/tuf/metadata/${file}`),
        ]);
        expect([file, b.status]).toEqual([file, 200]);
        expect(b.body.equals(a.body), file).toBe(true);
        expect(b.headers['cache-control'], file).toBe(a.headers['cache-control']);
      }
      // A client holding root v1 through the Worker and one through Node: the same documents and
      // archives verify, and each keeps exactly the same trusted metadata afterwards.
      const viaWorker = client(undefined, worker.url);
      const viaNode = client(undefined, node!.url);
      for (const c of [viaWorker, viaNode]) await c.updater.refresh();
      for (const path of [
        'assets/plugins/ctf-1.0.0.mpn',
        'v1/plugins/ctf.json',
        'assets/plugins/fft-1.1.0.mpn',
      ]) {
        const [w, n] = [
          await download(viaWorker.updater, viaWorker.targetDir, path),
          await download(viaNode.updater, viaNode.targetDir, path),
        ];
        expect(w.equals(readFileSync(join(dist, path))), path).toBe(true);
        expect(n.equals(w), path).toBe(true);
      }
      const trusted = (dir: string) =>
        Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
      expect(trusted(viaWorker.metadataDir)).toEqual(trusted(viaNode.metadataDir));
    } finally {
      await worker.close();
    }
  }, 180_000);
});

/** Edits a metadata file's signed part, bumps its version, writes it as `<v>.<role>.json` and signs it. */
function forge(
  metaDir: string,
  from: string,
  role: string,
  key: string,
  // biome-ignore lint/suspicious/noExplicitAny: the test edits raw TUF JSON of several roles
  change: (signed: Record<string, any>) => void,
): { file: string; version: number } {
  const j = JSON.parse(readFileSync(join(metaDir, from), 'utf8'));
  j.signed.version += 1;
  change(j.signed);
  const file = join(metaDir, role === 'timestamp' ? 'timestamp.json' : `${j.signed.version}.${role}.json`);
  writeFileSync(file, JSON.stringify(j));
  signMetadataFile(file, key);
  return { file, version: j.signed.version };
}

describe('author signing: plugin ctf signed by its author, through its own delegated role', () => {
  it('resolves ctf archives through plugin-ctf, other archives and documents through hub', async () => {
    const meta = join(dist, 'tuf/metadata');
    const top = JSON.parse(
      readFileSync(join(meta, `${version(join(meta, 'timestamp.json'))}.snapshot.json`), 'utf8'),
    ).signed.meta;
    expect(
      Object.keys(top)
        .filter((k) => !k.startsWith('hub-bin-'))
        .sort(),
    ).toEqual(['hub.json', 'plugin-ctf.json', 'targets.json']);
    // The hub role delegates to its hash bins (succinct roles) and lists no target itself.
    const hubRole = JSON.parse(readFileSync(metadataFile(dist, 'hub'), 'utf8')).signed;
    expect(hubRole.targets).toEqual({});
    const bits = hubRole.delegations.succinct_roles.bit_length;
    expect(Object.keys(top).filter((k) => k.startsWith('hub-bin-'))).toHaveLength(2 ** bits);
    const targets = JSON.parse(
      readFileSync(join(meta, `${top['targets.json'].version}.targets.json`), 'utf8'),
    ).signed;
    expect(targets.targets).toEqual({});
    expect(
      targets.delegations.roles.map((r: { name: string; terminating: boolean }) => [r.name, r.terminating]),
    ).toEqual([
      ['plugin-ctf', true],
      ['hub', false],
    ]);
    const hub = [...hubBinTargets(join(dist, 'tuf/metadata')).keys()];
    expect(hub).not.toContain('assets/plugins/ctf-1.0.0.mpn');
    expect(hub).toContain('assets/plugins/fft-1.0.0.mpn');
    // The author's file is served as it is in the catalog.
    expect(
      readFileSync(metadataFile(dist, 'plugin-ctf')).equals(
        readFileSync(join(catalogDir, 'plugins/ctf/signed-targets.json')),
      ),
    ).toBe(true);

    const { updater, targetDir } = client();
    await updater.refresh();
    for (const path of [
      'assets/plugins/ctf-1.1.0.mpn',
      'assets/plugins/fft-1.0.0.mpn',
      'v1/plugins/ctf.json',
    ]) {
      const got = await download(updater, targetDir, path);
      expect(got.equals(readFileSync(join(dist, path))), path).toBe(true);
    }
  });

  it('a hub compromise (every online key, no author key) cannot add a ctf version; it could add an fft one', async () => {
    const forged = join(scratch, 'forged');
    cpSync(dist, forged, { recursive: true });
    const metaDir = join(forged, 'tuf/metadata');
    const bogus = Buffer.from('not the author’s plugin');
    const sha256 = createHash('sha256').update(bogus).digest('hex');
    for (const f of ['ctf-9.9.9.mpn', 'fft-9.9.9.mpn'])
      writeFileSync(join(forged, 'assets/plugins', f), bogus);
    const ts = JSON.parse(readFileSync(join(metaDir, 'timestamp.json'), 'utf8')).signed;
    const snapName = `${ts.meta['snapshot.json'].version}.snapshot.json`;
    const hubVersion = JSON.parse(readFileSync(join(metaDir, snapName), 'utf8')).signed.meta['hub.json']
      .version;
    const hub = forge(metaDir, `${hubVersion}.hub.json`, 'hub', keyFile('hub'), (s) => {
      for (const f of ['ctf-9.9.9.mpn', 'fft-9.9.9.mpn'])
        s.targets[`assets/plugins/${f}`] = { length: bogus.length, hashes: { sha256 } };
    });
    const snap = forge(metaDir, snapName, 'snapshot', keyFile('snapshot'), (s) => {
      s.meta['hub.json'].version = hub.version;
    });
    const snapBytes = readFileSync(snap.file);
    forge(metaDir, 'timestamp.json', 'timestamp', keyFile('timestamp'), (s) => {
      s.meta['snapshot.json'] = {
        version: snap.version,
        length: snapBytes.length,
        hashes: { sha256: createHash('sha256').update(snapBytes).digest('hex') },
      };
    });
    const server = await startNode(forged);
    try {
      const { updater } = client(undefined, server.url);
      await updater.refresh();
      // The hub role may list it, but plugin-ctf is terminating for ctf's archives and does not.
      expect(await updater.getTargetInfo('assets/plugins/ctf-9.9.9.mpn')).toBeUndefined();
      expect((await updater.getTargetInfo('assets/plugins/fft-9.9.9.mpn'))?.length).toBe(bogus.length);
    } finally {
      await server.close();
    }
  });

  it('refuses signed-targets.json re-signed with the hub key (below the author threshold)', async () => {
    const file = metadataFile(dist, 'plugin-ctf');
    const original = readFileSync(file);
    const j = JSON.parse(original.toString('utf8'));
    j.signatures = [];
    writeFileSync(file, JSON.stringify(j));
    signMetadataFile(file, keyFile('hub'));
    try {
      const { updater } = client();
      await updater.refresh();
      await expect(updater.getTargetInfo('assets/plugins/ctf-1.0.0.mpn')).rejects.toThrow(
        /plugin-ctf was signed by 0\/1 keys/,
      );
      // fft does not depend on the author's role.
      expect(await updater.getTargetInfo('assets/plugins/fft-1.0.0.mpn')).toBeDefined();
    } finally {
      writeFileSync(file, original);
    }
  });
});

describe('rotating an online key (hub keys rotate --role)', () => {
  async function restart(): Promise<void> {
    await node!.close();
    node = await startNode(dist);
  }

  it('timestamp: a client holding root v1 follows the new root and verifies; the old key is refused', async () => {
    const earlier = client();
    await earlier.updater.refresh();
    const rootBefore = version(join(earlier.metadataDir, 'root.json'));
    const rotated = rotateRoleKey(keys, 'timestamp');
    expect(rotated.root!.version).toBe(rootBefore + 1);
    expect(rotated.retired).toHaveLength(1);
    await build();
    await restart();
    const newRoot = JSON.parse(readFileSync(rotated.root!.path, 'utf8')).signed;
    expect(newRoot.roles.timestamp.keyids).toEqual([rotated.keyId]);
    // The client that trusted the previous root, and a new one pinned to 1.root.json, both follow.
    const again = client(earlier.metadataDir);
    await again.updater.refresh();
    expect(version(join(earlier.metadataDir, 'root.json'))).toBe(rotated.root!.version);
    const fresh = client();
    await fresh.updater.refresh();
    const doc = await download(fresh.updater, fresh.targetDir, 'v1/plugins/fft.json');
    expect(doc.equals(readFileSync(join(dist, 'v1/plugins/fft.json')))).toBe(true);

    // Whoever kept the old (compromised) timestamp key signs a newer timestamp: refused.
    const forged = join(scratch, 'forged-timestamp');
    cpSync(dist, forged, { recursive: true });
    const file = join(forged, 'tuf/metadata/timestamp.json');
    const j = JSON.parse(readFileSync(file, 'utf8'));
    j.signed.version += 1;
    j.signatures = [];
    writeFileSync(file, JSON.stringify(j));
    signMetadataFile(file, rotated.retired[0]!);
    const server = await startNode(forged);
    try {
      const held = client(earlier.metadataDir, server.url);
      await expect(held.updater.refresh()).rejects.toThrow(/timestamp was signed by 0\/1 keys/);
      const pinned = client(undefined, server.url);
      await expect(pinned.updater.refresh()).rejects.toThrow(/timestamp was signed by 0\/1 keys/);
    } finally {
      await server.close();
    }
  });

  it('hub: the next build needs the targets key; with it, a client verifies through the new hub key', async () => {
    const rotated = rotateRoleKey(keys, 'hub');
    expect(rotated.root).toBeUndefined();
    const targetsKey = keyFile('targets');
    const aside = join(scratch, 'targets-offline.key.json');
    const before = readFileSync(join(dist, 'tuf/metadata/timestamp.json'));
    cpSync(targetsKey, aside);
    rmSync(targetsKey);
    try {
      await expect(build()).rejects.toThrow(/tuf\.no-key.*the delegations change: this build changes hub/);
      expect(readFileSync(join(dist, 'tuf/metadata/timestamp.json')).equals(before)).toBe(true);
    } finally {
      cpSync(aside, targetsKey);
    }
    await build();
    await restart();
    const meta = join(dist, 'tuf/metadata');
    const v = version(join(meta, 'timestamp.json'));
    const top = JSON.parse(readFileSync(join(meta, `${v}.targets.json`), 'utf8')).signed;
    expect(top.delegations.roles.find((r: { name: string }) => r.name === 'hub').keyids).toEqual([
      rotated.keyId,
    ]);
    const { updater, targetDir } = client();
    await updater.refresh();
    const doc = await download(updater, targetDir, 'v1/plugins/fft.json');
    expect(doc.equals(readFileSync(join(dist, 'v1/plugins/fft.json')))).toBe(true);

    // A hub role signed by the old hub key (after the rotation) is refused.
    const file = join(meta, `${v}.hub.json`);
    const original = readFileSync(file);
    const j = JSON.parse(original.toString('utf8'));
    j.signatures = [];
    writeFileSync(file, JSON.stringify(j));
    signMetadataFile(file, rotated.retired[0]!);
    try {
      const other = client();
      await other.updater.refresh();
      await expect(other.updater.getTargetInfo('v1/plugins/fft.json')).rejects.toThrow(
        /hub was signed by 0\/1 keys/,
      );
    } finally {
      writeFileSync(file, original);
    }
  });
});
