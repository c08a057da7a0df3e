// TUF benchmark: what signed metadata costs a hub built from the generated catalog (200 plugins × 5
// versions by default, each version with a real small archive under assets/, so every archive is a
// target), and how that cost grows with the number of targets.
//   npm run bench:tuf    (BENCH_PLUGINS / BENCH_VERSIONS / BENCH_ROUNDS / BENCH_TUF_INSTALLS change it)
// 1. Metadata size: every file `hub build --tuf-keys` writes under tuf/metadata/ (whatever roles the
//    build has), raw (as the API serves it: uncompressed) and as gzip / brotli would make it; and the
//    metadata bytes a client downloads on a cold first install and on a warm one.
// 2. Build cost: `hub build` into a fresh output dir with and without --tuf-keys, whole processes,
//    median of interleaved rounds, on the catalog as `npm run bench` builds it (archives at https
//    URLs: a hub with archives spends most of a build checking and copying them, which would drown
//    the signing; its targets are then one document per plugin); and the signing step alone
//    (writeTufRepository) for the hub above's targets, in this process. Then signing and a
//    client's reading of targets.json for 500, 1,000, 2,000 synthetic targets (BENCH_TUF_SCALE).
// 3. Verification per install against `hub serve` of the signed build on 127.0.0.1: a tuf-js Updater
//    (cold: only the pinned root; warm: the metadata dir of an earlier install, timestamp unchanged)
//    doing refresh + getTargetInfo + downloadTarget of a random plugin's archive, against the
//    unsigned path CoreService took before (its plugin document, the archive, sha256 compared),
//    interleaved per install. The server is stopped by its PID.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
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
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';
import { type ArchiveRef, entryFacts, generateCatalog } from '@magellon/hub-core/test-support';
import { Metadata, MetadataKind } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { ZipFile } from 'yazl';
import { freePort } from '../coreservice/src/runtime/process';
import { archiveFileName } from '../packages/core/src';
import { TUF_METADATA_DIR } from '../packages/core/src/layout';
import { generateTufKeys, type TufTarget, writeTufRepository } from '../packages/core/src/node';
import { readArchive, readZipEntry } from '../packages/core/src/node/zip';
import { useNativeCrc32ForYazl } from '../packages/core/src/node/zip/yazl-native-crc';
import { load } from './load';

// The 5,000 × 5 hub of the other benchmarks. The hub role spreads its targets over hash bins
// (~128 each): @tufjs/models turns a targets file into and out of JSON with an object spread per
// target (quadratic: one flat file of 8,000 targets took 190 s to sign here), so no file may list
// many; the scaling line below shows what bins make of growth.
const PLUGINS = Number(process.env.BENCH_PLUGINS ?? 5000);
const VERSIONS = Number(process.env.BENCH_VERSIONS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const INSTALLS = Number(process.env.BENCH_TUF_INSTALLS ?? 9);
/** Target counts of the scaling line (each doubling). */
const SCALE = (process.env.BENCH_TUF_SCALE ?? '7500,15000,30000,60000').split(',').map(Number);
const REPO = join(import.meta.dirname, '..');
const HUB = join(REPO, 'packages', 'cli', 'bin', 'hub.js');
/** The archive every generated one is made from (only its identity fields change). */
const TEMPLATE = join(REPO, 'catalog', 'assets', 'plugins', 'fft-1.0.0.mpn');
/** Files of the template left out (and out of its file_checksums) to keep 25,000 archives small. */
const LEFT_OUT = /^(tests\/|README\.md$|magellon_runtime\.py$|magellon_inputs\.py$)/;

if (!existsSync(join(REPO, 'packages', 'cli', 'dist', 'main.js'))) {
  console.error('build the CLI first: npm run build:cli');
  process.exit(1);
}

/** The top-level role files; any other file under tuf/metadata/ is a delegated role's. */
const TOP_LEVEL = /^(?:[0-9]+\.)?(?:root|snapshot|targets|timestamp)\.json$/;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const gz = (b: Buffer) => gzipSync(b, { level: 9 }).length;
const br = (b: Buffer) => brotliCompressSync(b, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }).length;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A small deterministic generator, so two runs pick the same plugins. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The template's files, manifest.yaml excepted, and its manifest without the files left out. */
async function readTemplate(): Promise<{ files: Array<[string, Buffer]>; manifest: string }> {
  const files: Array<[string, Buffer]> = [];
  let manifest = '';
  for (const d of (await readArchive(TEMPLATE)).digests) {
    if (LEFT_OUT.test(d.name) || d.name === 'plugin.yaml') continue;
    const data = await readZipEntry(TEMPLATE, d.name, 1 << 20);
    if (d.name === 'manifest.yaml') manifest = data.toString('utf8');
    else files.push([d.name, data]);
  }
  manifest = manifest
    .split('\n')
    .filter((line) => !LEFT_OUT.test(line.trim().split(':')[0] ?? ''))
    .join('\n');
  return { files, manifest };
}

