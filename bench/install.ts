// Install benchmark: `coreservice install` of a plugin whose archive is BENCH_INSTALL_MIB (200) MiB,
// from `hub serve` over loopback, against the same steps done by three classic tools in sequence —
// `curl -o`, `openssl dgst -sha256`, `unzip` — alternated A B A B in one run. Prints the medians,
// the ratio and CoreService's peak RSS (from /usr/bin/time). Stops by itself; 127.0.0.1 only.
//
//   npm run bench:install        (BENCH_INSTALL_MIB, BENCH_INSTALL_ROUNDS change it)
//
// CoreService's time is the whole install: resolve, stream + hash, the strict archive check and
// extraction with every file_checksums entry verified, the venv, starting the plugin and its health
// check, the receipt. The reference does only download, hash and unzip.
//
// Then the docker figure, on a private dockerd (infra/engines.ts; skipped with one loud line where
// none can run): `coreservice install --method docker` of the same archive (the same steps, with
// `docker build` of its Dockerfile instead of the venv, and a container instead of a process),
// against `docker load` of the very image that install built (saved with `docker save` beforehand,
// untimed): what shipping the plugin as a ready image would cost. BENCH_INSTALL_DOCKER=0 skips it.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../coreservice/src/runtime/process';
import { type DockerEngine, startDocker } from '../infra/engines';
import { packPlugin } from '../packages/core/src/node';
import { load } from './load';

const MIB = Number(process.env.BENCH_INSTALL_MIB ?? 200);
const ROUNDS = Number(process.env.BENCH_INSTALL_ROUNDS ?? 3);
const REPO = join(import.meta.dirname, '..');
const HUB = join(REPO, 'packages', 'cli', 'bin', 'hub.js');
const CS = join(REPO, 'coreservice', 'bin', 'coreservice.js');
const ID = 'bench-blob';

for (const tool of ['curl', 'openssl', 'unzip', '/usr/bin/time']) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
    console.error(`bench:install needs ${tool} (apt-get install curl openssl unzip time)`);
    process.exit(1);
  }
}

const work = mkdtempSync(join(tmpdir(), 'bench-install-'));
// As root, the plugin runs under a uid of its own and must be able to pass through to its files.
chmodSync(work, 0o755);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let hub: ReturnType<typeof spawn> | undefined;
let engine: DockerEngine | undefined;
try {
  // The plugin: the ctf example with MIB of incompressible data beside its code.
  const src = join(work, 'src', ID);
  cpSync(join(REPO, 'examples', 'plugins', 'ctf'), src, { recursive: true, dereference: true });
  const m = join(src, 'manifest.yaml');
  writeFileSync(
    m,
    readFileSync(m, 'utf8')
      .replace(/^plugin_id:.*$/m, `plugin_id: ${ID}`)
      .replace(/^version:.*$/m, 'version: 1.0.0')
      // A docker entry after uv (the plain rounds pick uv): the docker rounds ask for it.
      .replace(/^health_check:/m, '  - method: docker\n    dockerfile: Dockerfile\n\nhealth_check:'),
  );
  mkdirSync(join(src, 'data'));
  const fd = openSync(join(src, 'data', 'blob.bin'), 'w');
  for (let i = 0; i < MIB; i++) writeSync(fd, randomBytes(1024 * 1024));
  closeSync(fd);
  const catalog = join(work, 'catalog');
  mkdirSync(join(catalog, 'plugins', ID), { recursive: true });
  mkdirSync(join(catalog, 'assets', 'plugins'), { recursive: true });
  cpSync(join(REPO, 'catalog', 'maintainers.yaml'), join(catalog, 'maintainers.yaml'));
  const archive = join(catalog, 'assets', 'plugins', `${ID}-1.0.0.mpn`);
  const packed = await packPlugin(src, { out: archive, force: true });
  const entry = readFileSync(join(REPO, 'catalog', 'plugins', 'ctf', '1.0.0.yaml'), 'utf8')
    .replace(/^plugin_id:.*$/m, `plugin_id: ${ID}`)
    .replace(/^tier:.*$/m, 'tier: community')
    .replace(/url: .*$/m, `url: /assets/plugins/${ID}-1.0.0.mpn`)
    .replace(/sha256: .*$/m, `sha256: ${packed.sha256}`)
    .replace(/size_bytes: .*$/m, `size_bytes: ${packed.size_bytes}`)
    .replace(/^archive_id:.*$/m, `archive_id: ${packed.archive_id}`);
  writeFileSync(join(catalog, 'plugins', ID, '1.0.0.yaml'), entry);
  console.log(
    `archive: ${(packed.size_bytes / 1048576).toFixed(1)} MiB, ${Object.keys(packed.manifest.file_checksums ?? {}).length} files`,
  );

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  hub = spawn(process.execPath, [HUB, 'serve', catalog, '--port', String(port), '--workers', '1'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }

  const timed = (cmd: string, args: string[], env: Record<string, string | undefined> = {}) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, {
      encoding: 'utf8',
      env: { ...process.env, MAGELLON_HUB_URL: '', ...env },
    });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
    return { s, stderr: r.stderr };
  };
  const ours: number[] = [];
  const oursNoStart: number[] = [];
  const ref: number[] = [];
  let peakKiB = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const dir = join(work, `plugins-${round}`);
    const a = timed('/usr/bin/time', [
      '-f',
      'maxrss_kib=%M',
      process.execPath,
      CS,
      '--unsigned',
      '--hub',
      url,
      '--plugins-dir',
      dir,
      'install',
      ID,
    ]);
    ours.push(a.s);
    peakKiB = Math.max(peakKiB, Number(/maxrss_kib=(\d+)/.exec(a.stderr)?.[1] ?? 0));
    spawnSync(process.execPath, [CS, '--plugins-dir', dir, 'uninstall', ID], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });

    const dir2 = join(work, `plugins-nostart-${round}`);
    const c = timed(process.execPath, [
      CS,
      '--unsigned',
      '--hub',
      url,
      '--plugins-dir',
      dir2,
      'install',
      ID,
      '--no-start',
    ]);
    oursNoStart.push(c.s);
    rmSync(dir2, { recursive: true, force: true });

    const out = join(work, `ref-${round}`);
    mkdirSync(out);
    const b = timed('bash', [
      '-c',
      `set -e; curl -sf -o "$1/a.mpn" "$2"; openssl dgst -sha256 "$1/a.mpn" >/dev/null; unzip -q "$1/a.mpn" -d "$1/files"`,
      'bench',
      out,
      `${url}/assets/plugins/${ID}-1.0.0.mpn`,
    ]);
    ref.push(b.s);
    rmSync(out, { recursive: true, force: true });
    console.log(
      `round ${round + 1}: coreservice install ${a.s.toFixed(2)} s · install --no-start ${c.s.toFixed(2)} s · curl+openssl+unzip ${b.s.toFixed(2)} s · ${load()}`,
    );
  }
  if (process.env.BENCH_INSTALL_HOLD) {
    console.log(`holding: hub at ${url}`);
    await new Promise((r) => setTimeout(r, Number(process.env.BENCH_INSTALL_HOLD) * 1000));
  }
  const ratio = median(ours) / median(ref);
  console.log(
    `\n${MIB} MiB install, median of ${ROUNDS}: coreservice ${median(ours).toFixed(2)} s, reference ${median(ref).toFixed(2)} s → ratio ${ratio.toFixed(2)}× (goal ≤ 1.0×) · ${load()}`,
  );
  console.log(
    `without starting the plugin (install --no-start: the same steps plus the venv): ${median(oursNoStart).toFixed(2)} s → ratio ${(median(oursNoStart) / median(ref)).toFixed(2)}×`,
  );
  console.log(`coreservice peak RSS: ${(peakKiB / 1024).toFixed(0)} MiB (goal < 150 MB)`);

  if (process.env.BENCH_INSTALL_DOCKER !== '0') {
    engine = await startDocker();
    if (engine) await dockerRounds(engine, url, timed);
  }
} finally {
  hub?.kill('SIGTERM');
  await engine?.stop();
  rmSync(work, { recursive: true, force: true });
}

