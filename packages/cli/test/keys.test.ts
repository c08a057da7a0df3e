// `hub keys` and `hub build --tuf-keys` as a user runs them: the real bin, a temp keys dir, the
// repo catalog. What a TUF client makes of the result is in functions/test/tuf.test.ts.
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubBinTargets } from '../../../functions/test/harness';
import { REPO_ROOT, runHub } from './run-hub';

let scratch: string;
let keys: string;
const signed = (file: string) =>
  JSON.parse(readFileSync(file, 'utf8')) as {
    signed: {
      version: number;
      expires: string;
      roles: Record<string, { keyids: string[]; threshold: number }>;
    };
    signatures: Array<{ keyid: string }>;
  };
const snapshotOf = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => [f, existsSync(join(dir, f))]),
  );

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'hub-keys-test-'));
  keys = join(scratch, 'keys');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('hub keys', () => {
  it('generates one key per role (2 root keys, threshold 2) and a signed 1.root.json', () => {
    const r = runHub(['keys', 'generate', '--dir', keys, '--root-keys', '2', '--root-threshold', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/root\s+[0-9a-f]{64} [0-9a-f]{64}\n/);
    expect(r.stdout).toMatch(/timestamp\s+[0-9a-f]{64}\n/);
    expect(r.stdout).toMatch(/hub\s+[0-9a-f]{64}\n/);
    const root = signed(join(keys, 'root', '1.root.json'));
    expect(root.signed.roles.root).toEqual({ keyids: expect.any(Array), threshold: 2 });
    expect(root.signatures.map((s) => s.keyid).sort()).toEqual([...root.signed.roles.root!.keyids].sort());
    expect(readdirSync(keys).filter((f) => f.endsWith('.key.json'))).toHaveLength(6);
    // The hub role's key is not in the root: top-level targets delegates to it.
    const all = Object.values(root.signed.roles).flatMap((r) => r.keyids);
    const hubKey = readdirSync(keys).find((f) => f.startsWith('hub-'))!;
    expect(all.some((id) => hubKey.startsWith(`hub-${id.slice(0, 16)}`))).toBe(false);
  });

  it('adds a hub key to a keys dir made without one, and only one', () => {
    const old = join(scratch, 'old-keys');
    mkdirSync(old, { mode: 0o700 });
    const r = runHub(['keys', 'generate', '--dir', old, '--role', 'hub']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(old).filter((f) => /^hub-[0-9a-f]{16}\.key\.json$/.test(f))).toHaveLength(1);
    const again = runHub(['keys', 'generate', '--dir', old, '--role', 'hub']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds a hub key');
    expect(runHub(['keys', 'generate', '--dir', old, '--role', 'targets']).code).toBe(2);
  });

  it('refuses to generate over existing keys, leaving them as they were', () => {
    const before = snapshotOf(keys);
    const root = readFileSync(join(keys, 'root', '1.root.json'));
    const r = runHub(['keys', 'generate', '--dir', keys]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tuf.keys-exist');
    expect(snapshotOf(keys)).toEqual(before);
    expect(readFileSync(join(keys, 'root', '1.root.json')).equals(root)).toBe(true);
  });

  it('refuses a keys dir others can read', () => {
    const open = join(scratch, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    const r = runHub(['keys', 'generate', '--dir', open]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('chmod 700');
    expect(readdirSync(open)).toEqual([]);
  });

  it('rotates the root: version 2 signed by the old threshold and every new key', () => {
    expect(runHub(['keys', 'rotate', '--dir', keys]).code).toBe(2);
    const old = signed(join(keys, 'root', '1.root.json')).signed.roles.root!.keyids;
    const r = runHub([
      'keys',
      'rotate',
      '--dir',
      keys,
      '--role',
      'root',
      '--root-keys',
      '1',
      '--root-threshold',
      '1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const next = signed(join(keys, 'root', '2.root.json'));
    expect(next.signed.version).toBe(2);
    const fresh = next.signed.roles.root!.keyids;
    expect(fresh).toHaveLength(1);
    expect(fresh.some((id) => old.includes(id))).toBe(false);
    expect(next.signatures.map((s) => s.keyid).sort()).toEqual([...old, ...fresh].sort());
  });

  it('refuses to rotate without the threshold of current root keys', () => {
    const current = signed(join(keys, 'root', '2.root.json')).signed.roles.root!.keyids[0]!;
    const file = join(keys, `root-${current.slice(0, 16)}.key.json`);
    renameSync(file, join(scratch, 'offline.key.json'));
    try {
      const r = runHub(['keys', 'rotate', '--dir', keys, '--role', 'root']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('tuf.below-threshold');
      expect(existsSync(join(keys, 'root', '3.root.json'))).toBe(false);
    } finally {
      renameSync(join(scratch, 'offline.key.json'), file);
    }
  });

  it('signs a metadata file in place with one more key', () => {
    const file = join(scratch, 'copy.root.json');
    const before = readFileSync(join(keys, 'root', '2.root.json'));
    writeFileSync(file, before);
    const key = readdirSync(keys).find((f) => f.startsWith('targets-'))!;
    const r = runHub(['keys', 'sign', file, '--key', join(keys, key)]);
    expect(r.code, r.stderr).toBe(0);
    expect(signed(file).signatures).toHaveLength(
      signed(join(keys, 'root', '2.root.json')).signatures.length + 1,
    );
    expect(runHub(['keys', 'sign', file, '--key', join(scratch, 'nope.json')]).code).toBe(1);
  });
});

describe('hub build --tuf-keys', () => {
  it('signs a build with the online keys alone (root keys offline), versions increasing build to build', () => {
    const online = join(scratch, 'online');
    mkdirSync(online, { mode: 0o700 });
    mkdirSync(join(online, 'root'));
    for (const f of readdirSync(join(keys, 'root')))
      copyFileSync(join(keys, 'root', f), join(online, 'root', f));
    for (const f of readdirSync(keys).filter((n) => /^(targets|snapshot|timestamp|hub)-/.test(n)))
      copyFileSync(join(keys, f), join(online, f));
    const out = join(scratch, 'dist');
    const first = runHub(['build', 'catalog', '--out', out, '--tuf-keys', online]);
    expect(first.code, first.stderr).toBe(0);
    const meta = join(out, 'tuf', 'metadata');
    // The repo catalog's few targets fit in two hash bins of the hub role.
    expect(readdirSync(meta).sort()).toEqual([
      '1.hub-bin-0.json',
      '1.hub-bin-1.json',
      '1.hub.json',
      '1.root.json',
      '1.snapshot.json',
      '1.targets.json',
      '2.root.json',
      'root.json',
      'timestamp.json',
    ]);
    // Top-level targets only delegates (to hub: the repo catalog has no author-signed plugin).
    const top = JSON.parse(readFileSync(join(meta, '1.targets.json'), 'utf8')).signed;
    expect(top.targets).toEqual({});
    expect(top.delegations.roles.map((r: { name: string }) => r.name)).toEqual(['hub']);
    expect((Date.parse(top.expires) - Date.now()) / 86400_000).toBeGreaterThan(364);
    const targets = Object.fromEntries(
      [...hubBinTargets(meta)].map(([path, { target }]) => [path, target as { length: number }]),
    );
    expect(targets['v1/plugins/ctf.json']!.length).toBe(
      readFileSync(join(out, 'v1/plugins/ctf.json')).length,
    );
    expect(Object.keys(targets).some((p) => p.startsWith('assets/plugins/'))).toBe(true);
    expect(Object.keys(targets).some((p) => p === 'v1/index.json')).toBe(false);
    // The targets key goes offline: the next builds reuse 1.targets.json as it is.
    const targetsKey = readdirSync(online).find((f) => f.startsWith('targets-'))!;
    renameSync(join(online, targetsKey), join(scratch, targetsKey));
    const firstTargets = readFileSync(join(meta, '1.targets.json'));
    const second = runHub(['build', 'catalog', '--out', out, '--tuf-expiry', 'timestamp=2'], undefined, {
      HUB_TUF_KEYS: online,
    });
    expect(second.code, second.stderr).toBe(0);
    const ts = signed(join(meta, 'timestamp.json')).signed;
    expect(ts.version).toBe(2);
    expect(readdirSync(meta).filter((f) => f.endsWith('.targets.json'))).toEqual(['1.targets.json']);
    expect(readFileSync(join(meta, '1.targets.json')).equals(firstTargets)).toBe(true);
    expect(JSON.parse(readFileSync(join(meta, '2.snapshot.json'), 'utf8')).signed.meta).toEqual({
      'targets.json': { version: 1 },
      'hub.json': { version: 2 },
      'hub-bin-0.json': { version: 2 },
      'hub-bin-1.json': { version: 2 },
    });
    // An explicit --previous without metadata is refused, not silently restarted at 1.
    const typo = runHub([
      'build',
      'catalog',
      '--out',
      out,
      '--tuf-keys',
      online,
      '--previous',
      join(scratch, 'nope'),
    ]);
    expect(typo.code).toBe(1);
    expect(typo.stdout + typo.stderr).toContain('the previous build has no');
    expect(signed(join(meta, 'timestamp.json')).signed.version).toBe(2);
    const third = runHub([
      'build',
      'catalog',
      '--out',
      join(scratch, 'dist2'),
      '--tuf-keys',
      online,
      '--previous',
      out,
    ]);
    expect(third.code, third.stderr).toBe(0);
    expect(signed(join(scratch, 'dist2', 'tuf', 'metadata', 'timestamp.json')).signed.version).toBe(3);
    expect(
      readFileSync(join(scratch, 'dist2', 'tuf', 'metadata', '1.targets.json')).equals(firstTargets),
    ).toBe(true);
    const days = (Date.parse(ts.expires) - Date.now()) / 86400_000;
    expect(days).toBeGreaterThan(1.9);
    expect(days).toBeLessThan(2.1);
  });

  it('refuses a keys dir without the online keys, leaving the previous build as it was', () => {
    const partial = join(scratch, 'partial');
    mkdirSync(partial, { mode: 0o700 });
    cpSync(join(keys, 'root'), join(partial, 'root'), { recursive: true });
    const out = join(scratch, 'dist');
    const before = readFileSync(join(out, 'tuf', 'metadata', 'timestamp.json'));
    const r = runHub(['build', 'catalog', '--out', out, '--tuf-keys', partial]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('tuf.no-key');
    expect(readFileSync(join(out, 'tuf', 'metadata', 'timestamp.json')).equals(before)).toBe(true);
    expect(
      runHub(['build', 'catalog', '--out', out, '--tuf-keys', partial, '--tuf-expiry', 'root=3']).code,
    ).toBe(2);
  });
});

describe('author signing with hub keys generate --author, sign-plugin and hub build', () => {
  it('refuses an unsigned version, then signs the delegation only where the targets key is', () => {
    const online = join(scratch, 'online');
    const out = join(scratch, 'dist');
    const catalog = join(scratch, 'author-catalog');
    cpSync(join(REPO_ROOT, 'catalog'), catalog, { recursive: true });
    const authorDir = join(scratch, 'author');
    const made = runHub(['keys', 'generate', '--dir', authorDir, '--author']);
    expect(made.code, made.stderr).toBe(0);
    const block = /^signing:\n(?: {2}.*\n?)+/m.exec(made.stdout)?.[0];
    expect(block).toMatch(/threshold: 1\n {2}keys:\n {4}- keyid: [0-9a-f]{64}\n {6}public: [0-9a-f]{64}/);
    const authorKey = join(authorDir, readdirSync(authorDir).find((f) => f.startsWith('author-'))!);
    writeFileSync(
      join(catalog, 'plugins/fft/owners.yaml'),
      `${readFileSync(join(catalog, 'plugins/fft/owners.yaml'), 'utf8')}${block!.trimEnd()}\n`,
    );
    const before = readFileSync(join(out, 'tuf', 'metadata', 'timestamp.json'));
    const unsigned = runHub(['build', catalog, '--out', out, '--tuf-keys', online]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stdout + unsigned.stderr).toContain('catalog.unsigned-version');

    const sign = runHub(['keys', 'sign-plugin', catalog, 'fft', '--key', authorKey]);
    expect(sign.code, sign.stderr).toBe(0);
    const role = JSON.parse(readFileSync(join(catalog, 'plugins/fft/signed-targets.json'), 'utf8'));
    expect(role.signed.version).toBe(1);
    expect(Object.keys(role.signed.targets).sort()).toEqual([
      'assets/plugins/fft-1.0.0.mpn',
      'assets/plugins/fft-1.1.0.mpn',
      'assets/plugins/fft-1.2.0-rc.1.mpn',
    ]);
    // A new delegation needs the (offline) targets key: refused, the previous build untouched.
    const noKey = runHub(['build', catalog, '--out', out, '--tuf-keys', online]);
    expect(noKey.code).toBe(1);
    expect(noKey.stdout + noKey.stderr).toContain('tuf.no-key');
    expect(noKey.stdout + noKey.stderr).toContain('adds plugin-fft');
    expect(readFileSync(join(out, 'tuf', 'metadata', 'timestamp.json')).equals(before)).toBe(true);
    // Where the targets key is, the build signs the new top-level targets.
    const full = runHub(['build', catalog, '--out', out, '--tuf-keys', keys]);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const meta = join(out, 'tuf', 'metadata');
    const v = signed(join(meta, 'timestamp.json')).signed.version;
    const top = JSON.parse(readFileSync(join(meta, `${v}.targets.json`), 'utf8')).signed;
    expect(top.delegations.roles.map((r: { name: string }) => r.name)).toEqual(['plugin-fft', 'hub']);
    expect(
      readFileSync(join(meta, '1.plugin-fft.json')).equals(
        readFileSync(join(catalog, 'plugins/fft/signed-targets.json')),
      ),
    ).toBe(true);
    // And the online keys alone carry on from there.
    const again = runHub(['build', catalog, '--out', out, '--tuf-keys', online]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(signed(join(meta, 'timestamp.json')).signed.version).toBe(v + 1);
  });
});

describe('hub keys rotate --role snapshot|timestamp|targets|hub', () => {
  let dir: string;
  let out: string;
  const keyFiles = () => readdirSync(dir).filter((f) => f.endsWith('.key.json'));
  const keyOf = (role: string) => keyFiles().find((f) => f.startsWith(`${role}-`))!;
  const latest = () => signed(join(dir, 'root', `${readdirSync(join(dir, 'root')).length}.root.json`));
  beforeAll(() => {
    dir = join(scratch, 'rotate-keys');
    out = join(scratch, 'rotate-dist');
    expect(runHub(['keys', 'generate', '--dir', dir]).code).toBe(0);
    const first = runHub(['build', 'catalog', '--out', out, '--tuf-keys', dir]);
    expect(first.code, first.stderr).toBe(0);
  });

  it('refuses to rotate without the current root keys in the dir, writing nothing', () => {
    const rootKey = keyOf('root');
    renameSync(join(dir, rootKey), join(scratch, rootKey));
    try {
      const before = snapshotOf(dir);
      const r = runHub(['keys', 'rotate', '--dir', dir, '--role', 'timestamp']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('tuf.below-threshold');
      expect(r.stderr).toContain('rotation needs 1 of the current root keys');
      expect(snapshotOf(dir)).toEqual(before);
    } finally {
      renameSync(join(scratch, rootKey), join(dir, rootKey));
    }
    expect(runHub(['keys', 'rotate', '--dir', dir, '--role', 'nope']).code).toBe(2);
    expect(runHub(['keys', 'rotate', '--dir', dir, '--role', 'hub', '--root-keys', '2']).code).toBe(2);
  });

  it('rotates timestamp: root v2 names the new key, the old file is retired, the build signs with the new one', () => {
    const oldFile = keyOf('timestamp');
    const oldId = signed(join(dir, 'root', '1.root.json')).signed.roles.timestamp!.keyids[0]!;
    const r = runHub(['keys', 'rotate', '--dir', dir, '--role', 'timestamp']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('root version 2 written');
    expect(r.stdout).toMatch(/Next:\n {2}- publish root version 2/);
    const root = latest();
    expect(root.signed.version).toBe(2);
    const newId = root.signed.roles.timestamp!.keyids[0]!;
    expect(root.signed.roles.timestamp!.keyids).toEqual([newId]);
    expect(newId).not.toBe(oldId);
    expect(Object.keys((root.signed as unknown as { keys: object }).keys)).not.toContain(oldId);
    expect(root.signatures.map((s) => s.keyid)).toEqual(
      signed(join(dir, 'root', '1.root.json')).signed.roles.root!.keyids,
    );
    expect(keyOf('timestamp')).toBe(`timestamp-${newId.slice(0, 16)}.key.json`);
    expect(existsSync(join(dir, 'retired', oldFile))).toBe(true);
    const built = runHub(['build', 'catalog', '--out', out, '--tuf-keys', dir]);
    expect(built.code, built.stderr).toBe(0);
    const meta = join(out, 'tuf', 'metadata');
    expect(signed(join(meta, 'timestamp.json')).signatures.map((s) => s.keyid)).toEqual([newId]);
    expect(readFileSync(join(meta, 'root.json')).equals(readFileSync(join(dir, 'root', '2.root.json')))).toBe(
      true,
    );
    // Other roles' keys stay: the targets of the first build are reused.
    expect(readdirSync(meta).filter((f) => f.endsWith('.targets.json'))).toEqual(['1.targets.json']);
  });

  it('rotates hub: the next build needs the targets key (the hub delegation changes), then names the new key', () => {
    const oldFile = keyOf('hub');
    const r = runHub(['keys', 'rotate', '--dir', dir, '--role', 'hub']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('where the targets key is');
    expect(existsSync(join(dir, 'root', '3.root.json'))).toBe(false);
    expect(existsSync(join(dir, 'retired', oldFile))).toBe(true);
    const newFile = keyOf('hub');
    expect(newFile).not.toBe(oldFile);
    const meta = join(out, 'tuf', 'metadata');
    const before = readFileSync(join(meta, 'timestamp.json'));
    const targetsKey = keyOf('targets');
    renameSync(join(dir, targetsKey), join(scratch, targetsKey));
    try {
      const noKey = runHub(['build', 'catalog', '--out', out, '--tuf-keys', dir]);
      expect(noKey.code).toBe(1);
      expect(noKey.stdout + noKey.stderr).toContain('tuf.no-key');
      expect(noKey.stdout + noKey.stderr).toContain('changes hub');
      expect(readFileSync(join(meta, 'timestamp.json')).equals(before)).toBe(true);
    } finally {
      renameSync(join(scratch, targetsKey), join(dir, targetsKey));
    }
    const full = runHub(['build', 'catalog', '--out', out, '--tuf-keys', dir]);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const v = signed(join(meta, 'timestamp.json')).signed.version;
    const top = JSON.parse(readFileSync(join(meta, `${v}.targets.json`), 'utf8')).signed;
    const hubKeyId: string = top.delegations.roles.at(-1).keyids[0];
    expect(newFile).toBe(`hub-${hubKeyId.slice(0, 16)}.key.json`);
    expect(signed(join(meta, `${v}.hub.json`)).signatures.map((s) => s.keyid)).toEqual([hubKeyId]);
  });

  it('rotates targets: root v3 names the new targets key, and the next build signs top-level targets with it', () => {
    const r = runHub(['keys', 'rotate', '--dir', dir, '--role', 'targets']);
    expect(r.code, r.stderr).toBe(0);
    const root = latest();
    expect(root.signed.version).toBe(3);
    const newId = root.signed.roles.targets!.keyids[0]!;
    expect(keyOf('targets')).toBe(`targets-${newId.slice(0, 16)}.key.json`);
    const built = runHub(['build', 'catalog', '--out', out, '--tuf-keys', dir]);
    expect(built.code, built.stdout + built.stderr).toBe(0);
    const meta = join(out, 'tuf', 'metadata');
    const v = signed(join(meta, 'timestamp.json')).signed.version;
    expect(signed(join(meta, `${v}.targets.json`)).signatures.map((s) => s.keyid)).toEqual([newId]);
  });
});