function zipBytes(entries: Array<[string, Buffer]>): Promise<Buffer> {
  const zip = new ZipFile();
  const mtime = new Date(Date.UTC(2025, 2, 10, 9));
  for (const [name, data] of entries)
    zip.addBuffer(data, name, { mtime, mode: 0o100644, compressionLevel: 1 });
  zip.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

/** One archive per entry (the template with that entry's identity), written under assets/plugins/. */
async function writeArchives(catalog: string): Promise<Map<string, ArchiveRef>> {
  useNativeCrc32ForYazl();
  const { files, manifest } = await readTemplate();
  const dir = join(catalog, 'assets', 'plugins');
  mkdirSync(dir, { recursive: true });
  const refs = new Map<string, ArchiveRef>();
  for (let p = 0; p < PLUGINS; p++) {
    for (let v = 0; v < VERSIONS; v++) {
      const f = entryFacts(p, v, VERSIONS);
      const text = manifest
        .replace(/^plugin_id: .*$/m, `plugin_id: ${f.plugin_id}`)
        .replace(/^archive_id: .*$/m, `archive_id: ${f.archive_id}`)
        .replace(/^version: .*$/m, `version: ${f.version}`)
        .replace(/^requires_sdk: .*$/m, `requires_sdk: "${f.requires_sdk}"`)
        .replace(/^category: .*$/m, `category: ${f.category}`);
      const m = Buffer.from(text);
      const bytes = await zipBytes([...files, ['manifest.yaml', m], ['plugin.yaml', m]]);
      const name = archiveFileName(f.plugin_id, f.version);
      writeFileSync(join(dir, name), bytes);
      refs.set(`${p}/${v}`, {
        url: `/assets/plugins/${name}`,
        sha256: sha256(bytes),
        size_bytes: bytes.length,
      });
    }
  }
  return refs;
}

function hubBuild(catalog: string, out: string, extra: string[] = []): number {
  rmSync(out, { recursive: true, force: true });
  const t = performance.now();
  const r = spawnSync(process.execPath, [HUB, 'build', catalog, '--out', out, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`hub build ${extra.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** Every metadata file a client holds (tuf-js keeps one file per role it loaded), by name. */
function snapshotDir(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name))]));
}

const work = mkdtempSync(join(tmpdir(), 'hub-bench-tuf-'));
let server: ChildProcess | undefined;
try {
  // The hub: the generated catalog, each version with its own archive under assets/ (untimed).
  const catalog = join(work, 'catalog');
  const t = performance.now();
  const refs = await writeArchives(catalog);
  const entries = generateCatalog(catalog, PLUGINS, VERSIONS, (p, v) => refs.get(`${p}/${v}`)!);
  console.log(
    `generated ${entries} entries (${PLUGINS} plugins × ${VERSIONS} versions), each with its own archive (${kib(refs.get('0/0')!.size_bytes)}), in ${((performance.now() - t) / 1000).toFixed(0)} s · ${load()}`,
  );
  const keys = join(work, 'keys');
  generateTufKeys(keys);
  const signed = join(work, 'dist-tuf');
  const signedMs = hubBuild(catalog, signed, ['--tuf-keys', keys]);
  console.log(
    `hub build --tuf-keys of it (every archive checked and copied): ${(signedMs / 1000).toFixed(1)} s · ${load()}`,
  );

  // 1. Metadata size: every file under tuf/metadata/.
  const metaDir = join(signed, TUF_METADATA_DIR);
  const names = readdirSync(metaDir).sort();
  let total = 0;
  console.log(
    `\nmetadata under ${TUF_METADATA_DIR}/ (served uncompressed; gzip -9 and brotli 11 shown for reference):`,
  );
  const binSizes: number[] = [];
  for (const name of names) {
    const bytes = readFileSync(join(metaDir, name));
    total += bytes.length;
    // The hub role's hash bins are summed up below, not listed one by one.
    if (/\.hub-bin-[0-9a-f]+\.json$/.test(name)) {
      binSizes.push(bytes.length);
      continue;
    }
    console.log(
      `  ${name.padEnd(24)} ${kib(bytes.length).padStart(12)}  gzip ${kib(gz(bytes)).padStart(11)}  br ${kib(br(bytes)).padStart(11)}`,
    );
  }
  if (binSizes.length > 0) {
    const sorted = [...binSizes].sort((a, b) => a - b);
    console.log(
      `  ${`${binSizes.length} hub-bin files`.padEnd(24)} ${kib(binSizes.reduce((a, b) => a + b, 0)).padStart(12)}  each ${kib(sorted[0]!)}–${kib(sorted.at(-1)!)} (median ${kib(median(sorted))}); a client fetches only the bins its targets fall in`,
    );
  }
  const targets: TufTarget[] = [];
  for (const name of names.filter((n) => n.endsWith('targets.json') || !TOP_LEVEL.test(n))) {
    const signedPart = JSON.parse(readFileSync(join(metaDir, name), 'utf8')).signed as {
      targets?: Record<string, { length: number; hashes: { sha256: string } }>;
    };
    for (const [path, f] of Object.entries(signedPart.targets ?? {}))
      targets.push({ path, length: f.length, sha256: f.hashes.sha256 });
  }
  console.log(`  ${names.length} files, ${kib(total)} in all; ${targets.length} targets · ${load()}`);

  // 2. Build cost. Whole processes on the catalog as `npm run bench` builds it (archives at https
  // URLs, only checked by hub verify, so a build's time is its own), fresh output dir each time
  // (a signed build always writes afresh); its targets are the plugin documents.
  const cdn = join(work, 'catalog-cdn');
  generateCatalog(cdn, PLUGINS, VERSIONS);
  const plain = join(work, 'dist-plain');
  const cdnSigned = join(work, 'dist-cdn-tuf');
  const builds = { plain: [] as number[], signed: [] as number[], sign: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    builds.plain.push(hubBuild(cdn, plain));
    builds.signed.push(hubBuild(cdn, cdnSigned, ['--tuf-keys', keys]));
    // The signing step alone for the hub above (every archive a target), in this process.
    const out = join(work, `sign-${r}`);
    const t0 = performance.now();
    writeTufRepository(out, targets, { keysDir: keys });
    builds.sign.push(performance.now() - t0);
    rmSync(out, { recursive: true, force: true });
    console.log(
      `build round ${r + 1}: hub build ${(builds.plain.at(-1)! / 1000).toFixed(2)} s · with --tuf-keys ${(builds.signed.at(-1)! / 1000).toFixed(2)} s · signing ${targets.length} targets alone ${(builds.sign.at(-1)! / 1000).toFixed(2)} s · ${load()}`,
    );
  }
  const [bPlain, bSigned, bSign] = [median(builds.plain), median(builds.signed), median(builds.sign)];
  // The targets are in the hash bins of the online `hub` role; top-level targets.json only delegates.
  const cdnTargets = readdirSync(join(cdnSigned, TUF_METADATA_DIR))
    .filter((n) => /\.hub-bin-[0-9a-f]+\.json$/.test(n))
    .reduce(
      (sum, n) =>
        sum +
        Object.keys(JSON.parse(readFileSync(join(cdnSigned, TUF_METADATA_DIR, n), 'utf8')).signed.targets)
          .length,
      0,
    );
  console.log(
    `\nhub build of ${entries} entries (archives on a CDN), median of ${ROUNDS}: ${(bPlain / 1000).toFixed(2)} s, with --tuf-keys (${cdnTargets} targets) ${(bSigned / 1000).toFixed(2)} s → ${(bSigned / bPlain).toFixed(2)}× (+${((bSigned - bPlain) / 1000).toFixed(2)} s) · ${load()}` +
      `\nsigning the ${targets.length} targets of the hub with archives: ${(bSign / 1000).toFixed(2)} s, ${(bSign / bPlain).toFixed(2)}× that plain build · ${load()}`,
  );

  // How signing (hub build) and reading (every client, cold or warm) grow with the target count.
  console.log('\nscaling with the number of targets (synthetic archive targets, in this process):');
  const scale: Array<{ n: number; sign: number; read: number }> = [];
  for (const n of SCALE) {
    const synthetic = Array.from({ length: n }, (_, i) => ({
      path: `assets/plugins/scale-${i}-1.0.0.mpn`,
      length: 10_000 + i,
      sha256: sha256(Buffer.from(String(i))),
    }));
    const out = join(work, `scale-${n}`);
    let t0 = performance.now();
    const { version } = writeTufRepository(out, synthetic, { keysDir: keys });
    const sign = performance.now() - t0;
    // What a client parses to find one target: the hub role and the largest of its bins.
    const dir = join(out, TUF_METADATA_DIR);
    const bins = readdirSync(dir).filter((f) => /\.hub-bin-[0-9a-f]+\.json$/.test(f));
    const largest = bins
      .map((f) => readFileSync(join(dir, f)))
      .reduce((a, b) => (b.length > a.length ? b : a));
    const hub = readFileSync(join(dir, `${version}.hub.json`));
    t0 = performance.now();
    Metadata.fromJSON(MetadataKind.Targets, JSON.parse(hub.toString('utf8')));
    Metadata.fromJSON(MetadataKind.Targets, JSON.parse(largest.toString('utf8')));
    const read = performance.now() - t0;
    rmSync(out, { recursive: true, force: true });
    const prev = scale.at(-1);
    scale.push({ n, sign, read });
    console.log(
      `  ${String(n).padStart(6)} targets in ${bins.length} bins: sign ${(sign / 1000).toFixed(2)} s · a client parses hub.json + the largest bin (${kib(largest.length)}) in ${read.toFixed(1)} ms${prev ? ` (sign ×${(sign / prev.sign).toFixed(1)} for ×${(n / prev.n).toFixed(0)} targets)` : ''} · ${load()}`,
    );
  }

  // 3. Verification per install, against hub serve of the signed build.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  server = spawn(
    process.execPath,
    [HUB, 'serve', '--build', signed, '--host', '127.0.0.1', '--port', String(port), '--workers', '1'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  const pinned = join(keys, 'root', '1.root.json');
  let clients = 0;
  const newClient = (metadataDir?: string) => {
    const base = join(work, `client-${++clients}`);
    const targetDir = join(base, 'targets');
    mkdirSync(targetDir, { recursive: true });
    if (!metadataDir) {
      metadataDir = join(base, 'metadata');
      mkdirSync(metadataDir);
      copyFileSync(pinned, join(metadataDir, 'root.json'));
    }
    const updater = new Updater({
      metadataDir,
      metadataBaseUrl: `${url}/tuf/metadata`,
      targetDir,
      targetBaseUrl: `${url}/`,
      config: { prefixTargetsWithHash: false, fetchRetries: 0 },
    });
    return { updater, metadataDir, targetDir, base };
  };
  /** What CoreService does with a verified registry: refresh, the plugin document and its archive, each a verified target. */
  const tufInstall = async (c: ReturnType<typeof newClient>, path: string) => {
    const t0 = performance.now();
    await c.updater.refresh();
    const id = /^assets\/plugins\/(.+)-[0-9]+\.[0-9]+\.[0-9]+.*\.mpn$/.exec(path)![1]!;
    for (const [target, file] of [
      [`v1/plugins/${id}.json`, 'doc.json'],
      [path, 'archive.mpn'],
    ] as const) {
      const info = await c.updater.getTargetInfo(target);
      if (!info) throw new Error(`no target ${target}`);
      await c.updater.downloadTarget(info, join(c.targetDir, file));
    }
    return performance.now() - t0;
  };
  /** The unsigned path: the plugin document, the archive it names, its sha256 compared. */
  const unsignedInstall = async (id: string, version: string) => {
    const dir = mkdtempSync(join(work, 'ref-'));
    const t0 = performance.now();
    const doc = (await (await fetch(`${url}/v1/plugins/${id}.json`)).json()) as {
      versions: Array<{ version: string; archive: { url: string; sha256: string; size_bytes: number } }>;
    };
    const a = doc.versions.find((x) => x.version === version)!.archive;
    const res = await fetch(new URL(a.url, `${url}/`));
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length !== a.size_bytes || sha256(bytes) !== a.sha256)
      throw new Error(`${a.url}: hash mismatch`);
    writeFileSync(join(dir, 'archive.mpn'), bytes);
    const ms = performance.now() - t0;
    rmSync(dir, { recursive: true, force: true });
    return ms;
  };

  // The cold download: what a client holding only the pinned root fetched to install one plugin.
  const first = newClient();
  const before = snapshotDir(first.metadataDir);
  const firstPath = `assets/plugins/${archiveFileName(entryFacts(0, 0, VERSIONS).plugin_id, '1.0.0')}`;
  await tufInstall(first, firstPath);
  const after = snapshotDir(first.metadataDir);
  const fetched = [...after].filter(([n, b]) => !before.get(n)?.equals(b));
  const sum = (f: (b: Buffer) => number) => fetched.reduce((n, [, b]) => n + f(b), 0);
  console.log(
    `\ncold install downloads ${fetched.map(([n]) => n).join(' + ')}: ${kib(sum((b) => b.length))} (gzip ${kib(sum(gz))}, br ${kib(sum(br))} if compressed)`,
  );
  // Warm: the same dir again; with the timestamp unchanged only timestamp.json is fetched.
  const ts = readFileSync(join(metaDir, 'timestamp.json'));
  console.log(
    `warm install (timestamp unchanged) downloads timestamp.json: ${kib(ts.length)} (gzip ${kib(gz(ts))}, br ${kib(br(ts))}) · ${load()}`,
  );
  const warmDir = first.metadataDir;
  const warmBefore = snapshotDir(warmDir);
  await tufInstall(newClient(warmDir), firstPath);
  const rewritten = [...snapshotDir(warmDir)].filter(([n, b]) => !warmBefore.get(n)?.equals(b));
  if (rewritten.length > 0) console.log(`  (warm install rewrote ${rewritten.map(([n]) => n).join(', ')})`);

  const rnd = random(19);
  const cold: number[] = [];
  const warm: number[] = [];
  const ref: number[] = [];
  for (let i = 0; i < INSTALLS; i++) {
    const f = entryFacts(Math.floor(rnd() * PLUGINS), Math.floor(rnd() * VERSIONS), VERSIONS);
    const path = `assets/plugins/${archiveFileName(f.plugin_id, f.version)}`;
    const c = newClient();
    cold.push(await tufInstall(c, path));
    rmSync(c.base, { recursive: true, force: true });
    const w = newClient(warmDir);
    warm.push(await tufInstall(w, path));
    rmSync(w.base, { recursive: true, force: true });
    ref.push(await unsignedInstall(f.plugin_id, f.version));
    console.log(
      `install ${String(i + 1).padStart(2)} ${f.plugin_id}@${f.version}: cold ${cold.at(-1)!.toFixed(1)} ms · warm ${warm.at(-1)!.toFixed(1)} ms · unsigned ${ref.at(-1)!.toFixed(1)} ms · ${load()}`,
    );
  }
  const [mc, mw, mr] = [median(cold), median(warm), median(ref)];
  console.log(
    `\nper install, median of ${INSTALLS} (archive ${kib(statSync(join(catalog, firstPath)).size)}):` +
      `\n  unsigned (document + archive + sha256, reference) ${mr.toFixed(1)} ms · ${load()}` +
      `\n  TUF cold (pinned root only)                       ${mc.toFixed(1)} ms  ${(mc / mr).toFixed(1)}× · ${load()}` +
      `\n  TUF warm (metadata kept, timestamp unchanged)     ${mw.toFixed(1)} ms  ${(mw / mr).toFixed(1)}× · ${load()}`,
  );
} finally {
  if (server?.pid !== undefined && server.exitCode === null) process.kill(server.pid, 'SIGTERM');
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
}
