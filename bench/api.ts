// Load benchmark of the /v1 API: `wrk` against `hub serve` and against nginx serving the same
// built files from disk, alternated A B A B, on 127.0.0.1 only; stops by itself.
//
//   npm run bench:api            (BENCH_API_PLUGINS, BENCH_API_SECONDS, BENCH_API_ROUNDS change it)
//
// Scenarios: a 200 of /v1/plugins/<id>.json, a 304 revalidation of it, its gzip 200, and the
// listing route (hub only; compared with nginx's static 200, since nginx has no listing).

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCatalog } from '@magellon/hub-core/test-support';
import { load } from './load';

const PLUGINS = Number(process.env.BENCH_API_PLUGINS ?? 2000);
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_API_ROUNDS ?? 2);
const WORKERS = availableParallelism();
const REPO = join(import.meta.dirname, '..');
const HUB = join(REPO, 'packages', 'cli', 'bin', 'hub.js');

for (const [tool, pkg] of [
  ['wrk', 'wrk'],
  ['nginx', 'nginx-light (or nginx)'],
] as const) {
  const found = spawnSync(tool === 'nginx' ? '/usr/sbin/nginx' : tool, ['-v'], { stdio: 'ignore' });
  if (found.error) {
    console.error(`bench:api needs ${tool}: apt-get install ${pkg}`);
    process.exit(1);
  }
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

async function head(url: string, headers: Record<string, string>) {
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return res;
}

interface WrkResult {
  rps: number;
  p99ms: number;
}

/** One wrk run: 1 thread (wrk shares the 2 cores with the server), 64 connections. */
function wrk(url: string, headers: Record<string, string>): WrkResult {
  const args = ['-t1', '-c64', `-d${SECONDS}s`, '--latency', '--timeout', '5s'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const r = spawnSync('wrk', [...args, url], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(r.stdout);
  const unit = { us: 0.001, ms: 1, s: 1000 }[(p99?.[2] ?? 'ms') as 'us' | 'ms' | 's'];
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} error responses from ${url}`);
  return { rps, p99ms: Number(p99?.[1]) * unit };
}

function waitForLine(child: ChildProcess, pattern: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no "${pattern}" within ${ms} ms:\n${out}`)), ms);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => reject(new Error(`exited ${code} before "${pattern}":\n${out}`)));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const children: ChildProcess[] = [];
const work = mkdtempSync(join(tmpdir(), 'hub-bench-api-'));
// nginx started as root serves from unprivileged worker processes: they must be able to read the build.
chmodSync(work, 0o755);
const stopAll = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
};
process.once('SIGINT', () => {
  stopAll();
  rmSync(work, { recursive: true, force: true });
  process.exit(130);
});

