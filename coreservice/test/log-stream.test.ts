// Live plugin logs end to end: a real `coreservice serve` on 127.0.0.1 running a process-backend
// plugin that prints a numbered line every 50 ms (and a burst of 6000 lines on demand), read the
// way Magellon reads it (socket.io: join_plugin_room, plugin_log), as SSE with Last-Event-ID, and
// with `coreservice logs -f` from the built command.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRepoCatalog } from '../../functions/test/harness';
import { LogStreams, RING_LINES, type StreamedLine } from '../src/service/log-streams';
import { type RunningService, serveCoreService } from '../src/service/serve';
import { upgradeFromHub } from '../src/upgrade';
import { ControlledHub, packVariant } from './fixtures';
import { CORESERVICE_BIN, cleanCoreserviceEnv, scratchDir, stopAllUnder } from './helpers';

const TOKEN = 'test-admin-token-0123456789abcdef';
const ID = 'ctf';
const BURST = RING_LINES + 1000;
const scratch = scratchDir('coreservice-log-stream-');
const pluginsDir = join(scratch, 'plugins');
let svc: RunningService;

/** ctf as a process-backend plugin (no ctffind4 needed) whose main.py also ticks on stderr. */
const ticking = (dir: string, say = 'tick') => {
  const m = join(dir, 'manifest.yaml');
  writeFileSync(
    m,
    readFileSync(m, 'utf8').replace(/(- method: subprocess\n)\s+requires:\n\s+- binary: ctffind4\n/, '$1'),
  );
  const main = join(dir, 'main.py');
  const ticker = [
    'import itertools, os, threading, time',
    'def _tick():',
    '    burst = os.path.join(os.environ["MAGELLON_PLUGIN_CTF_DATA_DIR"], "burst")',
    '    done = False',
    '    for i in itertools.count(1):',
    `        print(f"${say} {i}", file=sys.stderr, flush=True)`,
    '        if not done and os.path.exists(burst):',
    '            done = True',
    `            for j in range(${BURST}): print(f"burst {j}", file=sys.stderr)`,
    '            sys.stderr.flush()',
    '        time.sleep(0.05)',
    'threading.Thread(target=_tick, daemon=True).start()',
    '',
  ].join('\n');
  writeFileSync(main, readFileSync(main, 'utf8').replace('\nif __name__', `\n${ticker}\nif __name__`));
};

beforeAll(async () => {
  svc = await serveCoreService({
    pluginsDir,
    hubs: [],
    port: 0,
    token: TOKEN,
    run: { heartbeatSeconds: 60 },
  });
  const res = await request(`${svc.url}/admin/plugins/install?install_method=subprocess`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: await packVariant(scratch, ID, '1.0.0', ticking),
  });
  const body = await res.body.text();
  expect(res.statusCode, body).toBe(201);
}, 120_000);
afterAll(async () => {
  await svc?.close();
  await stopAllUnder(scratch);
  if (!process.env.KEEP) rmSync(scratch, { recursive: true, force: true });
});

const ticksOf = (lines: string[]) => lines.flatMap((l) => /^tick (\d+)$/.exec(l)?.[1] ?? []).map(Number);
/** The ticks of the plugin's last run (each run counts from 1). */
const lastRun = (ns: number[]) => ns.slice(Math.max(0, ns.lastIndexOf(1)));
/** Consecutive numbers: none lost, none repeated, in order. */
const consecutive = (ns: number[]) => ns.every((n, i) => i === 0 || n === ns[i - 1]! + 1);

interface PluginLog {
  plugin_id: string;
  replica?: number;
  line: string;
  id?: number;
  error?: boolean;
}

/** A socket.io connection to the service (no reconnects: a refusal is final). */
function connect(opts: { token?: string; headers?: Record<string, string> } = {}): Socket {
  return io(svc.url, {
    transports: ['websocket'],
    reconnection: false,
    ...(opts.token !== undefined ? { auth: { token: opts.token } } : {}),
    ...(opts.headers ? { extraHeaders: opts.headers } : {}),
  });
}

/** Whether the connection is made, or the error it was refused with. */
const outcome = (s: Socket) =>
  new Promise<string>((resolve) => {
    s.once('connect', () => resolve('connected'));
    s.once('connect_error', (e) => resolve(`refused: ${e.message}`));
  });

