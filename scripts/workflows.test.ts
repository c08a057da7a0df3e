// The GitHub Actions workflows, checked the way GitHub would read them (action-validator's schema)
// and against the project's rules: least permissions, actions pinned by commit, no
// pull_request_target, no expression pasted into a shell, and `hub verify` as the PR gate.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '..', '.github', 'workflows');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'));

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  jobs: Record<string, { permissions?: unknown; steps: Step[] }>;
}
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');
const parse = (f: string) => load(read(f)) as Workflow;
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const WRITE = (p: Workflow['permissions']) =>
  typeof p === 'object'
    ? Object.entries(p)
        .filter(([, v]) => v === 'write')
        .map(([k]) => k)
    : [];

describe('.github/workflows', () => {
  it('has the four workflows', () => {
    expect(files.sort()).toEqual(['catalog-comment.yml', 'ci.yml', 'deploy.yml', 'verify-catalog.yml']);
  });

  it('the validator is no rubber stamp: a broken workflow has errors', () => {
    const broken = 'on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps: not-a-list\n';
    expect(validateWorkflow(broken).errors.length).toBeGreaterThan(0);
  });

  for (const f of files) {
    describe(f, () => {
      it('is a valid workflow', () => {
        const state = validateWorkflow(read(f));
        expect(state.errors, JSON.stringify(state.errors, null, 2)).toEqual([]);
      });

      it('declares top-level permissions and never uses pull_request_target', () => {
        const w = parse(f);
        expect(typeof w.permissions, 'top-level permissions').toBe('object');
        expect(Object.keys(w.on)).not.toContain('pull_request_target');
        expect(read(f)).not.toMatch(/write-all|read-all/);
      });

      it('pins every action by commit sha', () => {
        for (const s of steps(parse(f)).filter((s) => s.uses)) {
          expect(s.uses, s.uses).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
        }
      });

      it('never pastes an expression into a shell (inputs reach scripts through env)', () => {
        for (const s of steps(parse(f)).filter((s) => s.run)) {
          expect(s.run, s.run).not.toMatch(/\$\{\{/);
        }
      });
    });
  }

  it('the pull-request check runs hub verify from the base branch with a read-only token', () => {
    const w = parse('verify-catalog.yml');
    expect(Object.keys(w.on).sort()).toEqual(['pull_request', 'pull_request_review']);
    expect(WRITE(w.permissions)).toEqual([]);
    const all = steps(w);
    const checkout = all.find((s) => s.uses?.startsWith('actions/checkout@'))!;
    expect(checkout.with).toMatchObject({
      ref: ['$', '{{ github.event.pull_request.base.sha }}'].join(''),
      'persist-credentials': false,
    });
    const verify = all.find((s) => s.run?.includes('hub.js verify'));
    expect(verify?.run).toMatch(/hub\.js verify \. --base "\$BASE_SHA" --head refs\/remotes\/pr\/head/);
    expect(verify?.run).toContain('--author "$AUTHOR"');
    expect(verify?.run).toContain('GITHUB_STEP_SUMMARY');
    expect(all.some((s) => s.uses?.startsWith('actions/upload-artifact@'))).toBe(true);
  });

  it('the comment follow-up writes only to pull requests and never checks out code', () => {
    const w = parse('catalog-comment.yml');
    expect(Object.keys(w.on)).toEqual(['workflow_run']);
    expect(w.permissions).toEqual({ actions: 'read', 'pull-requests': 'write' });
    const all = steps(w);
    expect(all.some((s) => s.uses?.startsWith('actions/checkout@'))).toBe(false);
    expect(all.some((s) => s.run)).toBe(false);
    const script = String(all.find((s) => s.uses?.startsWith('actions/github-script@'))!.with!.script);
    expect(script).toContain('<!-- magellon-hub-verify -->');
    expect(script).toContain('updateComment');
    expect(script).toContain('pull.head.sha !== process.env.HEAD_SHA');
  });

  it('ci runs the README test command through .ci/run; deploy uploads and deploys with secrets from its environment', () => {
    expect(steps(parse('ci.yml')).some((s) => s.run?.includes('bash .ci/run'))).toBe(true);
    expect(read(join('..', '..', '.ci', 'run'))).toMatch(/^npm test$/m);
    const deploy = parse('deploy.yml');
    expect(WRITE(deploy.permissions)).toEqual([]);
    const runs = steps(deploy).map((s) => s.run ?? '');
    expect(runs.some((r) => r.includes('hub.js upload dist'))).toBe(true);
    expect(runs.some((r) => r.includes('wrangler deploy'))).toBe(true);
    expect(runs.some((r) => r.includes('npm run build:site'))).toBe(true);
    expect(runs.some((r) => r.includes('wrangler pages deploy site-deploy'))).toBe(true);
    expect(read('deploy.yml')).toContain('environment: production');
  });
});
