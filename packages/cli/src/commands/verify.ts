import {
  chmodSync,
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inertJson } from '@magellon/hub-core';
import { renderVerifyMarkdown, type VerifyResult, verifyPullRequest } from '@magellon/hub-core/node';
import { Agent, interceptors, request } from 'undici';
import { type ContainOptions, container } from '../contain';
import { type CommandRun, defaultCoreservice, INSTALL_TIMEOUT_MS, runCommand } from '../coreservice-run';
import {
  countBySeverity,
  endProgress,
  type FindingFormat,
  green,
  plural,
  printFindings,
  progress,
  red,
  safe,
} from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import { holdDockerNetwork } from '../verify-docker';
import type { Command } from './command';
import { findingFormat } from './validate';

/** How long an https archive download may take in all. */
const DOWNLOAD_TIMEOUT_MS = 5 * 60_000;

export const verifyCommand: Command = {
  name: 'verify',
  help: `Usage: hub verify --base <ref> [--head <ref>] [repo-dir] [options]

Checks a catalog pull request in a git repository, reading both sides from git objects
(the work tree is neither read nor changed):
  · the entries it adds or changes: schema and catalog rules, and for each new version
    its archive (from the PR's assets/ or downloaded from its https URL, size-capped):
    size_bytes, sha256, the safe-unzip and file_checksums checks, the manifest against
    the entry, hub lint's errors as hub publish judges them (the scaffold's placeholder
    description or author is one), and a real install into a throw-away CoreService
    that must pass its health check;
  · immutability: a published version may only gain or change yanked/deprecated; it is
    never deleted, and a published archive is never replaced;
  · ownership: only an owner of a plugin (plugins/<id>/owners.yaml of the BASE ref),
    or someone an owner or a maintainer approved, adds, yanks, deprecates or changes
    its versions; only an owner (or an owner's approval) changes its owners.yaml; a
    new plugin's PR adds owners.yaml naming its author;
  · tier: "verified" is set or kept only when the author, or an approver, is a
    maintainer in maintainers.yaml of the BASE ref; maintainers.yaml changes are flagged;
  · the catalog-wide invariants (unique versions, archive URLs and ids);
  · nothing outside the catalog folder: such files are errors (a maintainer reviews).
Unchanged entries are read for the invariants but never re-checked or re-downloaded.

Arguments:
  repo-dir               the git repository (default: the current directory)

Options:
  --base <ref>           what is published: the branch the PR targets (required)
  --head <ref>           the pull request's commit (default: HEAD)
  --catalog <path>       the catalog's folder in the repo (default: catalog)
  --author <login>       the PR author's GitHub login (unknown: neither an owner
                         nor a maintainer)
  --approved-by <login>  a login that approved the PR (repeatable)
  --no-install           skip the install smoke test: no plugin code runs (CI's
                         report job)
  --install-only         only the install smoke test (CI's separate smoke job): each
                         new version whose archive passes the checks is installed and
                         health-checked; prints only the install results and writes no
                         report or findings file. Exit 0 when every new version
                         installed and passed its health check (or there is none)
  --coreservice <path>   the coreservice command to install with (default: this repo's)
  --report <file.md>     write the Markdown report (job summary, PR comment)
  --findings <file.json> write the result as JSON (findings with file, line, code, message)
  --format <f>           what stdout gets: text (default), json, or github (annotations)
  -h, --help             show this help

Exit codes: 0 the PR may be merged (warnings allowed), 1 errors found or the check
could not run, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('verify', args, {
      base: { type: 'string' },
      head: { type: 'string' },
      catalog: { type: 'string' },
      author: { type: 'string' },
      'approved-by': { type: 'string', multiple: true },
      'no-install': { type: 'boolean' },
      'install-only': { type: 'boolean' },
      coreservice: { type: 'string' },
      report: { type: 'string' },
      findings: { type: 'string' },
      format: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    if (positionals.length > 1) throw new UsageError('hub verify takes at most one repo dir');
    if (!values.base)
      throw new UsageError('hub verify needs --base <ref> (the branch the pull request targets)');
    const installOnly = !!values['install-only'];
    if (installOnly && (values['no-install'] || values.report || values.findings)) {
      throw new UsageError(
        '--install-only runs only the install smoke test, whose result is the exit status: it takes no --no-install, --report or --findings',
      );
    }
    const format = findingFormat(values.format);
    const repo = resolve(positionals[0] ?? '.');
    const coreservice = values.coreservice ? resolve(values.coreservice) : defaultCoreservice();
    if (!values['no-install'] && !existsSync(coreservice)) {
      throw new UsageError(
        `the coreservice command is not at ${coreservice}; pass --coreservice or --no-install`,
      );
    }
    const result = await verifyPullRequest({
      repo,
      base: values.base,
      head: values.head,
      catalogPath: values.catalog ?? 'catalog',
      author: values.author,
      approvedBy: values['approved-by'],
      download: downloadArchive,
      install: values['no-install'] ? undefined : (archive) => smokeInstall(coreservice, archive),
      onProgress: (m) => progress(safe(m)),
    });
    endProgress();
    if (installOnly) return reportInstalls(result, format);
    if (values.report) writeFileSync(values.report, renderVerifyMarkdown(result));
    if (values.findings) writeFileSync(values.findings, `${inertJson(result, 2)}\n`);
    printFindings(result.findings, format);
    const { errors, warnings } = countBySeverity(result.findings);
    if (format !== 'json') console.error(summary(result, errors, warnings));
    return errors > 0 ? EXIT.failed : EXIT.ok;
  },
};

/**
 * `--install-only`: what the smoke test did, and nothing else (the report comes from the run that
 * never starts plugin code). Exit 0 only when every new version installed and was healthy.
 */
function reportInstalls(result: VerifyResult, format: FindingFormat): number {
  const failed = result.findings.filter((f) => f.code === 'verify.install-failed');
  printFindings(failed, format);
  const added = result.changes.filter((c) => c.kind === 'added').length;
  const notTried = added - result.installed - failed.length;
  const parts = [
    added === 0
      ? 'no new version to install'
      : `${result.installed} of ${plural(added, 'new version')} installed and healthy`,
  ];
  if (failed.length > 0) parts.push(`${failed.length} failed`);
  if (notTried > 0)
    parts.push(`${notTried} not installed: the archive fails the check (run without --install-only)`);
  const text = `install smoke test: ${parts.join('; ')}`;
  const ok = result.installed === added;
  if (format !== 'json') console.error(ok ? green(`✔ ${text}`) : red(`✖ ${text}`));
  return ok ? EXIT.ok : EXIT.failed;
}

function summary(result: VerifyResult, errors: number, warnings: number): string {
  const changes = result.changes.map((c) => `${c.kind} ${c.pluginId ?? '?'} ${c.version ?? '?'}`).join(', ');
  const text = `${plural(result.changes.length, 'entry').replace('entrys', 'entries')} changed${changes ? ` (${safe(changes)})` : ''}; ${plural(result.archivesChecked, 'archive')} verified, ${result.installed} installed; ${plural(errors, 'error')}, ${plural(warnings, 'warning')} · label ${result.label}`;
  return errors > 0 ? red(`✖ ${text}`) : green(`✔ ${text}`);
}

/**
 * Installs the archive into a throw-away plugins dir with the real coreservice (which unpacks it
 * safely, prepares its backend, starts it and waits for its health check), then uninstalls it.
 * Each run is contained (see contain.ts): PID and network namespaces of its own, the host's files
 * read-only but for a scratch dir, so nothing the plugin starts outlives the run and nothing it
 * writes lands anywhere but the scratch dir, which goes too. The report is written after this,
 * where the plugin never could. The docker daemon is out of reach of that first run; when
 * CoreService then says that only its docker entry could fit this host, the install runs again with
 * docker, in a network holder's namespace (verify-docker.ts), and everything docker made for it is
 * removed afterwards. Resolves to undefined when it was healthy, or to what failed. Its network
 * namespace reaches no Python index, so a uv entry installs offline (MAGELLON_PYTHON_OFFLINE=1):
 * from the archive's wheels/ only, never waiting on an index that cannot answer.
 */
async function smokeInstall(coreservice: string, archive: string): Promise<string | undefined> {
  const box = container();
  if (typeof box === 'string') return `the install smoke test cannot be contained here: ${box}`;
  // Other users may pass through it: CoreService runs the plugin under a uid of its own.
  const scratch = mkdtempSync(join(tmpdir(), 'hub-verify-install-'));
  chmodSync(scratch, 0o711);
  const pluginsDir = join(scratch, 'plugins');
  const inside = join(scratch, 'archive.mpn');
  copyFileSync(archive, inside);
  const runner = (env: Record<string, string>, opts?: ContainOptions) => (args: string[]) =>
    runCommand(
      [
        ...box.prefix(scratch, [process.execPath, coreservice], opts),
        process.execPath,
        coreservice,
        ...args,
        '--plugins-dir',
        pluginsDir,
        '--json',
      ],
      { MAGELLON_PYTHON_OFFLINE: '1', ...env },
    );
  try {
    // No daemon answers at this socket: CoreService picks a method that runs without docker.
    const first = await installThenUninstall(
      runner({ DOCKER_HOST: `unix://${join(scratch, 'no-docker.sock')}`, MAGELLON_DOCKER_NETWORK: 'none' }),
      inside,
    );
    const onlyDocker =
      first.error?.code === 'incompatible' &&
      (first.error.details ?? []).some((d) => /^install\[\d+\] docker: /.test(d));
    if (!onlyDocker) return first.failure;
    const hold = await holdDockerNetwork(scratch);
    if ('why' in hold)
      return `docker is the only install method of this plugin that fits here, and it cannot run contained: ${hold.why}`;
    try {
      return (
        await installThenUninstall(runner(hold.env, { netns: hold.netns, sockets: [hold.socket] }), inside, [
          '--method',
          'docker',
        ])
      ).failure;
    } finally {
      await hold.cleanup();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  }
}

