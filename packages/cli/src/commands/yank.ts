import { entryFileName, entryPath } from '@magellon/hub-core';
import { checkEntryBytes, renderEntryYaml } from '@magellon/hub-core/node';
import { baseCommit, ProposeError, proposeChange, showFile } from '../catalog-pr';
import { printFindings, safe, safeLines } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';
import {
  catalogRepo,
  GIT_HELP,
  GIT_OPTIONS,
  progressTo,
  proposalFailed,
  reportProposal,
  reportProposed,
} from './publish';

const MAX_REASON = 500;

export const yankCommand: Command = {
  name: 'yank',
  help: `Usage: hub yank <plugin_id>@<version> --reason <text> [options]

Proposes yanking a published version as a pull request: its catalog entry gains
  yanked:
    reason: <text>
    at: <now>
and nothing else changes (hub verify allows exactly that on a published entry).
A yanked version stays downloadable for installs that ask for it by exact number;
resolvers skip it otherwise.

  --reason <text>        why (shown to users; required, at most ${MAX_REASON} characters)
  --at <iso>             when (default: now)

${GIT_HELP.replace('publish/<id>-<version>', 'yank/<id>-<version>')}

Exit codes: 0 proposed (or printed, with --dry-run), 1 failed, 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('yank', args, {
      ...GIT_OPTIONS,
      reason: { type: 'string' },
      at: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    const spec = /^([a-z0-9][a-z0-9._-]*)@([0-9A-Za-z.+-]+)$/.exec(positionals[0] ?? '');
    if (positionals.length !== 1 || !spec)
      throw new UsageError('hub yank takes <plugin_id>@<version>, e.g. ctf@1.1.0');
    const reason = (values.reason ?? '').trim();
    if (!reason) throw new UsageError('hub yank needs --reason "<why users should not install it>"');
    if (reason.length > MAX_REASON) throw new UsageError(`--reason is at most ${MAX_REASON} characters`);
    const at = values.at ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (Number.isNaN(Date.parse(at))) throw new UsageError('--at takes an ISO 8601 time');
    const [, id, version] = spec as unknown as [string, string, string];
    const json = !!values.json;
    const say = progressTo(json);
    const repo = await catalogRepo(values);
    try {
      const base = await baseCommit(repo.dir, repo.remote, repo.base, say);
      const path = `${repo.catalog}/${entryPath(id, version)}`;
      const before = await showFile(repo.dir, base, path);
      if (!before)
        throw new ProposeError(`${path} is not on ${repo.base}: ${id} ${version} is not published`);
      const current = checkEntryBytes(before, { file: path, dir: id, fileName: entryFileName(version) });
      if (!current.loaded) {
        printFindings(current.findings, json ? 'json' : 'text');
        throw new ProposeError(`${path} on ${repo.base} is not a valid entry; fix it first`);
      }
      if (current.loaded.entry.yanked) {
        throw new ProposeError(`${id} ${version} is already yanked (${current.loaded.entry.yanked.reason})`);
      }
      // The entry's text stays byte for byte; the yank is appended, quoted by the YAML writer.
      const text = before.toString('utf8');
      const after = `${text}${text.endsWith('\n') ? '' : '\n'}${renderEntryYaml({ yanked: { reason, at } })}`;
      const checked = checkEntryBytes(Buffer.from(after), {
        file: path,
        dir: id,
        fileName: entryFileName(version),
      });
      if (!checked.loaded) {
        printFindings(checked.findings, json ? 'json' : 'text');
        throw new ProposeError('the yanked entry would fail the catalog schema (see above)');
      }
      const branch = values.branch ?? `yank/${id}-${version}`;
      const title = `Yank ${id} ${version}`;
      const body = `Yanks **${id} ${version}**: ${reason}\n\nOpened by \`hub yank\`. Only \`yanked\` is added; the entry is otherwise unchanged.`;
      if (values['dry-run']) {
        return reportProposal(
          json,
          { dryRun: true, path, yaml: after, branch, base: repo.base, title, body },
          [
            `# ${path}`,
            safeLines(after).trimEnd(),
            '',
            `would open a pull request from ${safe(branch)} into ${safe(repo.base)}: ${safe(title)}`,
          ],
        );
      }
      const result = await proposeChange({
        repo: repo.dir,
        remote: repo.remote,
        base: repo.base,
        branch,
        message: `${title}\n\n${reason}\n`,
        files: [{ path, bytes: Buffer.from(after) }],
        title,
        body,
        github: repo.github,
        onStep: say,
        baseCommit: base,
      });
      return reportProposed(json, result, { path });
    } catch (err) {
      return proposalFailed(err, json);
    }
  },
};