const join_ = (s: Socket, payload: unknown) =>
  new Promise<Record<string, unknown>>((resolve) => s.emit('join_plugin_room', payload, resolve));

describe('socket.io (as Magellon reads plugin logs)', () => {
  it('joins the plugin room and receives its lines in order, each with plugin_id, replica and id', async () => {
    const s = connect({ token: TOKEN });
    const got: PluginLog[] = [];
    s.on('plugin_log', (m: PluginLog) => got.push(m));
    expect(await outcome(s)).toBe('connected');
    expect(await join_(s, { plugin_id: ID })).toEqual({ ok: true, room: `plugin:${ID}` });
    await expect.poll(() => ticksOf(got.map((m) => m.line)).length, { timeout: 30_000 }).toBeGreaterThan(20);
    s.close();
    // The plugin's latest run (its log keeps earlier runs' lines: install starts it once to check it).
    const ticks = lastRun(ticksOf(got.map((m) => m.line)));
    expect(ticks.length).toBeGreaterThan(10);
    expect(consecutive(ticks)).toBe(true);
    expect(got.every((m) => m.plugin_id === ID && m.replica === 0 && !m.error)).toBe(true);
    const ids = got.map((m) => m.id!);
    expect(ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1)).toBe(true);
  });

  it('refuses a connection without the admin token, with a wrong one, or from another origin', async () => {
    for (const [opts, why] of [
      [{}, /admin token/],
      [{ token: `${TOKEN}x` }, /admin token/],
      [{ headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } }, /admin token/],
      [{ token: TOKEN, headers: { origin: 'http://evil.example' } }, /./],
      [{ token: TOKEN, headers: { host: 'rebound.example' } }, /./],
    ] as const) {
      const s = connect(opts);
      expect(await outcome(s)).toMatch(new RegExp(`^refused: .*${why.source}`));
      s.close();
    }
    // The bearer header is as good as auth.token.
    const ok = connect({ headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await outcome(ok)).toBe('connected');
    ok.close();
  });

  it('an unknown, malformed or missing plugin id is ok:false with an escaped message, and starts nothing', async () => {
    const s = connect({ token: TOKEN });
    expect(await outcome(s)).toBe('connected');
    const unknown = await join_(s, { plugin_id: 'no-such-plugin' });
    expect(unknown).toMatchObject({ ok: false, error: expect.stringContaining('no-such-plugin') });
    const evil = await join_(s, { plugin_id: '\u001b[31mred\u0007' });
    expect(evil.ok).toBe(false);
    expect([...String(evil.error)].some((ch) => ch.charCodeAt(0) < 0x20)).toBe(false);
    expect(String(evil.error)).toContain('red');
    expect((await join_(s, {})).ok).toBe(false);
    expect((await join_(s, null)).ok).toBe(false);
    expect(svc.logStreams.following('no-such-plugin')).toBe(false);
    expect(
      await new Promise((r) => s.emit('leave_plugin_room', { plugin_id: 'no-such-plugin' }, r)),
    ).toMatchObject({
      ok: false,
    });
    s.close();
  });
});

/** An SSE event as the stream sends it. */
interface Sse {
  event: string;
  id?: string;
  data: string;
}

/**
 * Reads `GET /admin/plugins/<id>/logs?follow=1…` until `enough(events)`, then drops the
 * connection; answers the events read.
 */