type Contained = (args: string[]) => Promise<CommandRun>;

/** `coreservice install-file`, then `uninstall`: what failed (undefined: nothing), and the install's error. */
async function installThenUninstall(
  run: Contained,
  file: string,
  more: string[] = [],
): Promise<{ failure?: string; error?: { code?: string; message?: string; details?: string[] } }> {
  const r = await run(['install-file', file, ...more]);
  if (r.code === 0) {
    let id: string;
    try {
      id = (JSON.parse(r.stdout) as { result: { plugin_id: string } }).result.plugin_id;
    } catch {
      return {
        failure: `coreservice said it installed, but its --json answer could not be read: ${r.stdout.slice(0, 200)}`,
      };
    }
    const gone = await run(['uninstall', id]);
    if (gone.code !== 0)
      return {
        failure: `it installed, but coreservice could not uninstall it: ${gone.stdout.trim() || gone.stderr.trim()}`,
      };
    return {};
  }
  try {
    const error = JSON.parse(r.stdout).error as { code?: string; message?: string; details?: string[] };
    return { failure: `${error.code ?? 'failed'}: ${error.message ?? r.stderr.trim()}`, error };
  } catch {
    return {
      failure: r.timedOut
        ? `no answer within ${INSTALL_TIMEOUT_MS / 60_000} minutes`
        : r.stderr.trim().slice(-2000) || `exit ${r.code}`,
    };
  }
}

/** Streams an https archive to `dest`, refusing more than `maxBytes` and giving up after a timeout. */
async function downloadArchive(url: string, dest: string, maxBytes: number): Promise<void> {
  const signal = AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS);
  // Release assets are commonly served through a redirect (GitHub's go to its object store).
  const agent = new Agent();
  const dispatcher = agent.compose(interceptors.redirect({ maxRedirections: 5 }));
  try {
    const res = await request(url, { signal, dispatcher, headersTimeout: 30_000, bodyTimeout: 30_000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`the server answered ${res.statusCode}`);
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await res.body.dump();
      throw new Error(`it is ${declared} bytes, more than size_bytes allows`);
    }
    let seen = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (seen > maxBytes)
          cb(new Error(`it is longer than size_bytes allows (stopped after ${maxBytes} bytes)`));
        else cb(null, chunk);
      },
    });
    await pipeline(res.body, cap, createWriteStream(dest, { flags: 'wx' }));
  } finally {
    // No idle keep-alive socket may hold the command open once it is done.
    await agent.close();
  }
}
