// `hub test`: the author's checks before packing, as Magellon's `plugin test` runs them: hub lint,
// then the plugin's own tests (pytest when the Python has it, else unittest), then the plugin
// installed into a throw-away CoreService the way a lab would run it — packed, unpacked, its backend
// prepared and started, its health check passed — and its /health asked once more by hand. With a
// broker URL, CoreService's health check also waits for the plugin's announce on the broker.
// Everything it starts is stopped and everything it writes is removed before it returns.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ArchiveManifest, brokerUrlProblem, shownBrokerUrl } from '@magellon/hub-core';
import { lintPlugin, PackError, packPlugin } from '@magellon/hub-core/node';
import { request } from 'undici';
import { type BrokerWatch, watchBroker } from '../broker-watch';
import { type CommandRun, defaultCoreservice, runCommand } from '../coreservice-run';
import { countBySeverity, dim, green, plural, printFindings, red, safe, safeLines, yellow } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

const DEFAULT_TEST_TIMEOUT_S = 600;
/** What the plugin's own tests print is kept to this much (the last lines are what matter). */
const MAX_TEST_OUTPUT = 1 << 20;

export const testCommand: Command = {
  name: 'test',
  help: `Usage: hub test <plugin-dir> [options]

The author's checks, in order; each runs only when the one before passed:
  1. lint   hub lint on the plugin dir (warnings are shown, errors stop here)
  2. tests  the plugin's own tests in tests/: python -m pytest when that Python has
            pytest, else python -m unittest discover -s tests -t . (run in the plugin
            dir; no .pyc or cache files are left in it)
  3. start  the plugin packed and installed into a throw-away CoreService exactly as
            a lab installs it (safe unpack, its backend prepared, started, its health
            check passed within health_check.timeout_seconds), then GET /health and
            GET /version asked once more and shown; then it is uninstalled and the
            throw-away plugins dir removed. With --broker-url the plugin is handed the
            broker and CoreService waits for its announce as well.
The plugin runs as your user on this machine (it is your code; hub verify is what
runs other people's plugins in a sandbox).

Options:
  --no-tests             skip step 2
  --no-start             skip step 3
  --broker-url <url>     an amqp:// broker for step 3 (MAGELLON_BROKER_URL)
  --python <path>        the Python for step 2 (default: python3)
  --timeout <seconds>    how long step 2 may take (default ${DEFAULT_TEST_TIMEOUT_S})
  --coreservice <path>   the coreservice command for step 3 (default: this repo's)
  -h, --help             show this help

Exit codes: 0 every step passed, 1 a step failed (it is named), 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('test', args, {
      'no-tests': { type: 'boolean' },
      'no-start': { type: 'boolean' },
      'broker-url': { type: 'string' },
      python: { type: 'string' },
      timeout: { type: 'string' },
      coreservice: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length !== 1) throw new UsageError('hub test takes one plugin dir; see hub test --help');
    const dir = resolve(positionals[0]!);
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
      throw new UsageError(`hub test takes a plugin's source folder; ${safe(positionals[0]!)} is not one`);
    const timeoutS = values.timeout === undefined ? DEFAULT_TEST_TIMEOUT_S : Number(values.timeout);
    if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 24 * 3600)
      throw new UsageError('--timeout takes whole seconds, from 1 to 86400');
    const broker = values['broker-url'];
    const brokerProblem = broker === undefined ? undefined : brokerUrlProblem(broker);
    if (brokerProblem) throw new UsageError(`--broker-url: ${brokerProblem}`);
    const coreservice = values.coreservice ? resolve(values.coreservice) : defaultCoreservice();
    if (!values['no-start'] && !existsSync(coreservice))
      throw new UsageError(
        `the coreservice command is not at ${safe(coreservice)}; pass --coreservice or --no-start`,
      );

    // 1. lint
    const lint = await lintPlugin(dir, {});
    printFindings(
      lint.findings.filter((f) => f.severity !== 'info'),
      'text',
    );
    const { errors, warnings } = countBySeverity(lint.findings);
    const what = safe(
      lint.manifest ? `${lint.manifest.plugin_id} ${lint.manifest.version}` : positionals[0]!,
    );
    if (errors > 0) {
      console.error(red(`✖ lint: ${plural(errors, 'error')}, ${plural(warnings, 'warning')} (see above)`));
      return EXIT.failed;
    }
    console.error(green(`✔ lint: ${what}, ${plural(warnings, 'warning')}`));

    // 2. the plugin's own tests
    if (values['no-tests']) console.error(dim('- tests: skipped (--no-tests)'));
    else {
      const tests = await runPluginTests(dir, values.python ?? 'python3', timeoutS);
      if (!tests.ok) {
        console.error(red(`✖ tests: ${tests.summary}`));
        return EXIT.failed;
      }
      console.error(tests.ran ? green(`✔ tests: ${tests.summary}`) : yellow(`! tests: ${tests.summary}`));
    }

    // 3. start it as a lab would
    if (values['no-start']) {
      console.error(dim('- start: skipped (--no-start)'));
      return EXIT.ok;
    }
    const started = await startAndProbe(dir, coreservice, broker, lint.manifest);
    for (const line of started.lines) console.error(`  ${line}`);
    if (!started.ok) {
      console.error(red(`✖ start: ${started.summary}`));
      return EXIT.failed;
    }
    console.error(green(`✔ start: ${started.summary}`));
    return EXIT.ok;
  },
};