/**
 * `coreservice install --method docker` (fetch, verify, unpack, docker build, run, health) against
 * `docker load` of the image that install built, alternated; the image is saved untimed.
 */
async function dockerRounds(
  engine: DockerEngine,
  url: string,
  timed: (cmd: string, args: string[], env: Record<string, string>) => { s: number; stderr: string },
): Promise<void> {
  const env = {
    ...engine.env,
    MAGELLON_DOCKER_CLI: engine.docker,
    MAGELLON_DOCKER_BASE_IMAGE: engine.baseImage,
  };
  const docker = (...args: string[]) => {
    const r = spawnSync(engine.docker, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const withEnv = (cmd: string, args: string[]) => timed(cmd, args, env);
  const ours: number[] = [];
  const ref: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const dir = join(work, `plugins-docker-${round}`);
    const a = withEnv(process.execPath, [
      CS,
      '--unsigned',
      '--hub',
      url,
      '--plugins-dir',
      dir,
      'install',
      ID,
      '--method',
      'docker',
    ]);
    ours.push(a.s);
    const image = docker(
      'image',
      'ls',
      '-q',
      '--no-trunc',
      '--filter',
      `label=org.magellon.home=${join(dir, ID)}`,
    );
    if (!image || image.includes('\n'))
      throw new Error(`expected one image built for ${ID}, found: ${image || 'none'}`);
    const tar = join(work, `image-${round}.tar`);
    docker('save', '-o', tar, image);
    withEnv(process.execPath, [CS, '--plugins-dir', dir, 'uninstall', ID]);
    rmSync(dir, { recursive: true, force: true });
    const b = withEnv(engine.docker, ['load', '-q', '-i', tar]);
    ref.push(b.s);
    docker('image', 'rm', '-f', image);
    rmSync(tar, { force: true });
    console.log(
      `docker round ${round + 1}: coreservice install --method docker ${a.s.toFixed(2)} s · docker load ${b.s.toFixed(2)} s · ${load()}`,
    );
  }
  console.log(
    `\ndocker install, median of ${ROUNDS}: coreservice ${median(ours).toFixed(2)} s (fetch, verify, docker build, run, health), docker load of the same image ${median(ref).toFixed(2)} s → ratio ${(median(ours) / median(ref)).toFixed(2)}× · ${load()}`,
  );
}
