import type { Finding } from '../../findings';
import { escapeControl } from '../../text';
import type { VerifyResult } from './verify-pr';

/** The marker that identifies the hub's own pull-request comment, so it is updated rather than repeated. */
export const REPORT_MARKER = '<!-- magellon-hub-verify -->';

/**
 * Text from a pull request made safe inside Markdown: no HTML, no table breaks, no code-span
 * escapes, no @mentions that would notify people, no control characters, one line.
 */
export function mdText(s: string): string {
  return escapeControl(s)
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\\`*_[\]|<>&~]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/@/g, '@\u200b');
}

const icon = (f: Finding) => (f.severity === 'error' ? '❌' : f.severity === 'warning' ? '⚠️' : 'ℹ️');

/** The report a reviewer reads: job summary and pull-request comment. */
export function renderVerifyMarkdown(result: VerifyResult): string {
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  const warnings = result.findings.filter((f) => f.severity === 'warning').length;
  const lines = [
    REPORT_MARKER,
    errors > 0
      ? `## ❌ Catalog check failed: ${errors} error${errors === 1 ? '' : 's'}${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`
      : `## ✅ Catalog check passed${warnings ? ` with ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`,
    '',
    `Checked \`${result.head.slice(0, 12)}\` against \`${result.base.slice(0, 12)}\` (merge base \`${result.mergeBase.slice(0, 12)}\`): ${result.changes.length} entr${result.changes.length === 1 ? 'y' : 'ies'} changed, ${result.archivesChecked} archive${result.archivesChecked === 1 ? '' : 's'} verified, ${result.installed} installed and healthy; ${result.entries} entries in the catalog.`,
    '',
  ];
  if (result.changes.length > 0) {
    lines.push('| change | plugin | version | tier | file |', '| --- | --- | --- | --- | --- |');
    for (const c of result.changes) {
      lines.push(
        `| ${c.kind} | ${mdText(c.pluginId ?? '?')} | ${mdText(c.version ?? '?')} | ${mdText(c.tier ?? '')} | ${mdText(c.file)} |`,
      );
    }
    lines.push('');
  }
  if (result.otherFiles.length > 0) {
    lines.push(`Other catalog files changed: ${result.otherFiles.map(mdText).join(', ')}`, '');
  }
  if (result.findings.length > 0) {
    lines.push('| | where | code | message |', '| --- | --- | --- | --- |');
    for (const f of result.findings) {
      const where = `${mdText(f.file)}${f.line ? `:${f.line}` : ''}`;
      lines.push(`| ${icon(f)} | ${where} | \`${f.code}\` | ${mdText(f.message)} |`);
    }
    lines.push('');
  }
  lines.push(
    result.label === 'tier:verified-request'
      ? `Tier: this pull request sets or keeps \`verified\`${result.maintainerApproved ? ' (a maintainer is the author or approved)' : ''}: label \`tier:verified-request\`.`
      : 'Tier: community only: label `tier:community`.',
  );
  return `${lines.join('\n')}\n`;
}
