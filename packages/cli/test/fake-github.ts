// A stand-in for GitHub's REST API, for the calls `hub publish` and `hub yank` make, speaking its
// wire format: JSON bodies, `Authorization: token …`, 401 "Bad credentials", 422 "Validation
// Failed" with an errors list, 201 with the pull request. A pull request's head must exist as a
// branch in the bare repository that stands in for the GitHub repo, as on GitHub.
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  body?: Record<string, unknown>;
}

export class FakeGitHub {
  readonly requests: RecordedRequest[] = [];
  private server?: Server;
  private nextNumber = 41;
  url = '';

  constructor(
    /** The bare repo standing in for owner/name on GitHub. */
    private readonly bare: string,
    private readonly users: Record<string, string>, // token → login
    private readonly prefix = '/api/v3',
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => {
        raw += c;
      });
      req.on('end', () => this.handle(req, res, raw));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}${this.prefix}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  private send(res: ServerResponse, status: number, body: unknown): undefined {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-github-media-type': 'github.v3; format=json',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
    });
    res.end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse, raw: string): undefined {
    const path = (req.url ?? '').split('?')[0]!;
    let body: Record<string, unknown> | undefined;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return this.send(res, 400, { message: 'Problems parsing JSON', status: '400' });
    }
    this.requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
    const token = /^(?:token|bearer) (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const login = token ? this.users[token] : undefined;
    if (!login) {
      return this.send(res, 401, {
        message: 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
        status: '401',
      });
    }
    if (!path.startsWith(this.prefix)) return this.send(res, 404, { message: 'Not Found', status: '404' });
    const route = path.slice(this.prefix.length);
    if (req.method === 'GET' && route === '/user') {
      return this.send(res, 200, { login, id: 1000 + login.length, type: 'User' });
    }
    const pulls = /^\/repos\/([^/]+)\/([^/]+)\/pulls$/.exec(route);
    if (req.method === 'POST' && pulls) {
      const [, owner, repo] = pulls;
      const missing = ['title', 'head', 'base'].filter((k) => typeof body?.[k] !== 'string');
      const head = String(body?.head ?? '').replace(/^[^:]+:/, '');
      let headSha = '';
      try {
        headSha = execFileSync('git', ['-C', this.bare, 'rev-parse', '--verify', `refs/heads/${head}`], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim();
      } catch {
        missing.push('head');
      }
      if (missing.length > 0) {
        return this.send(res, 422, {
          message: 'Validation Failed',
          errors: missing.map((field) => ({
            resource: 'PullRequest',
            field,
            code: field === 'head' ? 'invalid' : 'missing_field',
          })),
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          status: '422',
        });
      }
      const number = this.nextNumber++;
      return this.send(res, 201, {
        number,
        state: 'open',
        title: body!.title,
        body: body!.body,
        url: `${this.url}/repos/${owner}/${repo}/pulls/${number}`,
        html_url: `https://github.example/${owner}/${repo}/pull/${number}`,
        head: { ref: head, sha: headSha, label: body!.head },
        base: { ref: body!.base },
        user: { login },
      });
    }
    return this.send(res, 404, {
      message: 'Not Found',
      documentation_url: 'https://docs.github.com/rest',
      status: '404',
    });
  }
}