try {
  const catalog = join(work, 'catalog');
  const out = join(work, 'dist');
  generateCatalog(catalog, PLUGINS, 5);
  const built = spawnSync(process.execPath, [HUB, 'build', catalog, '--out', out], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (built.status !== 0) throw new Error(`hub build failed: ${built.stderr}`);

  const hubPort = await freePort();
  const hub = spawn(
    process.execPath,
    [
      HUB,
      'serve',
      '--build',
      out,
      '--host',
      '127.0.0.1',
      '--port',
      String(hubPort),
      '--workers',
      String(WORKERS),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  children.push(hub);
  await waitForLine(hub, /serving the hub at/, 60_000);

  const nginxPort = await freePort();
  const prefix = join(work, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `worker_processes ${WORKERS};
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/json;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${nginxPort};
    root ${out};
    etag on;
    gzip_static on;
    add_header Cache-Control "public, max-age=300, stale-while-revalidate=86400";
    add_header Access-Control-Allow-Origin "*";
  }
}
`,
  );
  const nginx = spawn(
    '/usr/sbin/nginx',
    ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'],
    { stdio: 'ignore' },
  );
  children.push(nginx);
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${nginxPort}/hub-bundle.json`).then((r) => r.arrayBuffer());
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const hubUrl = `http://127.0.0.1:${hubPort}`;
  const nginxUrl = `http://127.0.0.1:${nginxPort}`;
  const doc = '/v1/plugins/bench-plugin-00042.json';
  const listing = '/v1/plugins?category=ctf&per_page=20';
  // Each server revalidates with its own ETag; check every scenario answers as intended first.
  const etag = async (base: string) => (await head(`${base}${doc}`, {})).headers.get('etag')!;
  const hubEtag = await etag(hubUrl);
  const nginxEtag = await etag(nginxUrl);
  for (const [base, tag] of [
    [hubUrl, hubEtag],
    [nginxUrl, nginxEtag],
  ] as const) {
    const status = (await head(`${base}${doc}`, { 'if-none-match': tag })).status;
    if (status !== 304) throw new Error(`${base} answered If-None-Match: ${tag} with ${status}, not 304`);
    const gz = await fetch(`${base}${doc}`, { headers: { 'accept-encoding': 'gzip' } });
    await gz.arrayBuffer();
    if (gz.headers.get('content-encoding') !== 'gzip') throw new Error(`${base} gave no gzip`);
  }
  if ((await head(`${hubUrl}${listing}`, {})).status !== 200) throw new Error('listing failed');

  type Scenario = {
    label: string;
    hub: [string, Record<string, string>];
    nginx: [string, Record<string, string>];
    goal: number;
  };
  const scenarios: Scenario[] = [
    { label: '200 plugin document', hub: [doc, {}], nginx: [doc, {}], goal: 0.6 },
    {
      label: '304 revalidation',
      hub: [doc, { 'If-None-Match': hubEtag }],
      nginx: [doc, { 'If-None-Match': nginxEtag }],
      goal: 0.6,
    },
    {
      label: 'gzip 200',
      hub: [doc, { 'Accept-Encoding': 'gzip' }],
      nginx: [doc, { 'Accept-Encoding': 'gzip' }],
      goal: 0.6,
    },
    { label: 'listing (vs nginx static 200)', hub: [listing, {}], nginx: [doc, {}], goal: 0.3 },
  ];
  const nginxV = spawnSync('/usr/sbin/nginx', ['-v'], { encoding: 'utf8' }).stderr.trim();
  console.log(
    `${PLUGINS} plugins built; hub serve and nginx with ${WORKERS} processes each; wrk -t1 -c64 -d${SECONDS}s, ${ROUNDS} rounds A B A B`,
  );
  console.log(`node ${process.version}, ${nginxV}, ${availableParallelism()} CPUs\n`);
  // Warm both up (JIT, caches, connection pools) before anything is measured.
  for (const [base, target] of [
    [hubUrl, doc],
    [hubUrl, listing],
    [nginxUrl, doc],
  ] as const) {
    spawnSync('wrk', ['-t1', '-c64', '-d2s', `${base}${target}`], { stdio: 'ignore', timeout: 30_000 });
  }
  console.log('scenario                         hub req/s   nginx req/s   ratio   hub p99    goal');
  for (const s of scenarios) {
    const a: WrkResult[] = [];
    const b: WrkResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(wrk(`${hubUrl}${s.hub[0]}`, s.hub[1]));
      b.push(wrk(`${nginxUrl}${s.nginx[0]}`, s.nginx[1]));
    }
    const ha = median(a.map((x) => x.rps));
    const nb = median(b.map((x) => x.rps));
    const p99 = median(a.map((x) => x.p99ms));
    const ratio = ha / nb;
    const met = ratio >= s.goal && (s.goal < 0.6 || p99 < 20);
    console.log(
      `${s.label.padEnd(32)} ${ha.toFixed(0).padStart(9)}   ${nb.toFixed(0).padStart(11)}   ${ratio.toFixed(2).padStart(4)}×  ${p99.toFixed(1).padStart(6)} ms   ≥ ${s.goal}×${s.goal >= 0.6 ? ', p99 < 20 ms' : ''}: ${met ? 'met' : 'NOT met'} · ${load()}`,
    );
  }
} finally {
  stopAll();
  rmSync(work, { recursive: true, force: true });
}
