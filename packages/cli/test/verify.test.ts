import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEMPLATE_PLACEHOLDERS } from '@magellon/hub-core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setField } from '../../core/test/catalog-refusals';
import { HUB_BIN, PrRepo } from '../../core/test/pr-repo';
import { runHubAsync } from './run-hub';

const out = mkdtempSync(join(tmpdir(), 'hub-verify-cli-'));
const repos: PrRepo[] = [];
afterAll(() => {
  for (const r of repos) r.cleanup();
  rmSync(out, { recursive: true, force: true });
});

const hub = (args: string[]) => spawnSync(process.execPath, [HUB_BIN, ...args], { encoding: 'utf8' });

describe('hub verify (the command CI runs on every catalog pull request)', () => {
  it('passes a clean new version after really installing it, and writes the report and JSON', () => {
    return (async () => {
      const r = new PrRepo('verify-cli');
      repos.push(r);
      await r.addVersion('fft', '1.3.0');
      r.commit('fft 1.3.0');
      const report = join(out, 'report.md');
      const json = join(out, 'result.json');
      const res = hub([
        'verify',
        r.dir,
        '--base',
        'main',
        '--author',
        'sstagg',
        '--report',
        report,
        '--findings',
        json,
      ]);
      expect(res.status, res.stdout + res.stderr).toBe(0);
      expect(res.stderr).toContain('1 archive verified, 1 installed');
      const md = readFileSync(report, 'utf8');
      expect(md).toContain('Catalog check passed');
      expect(md).toMatch(/\| added \| fft \| 1\.3\.0 \| community \|/);
      const result = JSON.parse(readFileSync(json, 'utf8'));
      expect(result).toMatchObject({
        installed: 1,
        archivesChecked: 1,
        label: 'tier:community',
        findings: [],
      });
      // The throw-away install left no plugin process behind.
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(ps).not.toMatch(/hub-verify-install-/);
    })();
  });

  it('exits 1 with annotations GitHub shows on the line, for a PR that changes a published entry', () => {
    const r = new PrRepo('verify-cli');
    repos.push(r);
    r.edit('catalog/plugins/topaz/0.2.0.yaml', (t) => t.replace(/^name: .*$/m, 'name: Topaz (renamed)'));
    r.commit('rename');
    const res = hub(['verify', r.dir, '--base', 'main', '--format', 'github']);
    expect(res.status).toBe(1);
    expect(res.stdout).toMatch(
      new RegExp(
        `^::error file=catalog/plugins/topaz/0.2.0.yaml,line=${r.lineOf('catalog/plugins/topaz/0.2.0.yaml', 'name:')},col=\\d+,title=verify.published-changed::`,
        'm',
      ),
    );
  });

  it('refuses a new version whose archive fails hub lint as hub publish judges it (the scaffold’s placeholder description)', async () => {
    const r = new PrRepo('verify-cli');
    repos.push(r);
    const { archive } = await r.addVersion('fft', '1.3.0', {
      pack: (dir) => {
        const manifest = join(dir, 'manifest.yaml');
        const text = readFileSync(manifest, 'utf8');
        writeFileSync(manifest, setField(text, 'description', `"${TEMPLATE_PLACEHOLDERS.description}"`));
      },
    });
    r.commit('fft 1.3.0, described by the template');
    const res = hub([
      'verify',
      r.dir,
      '--base',
      'main',
      '--author',
      'sstagg',
      '--no-install',
      '--format',
      'json',
    ]);
    expect(res.status, res.stderr).toBe(1);
    const findings = JSON.parse(res.stdout) as Array<{
      severity: string;
      code: string;
      file: string;
      message: string;
    }>;
    expect(findings.map((f) => [f.severity, f.code, f.file])).toEqual([
      ['error', 'lint.placeholder', `${archive}!manifest.yaml`],
    ]);
    expect(findings[0]!.message).toContain('hub publish and hub verify refuse it');
  });

  it('bad usage and a bad ref say what is wrong', () => {
    const r = new PrRepo('verify-cli');
    repos.push(r);
    const noBase = hub(['verify', r.dir]);
    expect(noBase.status).toBe(2);
    expect(noBase.stderr).toContain('needs --base');
    const badRef = hub(['verify', r.dir, '--base', 'nope']);
    expect(badRef.status).toBe(1);
    expect(badRef.stderr).toContain('"nope" is not a commit');
    const notRepo = hub(['verify', out, '--base', 'main']);
    expect(notRepo.status).toBe(1);
    expect(notRepo.stderr).toMatch(/not a git repository|is not a commit/);
  });
});

