// The GitHub Actions workflows, checked the way GitHub would read them (action-validator's schema)
// and against the project's rules: least permissions, actions pinned by commit, no
// pull_request_target, no expression pasted into a shell, and `hub verify` as the PR gate.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { load } from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '..', '.github', 'workflows');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'));

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  name?: string;
  needs?: string | string[];
  permissions?: Record<string, string> | string;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  jobs: Record<string, Job>;
}
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');
const parse = (f: string) => load(read(f)) as Workflow;
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
/** `${{ <expr> }}`, spelled so that this file holds no expression itself. */
const expr = (e: string) => ['$', `{{ ${e} }}`].join('');
const WRITE = (p: Workflow['permissions']) =>
  typeof p === 'object'
    ? Object.entries(p)
        .filter(([, v]) => v === 'write')
        .map(([k]) => k)
    : [];

describe('.github/workflows', () => {
  it('has the five workflows', () => {
    expect(files.sort()).toEqual([
      'catalog-comment.yml',
      'ci.yml',
      'deploy.yml',
      'release.yml',
      'verify-catalog.yml',
    ]);
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
    expect(Object.keys(w.jobs)).toEqual(['report', 'install-smoke-test']);
    for (const job of Object.values(w.jobs)) {
      expect(WRITE(job.permissions)).toEqual([]);
      const checkout = job.steps.find((s) => s.uses?.startsWith('actions/checkout@'))!;
      expect(checkout.with).toMatchObject({
        ref: expr('github.event.pull_request.base.sha'),
        'persist-credentials': false,
      });
    }
  });

  it('both jobs check the exact head sha of the event, and fail when it cannot be fetched', () => {
    const w = parse('verify-catalog.yml');
    const fetches = Object.values(w.jobs).map((j) => j.steps.find((s) => s.run?.includes('git fetch'))!);
    expect(fetches[0]).toEqual(fetches[1]);
    const fetch = fetches[0]!;
    expect(fetch.env?.HEAD_SHA).toBe(expr('github.event.pull_request.head.sha'));
    expect(fetch.run).toMatch(/if ! git cat-file -e "\$HEAD_SHA\^\{commit\}"[^\n]*; then\n[^\n]*\n\s*exit 1/);
    for (const job of Object.values(w.jobs)) {
      const hub = job.steps.find((s) => s.run?.includes('hub.js verify'))!;
      expect(hub.env?.HEAD_SHA).toBe(expr('github.event.pull_request.head.sha'));
      expect(hub.run).toMatch(/hub\.js verify \. --base "\$BASE_SHA" --head "\$HEAD_SHA" /);
    }
    expect(read('verify-catalog.yml')).not.toMatch(/--head refs\//);
  });

  it('the report job never runs plugin code and is the only one that uploads anything', () => {
    const { report } = parse('verify-catalog.yml').jobs;
    const verify = report!.steps.find((s) => s.run?.includes('hub.js verify'))!;
    expect(verify.run).toContain('--no-install');
    expect(verify.run).toContain('--author "$AUTHOR"');
    // Owners and maintainers approve a commit: an approval of an earlier one does not count.
    const reviews = report!.steps.find((s) => s.run?.includes('/reviews'))!;
    expect(reviews.env?.HEAD_SHA).toBe(expr('github.event.pull_request.head.sha'));
    expect(reviews.run).toContain('--arg sha "$HEAD_SHA"');
    expect(reviews.run).toContain('select(.state == "APPROVED" and .commit_id == $sha)');
    expect(verify.run).toContain('--report report/report.md --findings report/result.json');
    expect(verify.run).toContain('GITHUB_STEP_SUMMARY');
    expect(report!.steps.at(-1)!.uses).toMatch(/^actions\/upload-artifact@/);
    expect(report!.steps.at(-1)!.with).toMatchObject({ name: 'catalog-report', path: 'report/' });
  });

  it('the smoke job runs after the report is uploaded, and its exit status is all it produces', () => {
    const smoke = parse('verify-catalog.yml').jobs['install-smoke-test']!;
    expect(smoke.needs).toBe('report');
    expect(smoke.permissions).toEqual({ contents: 'read' });
    expect(smoke.steps.some((s) => s.uses?.startsWith('actions/upload-artifact@'))).toBe(false);
    expect(
      smoke.steps.some((s) => s.env && Object.values(s.env).some((v) => v.includes('github.token'))),
    ).toBe(false);
    // The step that starts plugin code is the last one: nothing after it could read what the code left.
    const last = smoke.steps.at(-1)!;
    expect(last.run).toContain('--install-only');
    for (const s of smoke.steps) {
      expect(s.run ?? '').not.toMatch(/--report|--findings|GITHUB_STEP_SUMMARY|GITHUB_OUTPUT|GITHUB_ENV/);
    }
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
    expect(script).toContain('listJobsForWorkflowRun');
  });

  it('the comment takes the install result from the smoke job found by its name in verify-catalog', () => {
    const step = steps(parse('catalog-comment.yml')).find((s) =>
      s.uses?.startsWith('actions/github-script@'),
    )!;
    expect(step.env?.SMOKE_JOB).toBe(parse('verify-catalog.yml').jobs['install-smoke-test']!.name);
    expect(step.env?.RUN_ID).toBe(expr('github.event.workflow_run.id'));
  });
  it('ci runs the tests on Node 20, 22 and 24', () => {
    const job = parse('ci.yml').jobs.test as Job & { strategy: { matrix: { node: number[] } } };
    expect(job.strategy.matrix.node).toEqual([20, 22, 24]);
    const setup = job.steps.find((s) => s.uses?.startsWith('actions/setup-node@'))!;
    expect(setup.with?.['node-version']).toBe(expr('matrix.node'));
  });

  it('release: only on a version tag, after the tests; packs with the tag checked and attaches the files', () => {
    const w = parse('release.yml');
    expect(w.on).toEqual({ push: { tags: ['v*'] } });
    expect(WRITE(w.permissions)).toEqual([]);
    expect(steps({ ...w, jobs: { test: w.jobs.test! } }).some((s) => s.run?.includes('bash .ci/run'))).toBe(
      true,
    );
    const release = w.jobs.release!;
    expect(release.needs).toBe('test');
    expect(WRITE(release.permissions)).toEqual(['contents', 'id-token']);
    const pack = release.steps.find((s) => s.run?.includes('scripts/release.mjs'))!;
    expect(pack.run).toContain('--tag "$TAG"');
    expect(pack.env?.TAG).toBe(expr('github.ref_name'));
    const gh = release.steps.find((s) => s.run?.includes('gh release create'))!;
    expect(gh.run).toContain('release/*.tgz release/SHA256SUMS');
    expect(gh.run).toContain('--verify-tag');
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

/**
 * The comment script itself, run the way actions/github-script runs it (an async function of
 * github, context, core and require) against a stand-in for GitHub's REST API that answers in its
 * wire format, on a report artifact as verify-catalog's report job writes it.
 */
describe('catalog-comment.yml: what the comment on the pull request says', () => {
  const step = steps(parse('catalog-comment.yml')).find((s) => s.uses?.startsWith('actions/github-script@'))!;
  const script = String(step.with!.script);
  const HEAD = 'c0ffee'.padEnd(40, '0');
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  interface Scenario {
    /** The smoke job as GitHub lists it; absent: no such job in the run. */
    smoke?: { conclusion: string | null };
    /** When the report artifact was made (default: before the smoke job started). */
    artifactAt?: string;
    /** Where the pull request's head is now (default: the commit the run checked). */
    pullHead?: string;
    added?: number;
  }

  async function comment(s: Scenario) {
    const dir = mkdtempSync(join(tmpdir(), 'hub-comment-'));
    roots.push(dir);
    mkdirSync(join(dir, 'report'));
    writeFileSync(join(dir, 'report', 'pr.json'), JSON.stringify({ pr: 7, head_sha: HEAD }));
    writeFileSync(
      join(dir, 'report', 'report.md'),
      '<!-- magellon-hub-verify -->\n## ✅ Catalog check passed\n',
    );
    const changes = Array.from({ length: s.added ?? 1 }, (_, i) => ({ kind: 'added', file: `f${i}` }));
    writeFileSync(join(dir, 'report', 'result.json'), JSON.stringify({ label: 'tier:community', changes }));
    const calls: Array<[string, Record<string, unknown>]> = [];
    const said: { notice: string[]; failed: string[] } = { notice: [], failed: [] };
    const answer = (name: string, data: unknown) => async (params: Record<string, unknown>) => {
      calls.push([name, params]);
      return { status: 200, data };
    };
    const started = '2026-03-01T10:05:00Z';
    const jobs = [
      {
        id: 1,
        run_id: 99,
        name: 'report',
        status: 'completed',
        conclusion: 'success',
        started_at: '2026-03-01T10:00:00Z',
      },
      ...(s.smoke
        ? [
            {
              id: 2,
              run_id: 99,
              name: 'install smoke test',
              status: 'completed',
              conclusion: s.smoke.conclusion,
              started_at: started,
              html_url: 'https://github.com/magellon/catalog/actions/runs/99/job/2',
            },
          ]
        : []),
    ];
    const artifact = { id: 5, name: 'catalog-report', created_at: s.artifactAt ?? '2026-03-01T10:03:00Z' };
    const github = {
      rest: {
        pulls: { get: answer('pulls.get', { number: 7, head: { sha: s.pullHead ?? HEAD } }) },
        actions: {
          listJobsForWorkflowRun: answer('listJobsForWorkflowRun', { total_count: jobs.length, jobs }),
          listWorkflowRunArtifacts: answer('listWorkflowRunArtifacts', {
            total_count: 1,
            artifacts: [artifact],
          }),
        },
        issues: {
          listComments: answer('listComments', []),
          createComment: answer('createComment', { id: 11 }),
          updateComment: answer('updateComment', { id: 11 }),
          removeLabel: answer('removeLabel', []),
          addLabels: answer('addLabels', []),
        },
      },
      // octokit's paginate: the list itself, whether the endpoint answers a list or wraps it.
      paginate: async (
        fn: (p: Record<string, unknown>) => Promise<{ data: unknown }>,
        params: Record<string, unknown>,
      ) => {
        const { data } = await fn(params);
        if (Array.isArray(data)) return data;
        const d = data as { jobs?: unknown[]; artifacts?: unknown[] };
        return d.jobs ?? d.artifacts ?? [];
      },
    };
    const context = { repo: { owner: 'magellon', repo: 'catalog' } };
    const core = {
      notice: (m: string) => said.notice.push(m),
      setFailed: (m: string) => said.failed.push(m),
    };
    const fs = {
      existsSync: (p: string) => existsSync(join(dir, p)),
      readFileSync: (p: string, enc: BufferEncoding) => readFileSync(join(dir, p), enc),
    };
    const env = { ...(step.env as Record<string, string>), HEAD_SHA: HEAD, RUN_ID: '99' };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
      await new AsyncFunction('github', 'context', 'core', 'require', script)(
        github,
        context,
        core,
        (m: string) => {
          if (m !== 'node:fs') throw new Error(`the script requires ${m}`);
          return fs;
        },
      );
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const posted = calls.filter(([n]) => n === 'createComment').map(([, p]) => String(p.body));
    return { calls, posted, said };
  }

  const installLine = (body: string) => body.split('\n').find((l) => l.startsWith('**Install smoke test:**'));

  it('a smoke job that succeeded: passed, from the job GitHub lists for this run', async () => {
    const { posted, calls } = await comment({ smoke: { conclusion: 'success' } });
    expect(posted).toHaveLength(1);
    expect(posted[0]).toContain('## ✅ Catalog check passed');
    expect(installLine(posted[0]!)).toBe(
      '**Install smoke test:** ✅ passed: every new version installed in a throw-away CoreService and passed its health check.',
    );
    expect(calls.find(([n]) => n === 'listJobsForWorkflowRun')![1]).toMatchObject({ run_id: 99 });
    expect(calls.find(([n]) => n === 'addLabels')![1]).toMatchObject({ labels: ['tier:community'] });
  });

  it('a smoke job that failed, was skipped, or is missing: failed, or did not run', async () => {
    const failed = await comment({ smoke: { conclusion: 'failure' } });
    expect(installLine(failed.posted[0]!)).toBe(
      "**Install smoke test:** ❌ failed: a new version did not install or pass its health check; see [the job's log](https://github.com/magellon/catalog/actions/runs/99/job/2).",
    );
    const skipped = await comment({ smoke: { conclusion: 'skipped' } });
    expect(installLine(skipped.posted[0]!)).toBe(
      '**Install smoke test:** ⏭️ did not run (the catalog check failed first).',
    );
    const missing = await comment({});
    expect(installLine(missing.posted[0]!)).toBe(
      '**Install smoke test:** ⏭️ did not run (the job is missing from the run).',
    );
    const nothing = await comment({ smoke: { conclusion: 'success' }, added: 0 });
    expect(installLine(nothing.posted[0]!)).toBe(
      '**Install smoke test:** ✅ passed: no new version to install.',
    );
  });

  it('a report made after the smoke job started (plugin code could have made it) is not posted', async () => {
    const { posted, said } = await comment({
      smoke: { conclusion: 'success' },
      artifactAt: '2026-03-01T10:06:00Z',
    });
    expect(posted).toEqual([]);
    expect(said.failed[0]).toContain('not trusting it');
  });

  it('a pull request that moved on since the run gets no comment', async () => {
    const { posted, said } = await comment({ smoke: { conclusion: 'success' }, pullHead: 'f'.repeat(40) });
    expect(posted).toEqual([]);
    expect(said.notice[0]).toContain('moved on');
  });
});
