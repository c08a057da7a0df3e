// PR_RULES against the codes they declare, as finding-codes.test.ts holds every code to a fixture:
// each code a rule declares has its fixture, every verify.* code belongs to a rule, and on each
// code's own pull request the finding comes from a rule that declares it while no rule reports a
// code it does not declare.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUpFixtures, FIXTURES } from '../../../test/finding-fixtures/all';
import { type PrScenario, scenarioRepo, verifyScenarios } from '../../../test/finding-fixtures/verify';
import { FINDING_CODES, type FindingCode } from '../../finding-codes';
import type { Finding } from '../../findings';
import { ARCHIVE_STEPS, PR_RULES, runPrRules } from './pr-rules';
import { loadPrContext, type VerifyOptions } from './verify-pr';

afterAll(cleanUpFixtures);

const NEW = 'catalog/plugins/fft/1.3.0.yaml';
const ARCHIVE = 'catalog/assets/plugins/fft-1.3.0.mpn';
/** Owns every starter plugin and is a maintainer. */
const OWNER = 'sstagg';

/** A pull request adding fft 1.3.0, packed and described correctly, then broken by `breakIt`. */
function newVersion(breakIt: (r: Parameters<PrScenario['change']>[0]) => void, line: string | 1): PrScenario {
  return {
    change: async (r) => {
      await r.addVersion('fft', '1.3.0');
      breakIt(r);
    },
    expected: (r) => ({ file: NEW, line: line === 1 ? 1 : r.lineOf(NEW, line) }),
    author: OWNER,
  };
}

/** Pull requests for the codes of the rules that report no `verify.*` code of their own, and the install's. */
const moreScenarios: Array<[FindingCode, PrScenario, Partial<VerifyOptions>?]> = [
  ['entry.missing-field', newVersion((r) => r.edit(NEW, (t) => t.replace(/^license: .*\n/m, '')), 1)],
  ['archive.missing', newVersion((r) => r.remove(ARCHIVE), 'url:')],
  [
    'archive.sha256-mismatch',
    newVersion(
      (r) => r.edit(NEW, (t) => t.replace(/sha256: [0-9a-f]{64}/, `sha256: ${'b'.repeat(64)}`)),
      'sha256:',
    ),
  ],
  // The installer is the caller's (the CLI's throw-away CoreService, run by verify.install-failed's
  // fixture); here it reports what such a run reports when the plugin never becomes healthy.
  [
    'verify.install-failed',
    newVersion(() => {}, 'url:'),
    { install: async () => 'the plugin exited before its health check passed' },
  ],
];

const scenarios: Array<[FindingCode, PrScenario, Partial<VerifyOptions>?]> = [
  ...(Object.entries(verifyScenarios) as Array<[FindingCode, PrScenario]>),
  ...moreScenarios,
];

/** Which rules reported something over the scenarios run so far, and how many ran. */
const rulesSeen = new Set<string>();
let scenariosRun = 0;

describe('PR_RULES: the rules of a catalog pull request and the codes they declare', () => {
  it('every code a rule (or an archive step) declares has a fixture; every verify.* code is some rule’s', () => {
    const names = PR_RULES.map((r) => r.name);
    expect(new Set(names).size, names.join(', ')).toBe(names.length);
    for (const rule of [...PR_RULES, ...ARCHIVE_STEPS]) {
      expect(rule.codes.length, rule.name).toBeGreaterThan(0);
      for (const code of rule.codes) {
        expect(FINDING_CODES[code], `${rule.name}: ${code} is not a finding code`).toBeDefined();
        expect(FIXTURES[code], `${rule.name}: ${code} has no fixture`).toBeDefined();
      }
    }
    const declared = new Set(PR_RULES.flatMap((r) => r.codes));
    const verifyCodes = (Object.keys(FINDING_CODES) as FindingCode[]).filter((c) => c.startsWith('verify.'));
    expect(verifyCodes.filter((c) => !declared.has(c))).toEqual([]);
  });

  for (const [code, scenario, extra] of scenarios) {
    it(`${code}: reported by a rule that declares it; no rule reports a code it does not declare`, async () => {
      const r = await scenarioRepo(scenario);
      const ctx = await loadPrContext({ repo: r.dir, base: 'main', author: scenario.author, ...extra });
      const reported = new Map<string, readonly Finding[]>();
      await runPrRules(ctx, PR_RULES, (rule, found) => reported.set(rule.name, found));
      for (const rule of PR_RULES) {
        const found = reported.get(rule.name) ?? [];
        if (found.length > 0) rulesSeen.add(rule.name);
        const undeclared = found.filter((f) => !rule.codes.includes(f.code));
        expect(undeclared, `${rule.name} reports codes it does not declare`).toEqual([]);
      }
      const { file, line } = scenario.expected(r);
      const by = PR_RULES.filter((rule) =>
        (reported.get(rule.name) ?? []).some((f) => f.code === code && f.file === file && f.line === line),
      );
      expect(
        by.map((rule) => rule.name),
        JSON.stringify(ctx.findings.items),
      ).not.toEqual([]);
      scenariosRun++;
    });
  }

  // Runs after the scenarios above (a file's tests run in order); skipped when some did not pass.
  it('every rule reported its finding on one of the pull requests above', (t) => {
    if (scenariosRun < scenarios.length) t.skip();
    expect(PR_RULES.map((r) => r.name).filter((n) => !rulesSeen.has(n))).toEqual([]);
  });
});