describe('hub verify --install-only (the smoke job: its exit status is its only output)', () => {
  /** hub verify --install-only from an empty working dir, which must stay empty. */
  function installOnly(r: PrRepo, extra: string[] = []) {
    const cwd = mkdtempSync(join(out, 'cwd-'));
    const res = spawnSync(
      process.execPath,
      [HUB_BIN, 'verify', r.dir, '--base', 'main', '--install-only', ...extra],
      {
        cwd,
        encoding: 'utf8',
      },
    );
    return { ...res, written: readdirSync(cwd) };
  }

  it('installs a healthy new version and exits 0, printing only the install result and writing nothing', async () => {
    const r = new PrRepo('verify-install-only');
    repos.push(r);
    await r.addVersion('fft', '1.3.0');
    // Not the author's plugin: the report job's business, not the smoke job's.
    r.commit('fft 1.3.0 by someone');
    const res = installOnly(r);
    expect(res.status, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('install smoke test: 1 of 1 new version installed and healthy');
    expect(res.stderr).not.toMatch(/not-owner|label/);
    expect(res.written).toEqual([]);
  });

  it('exits 1 with the install failure on the entry when the new version never gets healthy', async () => {
    const r = new PrRepo('verify-install-only');
    repos.push(r);
    const { entry } = await r.addVersion('fft', '1.3.0', {
      pack: (dir) => writeFileSync(join(dir, 'main.py'), 'import sys\nsys.exit(3)\n'),
    });
    r.commit('fft 1.3.0 that cannot start');
    const res = installOnly(r, ['--format', 'json']);
    expect(res.status).toBe(1);
    const findings = JSON.parse(res.stdout) as Array<{ code: string; file: string; line: number }>;
    expect(findings.map((f) => [f.code, f.file, f.line])).toEqual([
      ['verify.install-failed', entry, r.lineOf(entry, 'url:')],
    ]);
    expect(res.written).toEqual([]);
  });

  it('a pull request with no new version has nothing to install; report options are refused', () => {
    const r = new PrRepo('verify-install-only');
    repos.push(r);
    r.edit(
      'catalog/plugins/topaz/0.2.0.yaml',
      (t) => `${t}yanked:\n  reason: "x"\n  at: "2026-01-01T00:00:00Z"\n`,
    );
    r.commit('yank');
    const res = installOnly(r);
    expect(res.status).toBe(0);
    expect(res.stderr).toContain('install smoke test: no new version to install');
    for (const flag of [['--no-install'], ['--report', 'r.md'], ['--findings', 'f.json']]) {
      const bad = installOnly(r, flag);
      expect(bad.status, flag[0]).toBe(2);
      expect(bad.stderr).toContain('--install-only runs only the install smoke test');
      expect(bad.written).toEqual([]);
    }
  });
});

describe('hub verify downloads an https archive with a size cap', () => {
  let cert = '';
  let key = '';
  let certFile = '';
  beforeAll(() => {
    key = join(out, 'key.pem');
    certFile = join(out, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        certFile,
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(key, 'utf8');
  });

  /** Serves `body` for any path over TLS on loopback (status 200 unless told), for one test. */
  async function serve(body: Buffer, status = 200): Promise<{ url: string; close: () => Promise<void> }> {
    const server = createServer({ cert, key }, (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/zip' });
      res.end(status === 200 ? body : 'nope');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    return { url: `https://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
  }

  /** hub verify as a child that does not block this process (which serves the archive). */
  const verifyAsync = (dir: string) =>
    runHubAsync(['verify', dir, '--base', 'main', '--author', 'sstagg', '--no-install', '--format', 'json'], {
      NODE_EXTRA_CA_CERTS: certFile,
    });

  async function prWithRemoteArchive(serveBytes: (archive: Buffer) => Buffer, status = 200) {
    const r = new PrRepo('verify-https');
    repos.push(r);
    const { entry, archive } = await r.addVersion('fft', '1.3.0');
    const bytes = readFileSync(r.path(archive));
    r.remove(archive);
    const server = await serve(serveBytes(bytes), status);
    r.edit(entry, (t) => t.replace(/url: .*/, `url: ${server.url}/fft-1.3.0.mpn`));
    r.commit('fft 1.3.0 on a CDN');
    try {
      return { r, entry, result: await verifyAsync(r.dir) };
    } finally {
      await server.close();
    }
  }

  it('the archive at its https URL is downloaded and checked', async () => {
    const { result } = await prWithRemoteArchive((b) => b);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });

  it('a body longer than size_bytes is cut off and refused', async () => {
    const { r, entry, result } = await prWithRemoteArchive((b) => Buffer.concat([b, Buffer.alloc(1 << 20)]));
    expect(result.code).toBe(1);
    const hit = JSON.parse(result.stdout).find((f: { code: string }) => f.code === 'verify.download-failed');
    expect(hit).toMatchObject({ file: entry, line: r.lineOf(entry, 'url:') });
    expect(hit.message).toMatch(/more than size_bytes allows|longer than size_bytes/);
  });

  it('a 404 is a download failure that names the status', async () => {
    const { result } = await prWithRemoteArchive((b) => b, 404);
    expect(result.code).toBe(1);
    const hit = JSON.parse(result.stdout).find((f: { code: string }) => f.code === 'verify.download-failed');
    expect(hit.message).toContain('the server answered 404');
  });
});