interface StepResult {
  ok: boolean;
  /** Whether anything ran (no tests/ folder: nothing did). */
  ran?: boolean;
  summary: string;
  lines: string[];
}

/** Whether `python` can import pytest (a missing interpreter is not an error here: unittest then fails loudly). */
function hasPytest(python: string): Promise<boolean> {
  return new Promise((done) => {
    const child = spawn(python, ['-c', 'import pytest'], { stdio: 'ignore' });
    child.on('error', () => done(false));
    child.on('close', (code) => done(code === 0));
  });
}

/** Runs the plugin's tests in its dir, their output shown (escaped) as it comes. */
async function runPluginTests(dir: string, python: string, timeoutS: number): Promise<StepResult> {
  const testsDir = join(dir, 'tests');
  if (!statSync(testsDir, { throwIfNoEntry: false })?.isDirectory())
    return { ok: true, ran: false, summary: 'no tests/ folder: nothing to run', lines: [] };
  const pytest = await hasPytest(python);
  const argv = pytest
    ? ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests']
    : ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'];
  const runner = pytest ? 'pytest' : 'unittest';
  console.error(dim(`  running ${safe(python)} ${argv.join(' ')}`));
  return new Promise((done) => {
    // Its own process group, so a test that starts servers cannot leave them behind on a timeout.
    const child = spawn(python, argv, {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    });
    let shown = 0;
    let tail = '';
    const show = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4096);
      if (shown >= MAX_TEST_OUTPUT) return;
      shown += text.length;
      process.stderr.write(safeLines(text));
    };
    child.stdout.on('data', show);
    child.stderr.on('data', show);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutS * 1000);
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ ok: false, summary: `${safe(python)} could not be run (${safe(err.message)})`, lines: [] });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup(child.pid);
      // unittest and pytest each end with a line that counts what ran ("Ran 12 tests", "12 passed").
      const counted = tail
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^Ran \d+ tests?|\d+ (passed|failed)|no tests ran/.test(l))
        .pop();
      const by = counted ? `${runner}: ${safe(counted.replace(/^=+\s*|\s*=+$/g, ''))}` : runner;
      if (timedOut) done({ ok: false, summary: `${runner} did not finish within ${timeoutS} s`, lines: [] });
      else if (code === 0) done({ ok: true, ran: true, summary: by, lines: [] });
      else if (pytest && code === 5)
        done({ ok: true, ran: false, summary: 'pytest found no tests', lines: [] });
      else
        done({
          ok: false,
          summary: `${by} (${code === null ? `ended by ${signal}` : `exit status ${code}`})`,
          lines: [],
        });
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The `--json` document coreservice prints: `{ok, result}` or `{ok: false, error}`. */
function parseOutput(stdout: string): { result?: Record<string, unknown>; error?: Record<string, unknown> } {
  try {
    const doc = JSON.parse(stdout) as Record<string, unknown>;
    return {
      result: doc.result as Record<string, unknown> | undefined,
      error: doc.error as Record<string, unknown> | undefined,
    };
  } catch {
    return {};
  }
}