async function readSse(query: string, headers: Record<string, string>, enough: (e: Sse[]) => boolean) {
  const ctl = new AbortController();
  const res = await fetch(`${svc.url}/admin/plugins/${ID}/logs?follow=1${query}`, {
    headers: { authorization: `Bearer ${TOKEN}`, ...headers },
    signal: ctl.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: Sse[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = res.body!.getReader();
  try {
    while (!enough(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let end = buf.indexOf('\n\n');
      while (end >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const e: Sse = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          const [k, ...v] = line.split(':');
          const value = v.join(':').replace(/^ /, '');
          if (k === 'event') e.event = value;
          else if (k === 'id') e.id = value;
          else if (k === 'data') e.data += value;
        }
        if (block.split('\n').some((l) => !l.startsWith(':'))) events.push(e);
        if (enough(events)) break;
        end = buf.indexOf('\n\n');
      }
    }
  } finally {
    ctl.abort();
    await reader.cancel().catch(() => {});
  }
  return events;
}

const logLines = (events: Sse[]) =>
  events.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data) as PluginLog & { id: number });

describe('SSE (GET /admin/plugins/<id>/logs?follow=1)', () => {
  it('a client that drops the connection and comes back with Last-Event-ID gets every line once, in order', async () => {
    const first = logLines(await readSse('&tail=5', {}, (e) => logLines(e).length >= 15));
    expect(first.length).toBe(15);
    const last = first.at(-1)!.id;
    // Lines go on while it is away; it asks for what came after the last one it saw.
    const second = logLines(
      await readSse('', { 'last-event-id': String(last) }, (e) => logLines(e).length >= 15),
    );
    const all = [...first, ...second];
    expect(all.map((l) => l.id)).toEqual(all.map((_, i) => first[0]!.id + i));
    expect(second[0]!.id).toBe(last + 1);
    const ticks = lastRun(ticksOf(all.map((l) => l.line)));
    expect(ticks.length).toBeGreaterThan(20);
    expect(consecutive(ticks)).toBe(true);
    // The query parameter does the same as the header.
    const third = logLines(await readSse(`&last_event_id=${last}`, {}, (e) => logLines(e).length >= 1));
    expect(third[0]!.id).toBe(last + 1);
  });

  it('an id older than the kept lines gets `gap` first, saying how many are gone, then the oldest kept', async () => {
    writeFileSync(join(pluginsDir, ID, 'data', 'burst'), '');
    // The burst pushes the first lines out of the kept ones.
    await expect
      .poll(
        async () => {
          const e = await readSse('', { 'last-event-id': '1' }, (ev) => ev.length >= 2);
          return e[0]?.event;
        },
        { timeout: 60_000, interval: 500 },
      )
      .toBe('gap');
    const events = await readSse('', { 'last-event-id': '1' }, (ev) => ev.length >= 2);
    const gap = JSON.parse(events[0]!.data) as { missed: number; plugin_id: string };
    expect(gap.plugin_id).toBe(ID);
    expect(gap.missed).toBeGreaterThan(0);
    expect(events[1]).toMatchObject({ event: 'log', id: String(1 + gap.missed + 1) });
  });

  it('needs the admin token, and a tail within 0..10000', async () => {
    const noToken = await fetch(`${svc.url}/admin/plugins/${ID}/logs?follow=1`);
    expect(noToken.status).toBe(401);
    const bad = await fetch(`${svc.url}/admin/plugins/${ID}/logs?follow=1&tail=10001`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(bad.status).toBe(400);
    const badId = await fetch(`${svc.url}/admin/plugins/${ID}/logs?follow=1`, {
      headers: { authorization: `Bearer ${TOKEN}`, 'last-event-id': 'x' },
    });
    expect(badId.status).toBe(400);
  });
});

describe('coreservice logs -f', () => {
  it('prints the tail, then new lines as they come, and exits 0 on SIGINT', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [CORESERVICE_BIN, 'logs', ID, '-f', '--tail', '2', '--plugins-dir', pluginsDir],
      { env: cleanCoreserviceEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    const ticks = () => ticksOf(stdout.split('\n'));
    await expect.poll(() => ticks().length, { timeout: 30_000 }).toBeGreaterThan(10);
    child.kill('SIGINT');
    const code = await exited;
    expect(code, `${stderr}\n${stdout.slice(-500)}`).toBe(0);
    expect(consecutive(ticks())).toBe(true);
    expect(stderr).toContain('plugins dir');
    // One replica: no `[n] ` prefix.
    expect(
      stdout
        .split('\n')
        .filter(Boolean)
        .every((l) => !l.startsWith('[')),
    ).toBe(true);
  });

  it('--help says it', async () => {
    const child = spawn(process.execPath, [CORESERVICE_BIN, '--help'], { env: cleanCoreserviceEnv() });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    await new Promise((r) => child.once('close', r));
    expect(out).toMatch(/coreservice logs <id> \[--tail N\] \[-f\|--follow\]/);
  });
});

describe('the shared follower', () => {
  it('one follower serves every listener, and stops a while after the last one left', async () => {
    const hub = new LogStreams(pluginsDir, { lingerMs: 300 });
    const a: StreamedLine[] = [];
    const b: StreamedLine[] = [];
    const sink = (into: StreamedLine[]) => ({
      line: (l: StreamedLine) => into.push(l),
      gap: () => {},
      end: () => {},
    });
    const leaveA = hub.subscribe(ID, { tail: 3 }, sink(a));
    const leaveB = hub.subscribe(ID, { tail: 3 }, sink(b));
    expect(hub.following(ID)).toBe(true);
    await expect.poll(() => b.length).toBeGreaterThan(10);
    // Both see the same numbered lines: B's first ones are A's too.
    const common = b.slice(0, 5).map((l) => l.id);
    expect(a.filter((l) => common.includes(l.id)).map((l) => l.line)).toEqual(
      b.slice(0, 5).map((l) => l.line),
    );
    leaveA();
    expect(hub.following(ID)).toBe(true);
    leaveB();
    expect(hub.following(ID)).toBe(true);
    await expect.poll(() => hub.following(ID)).toBe(false);
    await hub.close();
  });
});

describe('upgrade', () => {
  let build: Awaited<ReturnType<typeof buildRepoCatalog>> | undefined;
  let controlled: ControlledHub | undefined;
  beforeAll(async () => {
    build = await buildRepoCatalog();
    controlled = await new ControlledHub(build.dir, ID, '1.1.0').start();
    controlled.set(await packVariant(scratch, ID, '1.1.0', (d) => ticking(d, 'v2 tick')));
  }, 180_000);
  afterAll(() => {
    controlled?.close();
    build?.cleanup();
  });

  it('moves the follower to the new version; the ids go on', async () => {
    const s = connect({ token: TOKEN });
    const got: PluginLog[] = [];
    s.on('plugin_log', (m: PluginLog) => got.push(m));
    expect(await outcome(s)).toBe('connected');
    expect((await join_(s, { plugin_id: ID, tail: 0 })).ok).toBe(true);
    await expect.poll(() => got.length).toBeGreaterThan(3);
    const r = await upgradeFromHub({
      pluginsDir,
      hubs: [controlled!.url],
      pluginId: ID,
      to: '1.1.0',
      method: 'subprocess',
      run: { heartbeatSeconds: 60, heartbeatUrl: `${svc.url}/internal/heartbeat` },
    });
    expect(r.to.version).toBe('1.1.0');
    await expect
      .poll(() => got.filter((m) => /^v2 tick \d+$/.test(m.line)).length, { timeout: 30_000 })
      .toBeGreaterThan(5);
    s.close();
    const ids = got.map((m) => m.id!);
    expect(ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1)).toBe(true);
    // The new version's lines follow the old one's: after the first v2 line, no v1 tick.
    const firstV2 = got.findIndex((m) => m.line.startsWith('v2 tick'));
    expect(got.slice(firstV2).some((m) => /^tick \d+$/.test(m.line))).toBe(false);
    expect(lastRun(ticksOf(got.slice(firstV2).map((m) => m.line.replace(/^v2 /, ''))))).not.toEqual([]);
  }, 120_000);
});

describe('uninstall', () => {
  it('ends the stream at once: listeners are told, and the follower stops', async () => {
    const s = connect({ token: TOKEN });
    const got: (PluginLog & { end?: boolean })[] = [];
    s.on('plugin_log', (m: PluginLog) => got.push(m));
    expect(await outcome(s)).toBe('connected');
    expect((await join_(s, { plugin_id: ID, tail: 0 })).ok).toBe(true);
    expect(svc.logStreams.following(ID)).toBe(true);
    const res = await request(`${svc.url}/admin/plugins/${ID}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(svc.logStreams.following(ID)).toBe(false);
    await expect
      .poll(() => got.at(-1))
      .toMatchObject({ plugin_id: ID, end: true, line: `${ID} was uninstalled` });
    expect((await join_(s, { plugin_id: ID })).ok).toBe(false);
    s.close();
  });
});