/** Packs the plugin, installs it into a throw-away plugins dir, asks its /health, uninstalls it. */
async function startAndProbe(
  dir: string,
  coreservice: string,
  broker: string | undefined,
  manifest: ArchiveManifest | undefined,
): Promise<StepResult> {
  const scratch = mkdtempSync(join(tmpdir(), 'hub-test-'));
  // Passable for other users: CoreService run as root starts the plugin under a uid of its own.
  chmodSync(scratch, 0o711);
  const pluginsDir = join(scratch, 'plugins');
  const lines: string[] = [];
  const env: Record<string, string> = broker ? { MAGELLON_BROKER_URL: broker } : {};
  const cs = (argv: string[]) =>
    runCommand([process.execPath, coreservice, ...argv, '--plugins-dir', pluginsDir, '--json'], env);
  let installedId: string | undefined;
  let watch: BrokerWatch | undefined;
  try {
    // Listening before the plugin starts, so its announce (sent once, at start) cannot be missed.
    if (broker && manifest) {
      const w = await watchAnnounce(broker, manifest);
      if ('why' in w)
        return {
          ok: false,
          summary: `cannot listen on the broker ${shownBrokerUrl(broker)}: ${safe(w.why)}`,
          lines,
        };
      watch = w;
    }
    let archive: string;
    try {
      archive = (await packPlugin(dir, { out: join(scratch, 'plugin.mpn') })).file;
    } catch (err) {
      if (err instanceof PackError)
        return { ok: false, summary: `it does not pack: ${safe(err.message)}`, lines };
      throw err;
    }
    const install = await cs(['install-file', archive]);
    const doc = parseOutput(install.stdout);
    if (install.code !== 0 || !doc.result) {
      const why = installFailure(install, doc.error ?? {}, lines);
      return { ok: false, summary: `CoreService could not install and start it: ${why}`, lines };
    }
    installedId = String(doc.result.plugin_id);
    const method = String(doc.result.install_method ?? doc.result.method ?? '?');
    const status = parseOutput((await cs(['status', installedId])).stdout).result ?? {};
    const probes = await probeReplicas(status, lines);
    const announce = watch && manifest && broker ? { watch, manifest, broker } : undefined;
    return await startVerdict(method, probes, announce, lines);
  } finally {
    await watch?.close();
    if (installedId) {
      const gone = await cs(['uninstall', installedId, '--purge']);
      if (gone.code !== 0) await cs(['uninstall', installedId]);
    }
    rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Listens on the broker for the plugin's announce (or why it cannot). */
function watchAnnounce(broker: string, manifest: ArchiveManifest): ReturnType<typeof watchBroker> {
  return watchBroker(broker, {
    plugin_id: manifest.plugin_id,
    category: manifest.category,
    ...(manifest.backend_id ? { backend_id: manifest.backend_id } : {}),
    ...(manifest.name ? { name: manifest.name } : {}),
  });
}

/** Why CoreService's install failed, in words; its error's details go into `lines`. */
function installFailure(install: CommandRun, e: Record<string, unknown>, lines: string[]): string {
  for (const d of Array.isArray(e.details) ? e.details : []) lines.push(safe(String(d)));
  return install.timedOut
    ? 'CoreService gave no answer within 10 minutes'
    : e.message
      ? `${safe(String(e.code ?? 'failed'))}: ${safe(String(e.message))}`
      : safe(install.stderr.trim().split('\n').slice(-3).join(' ') || `exit status ${install.code}`);
}

/** Asks every replica CoreService reports for /health and /version (answers into `lines`); the /health answers. */
async function probeReplicas(status: Record<string, unknown>, lines: string[]): Promise<string[]> {
  const replicas = (Array.isArray(status.replicas) ? status.replicas : []) as Record<string, unknown>[];
  const probes: string[] = [];
  for (const r of replicas) {
    if (typeof r.host !== 'string' || typeof r.port !== 'number') continue;
    const base = `http://${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}`;
    for (const path of ['/health', '/version']) {
      const answer = await ask(`${base}${path}`);
      lines.push(`replica ${r.replica ?? 0} GET ${path} → ${answer}`);
      if (path === '/health') probes.push(answer);
    }
  }
  return probes;
}

/** The start step's result from the /health answers and, with a broker, whether the plugin announced. */
async function startVerdict(
  method: string,
  probes: string[],
  announce: { watch: BrokerWatch; manifest: ArchiveManifest; broker: string } | undefined,
  lines: string[],
): Promise<StepResult> {
  const healthyNow = probes.length > 0 && probes.every((p) => p.startsWith('200 '));
  let via = '';
  if (announce) {
    const { watch, manifest, broker } = announce;
    // CoreService's check passes on /health as well: whether it announced is asked here, within
    // what is left of its health_check.timeout_seconds (at least a few seconds).
    const heard = await watch.announced(Math.max(5, manifest.health_check.timeout_seconds) * 1000);
    for (const line of watch.describe()) lines.push(line);
    if (!heard)
      return {
        ok: false,
        summary: `it started, but never announced itself on the broker ${shownBrokerUrl(broker)} (Magellon finds plugins by their announce: see magellon_broker.py in hub scaffold's template)`,
        lines,
      };
    via = ', announced on the broker';
  }
  if (probes.length === 0) {
    // No address to ask (a plugin that only announces itself): CoreService's own check passed.
    return {
      ok: true,
      summary: `installed with ${safe(method)} and healthy${via} (no HTTP address to ask)`,
      lines,
    };
  }
  if (!healthyNow)
    return { ok: false, summary: 'it passed the health check, then /health stopped answering 200', lines };
  return {
    ok: true,
    summary: `installed with ${safe(method)}, healthy${via}, ${plural(probes.length, 'replica')} answered /health`,
    lines,
  };
}

/** One GET: "<status> <body>" (the body escaped and cut to 200 characters), or why it failed. */
async function ask(url: string): Promise<string> {
  try {
    const res = await request(url, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = (await res.body.text()).slice(0, 2000).trim();
    return `${res.statusCode} ${safe(body.length > 200 ? `${body.slice(0, 200)}…` : body)}`;
  } catch (err) {
    return `no answer (${safe((err as Error).message)})`;
  }
}
