// The file follower the process, uv, systemd and slurm backends share, on real files: what a plugin
// can plant at its log path (a FIFO, a link) neither hangs it nor redirects it; a truncated or
// replaced log is read again from its start; a line is delivered once it is complete; a line too
// long is cut with a marker; bytes that are not UTF-8 become replacement characters.
import { execFileSync } from 'node:child_process';
import { appendFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CUT_MARKER,
  type FollowedFile,
  followFiles,
  type LogLine,
  MAX_LINE_BYTES,
} from '../src/runtime/log-follow';
import { scratchDir } from './helpers';

const scratch = scratchDir('coreservice-log-follow-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let seq = 0;
const newDir = () => scratchDir(`f${seq++}-`, scratch);

/** Follows `files` until `stop()`; `lines()` is what arrived so far. */
function follow(files: () => FollowedFile[], tail: number) {
  const got: LogLine[] = [];
  const ctl = new AbortController();
  const done = followFiles(files, { tail, signal: ctl.signal }, (l) => got.push(l));
  return {
    lines: () => got.map((l) => l.line),
    got,
    stop: async () => {
      ctl.abort();
      await done;
    },
  };
}

const one = (path: string) => () => [{ replica: 0, path }];

describe('followFiles', () => {
  it('answers the last lines, then each new line, a partial line only once it is complete', async () => {
    const log = join(newDir(), 'replica-0.log');
    writeFileSync(log, 'a\nb\nc\nhalf');
    const f = follow(one(log), 2);
    await expect.poll(f.lines).toEqual(['b', 'c']);
    appendFileSync(log, ' more');
    appendFileSync(log, 'd\n');
    appendFileSync(log, 'e\n');
    await expect.poll(f.lines).toEqual(['b', 'c', 'half mored', 'e']);
    await f.stop();
    appendFileSync(log, 'after\n');
    // Stopped: nothing arrives any more, whatever is written.
    await new Promise((r) => setTimeout(r, 600));
    expect(f.lines()).toEqual(['b', 'c', 'half mored', 'e']);
  });

  it('starts again from 0 when the log is truncated or replaced, after what the old file still held', async () => {
    const dir = newDir();
    const log = join(dir, 'replica-0.log');
    writeFileSync(log, 'one\ntwo\n');
    const f = follow(one(log), 10);
    await expect.poll(f.lines).toEqual(['one', 'two']);
    truncateSync(log, 0);
    // Shorter than what was read: it was truncated, and is read from its start.
    appendFileSync(log, 'x\n');
    await expect.poll(f.lines).toEqual(['one', 'two', 'x']);
    // Replaced (slurm's resubmit renames the old log away): the old one's last line, then the new one.
    appendFileSync(log, 'last of old\n');
    renameSync(log, join(dir, 'replica-0.prev.log'));
    writeFileSync(log, 'first of new\n');
    await expect.poll(f.lines).toEqual(['one', 'two', 'x', 'last of old', 'first of new']);
    await f.stop();
  });

  it('a FIFO or a link planted at the log path neither hangs it nor redirects it', async () => {
    const dir = newDir();
    const fifo = join(dir, 'replica-0.log');
    const link = join(dir, 'replica-1.log');
    const real = join(dir, 'replica-2.log');
    const secret = join(dir, 'secret.txt');
    execFileSync('mkfifo', [fifo]);
    writeFileSync(secret, 'not a log line\n');
    symlinkSync(secret, link);
    writeFileSync(real, 'real line\n');
    const f = follow(
      () => [
        { replica: 0, path: fifo },
        { replica: 1, path: link },
        { replica: 2, path: real },
      ],
      10,
    );
    await expect.poll(() => f.got).toEqual([{ replica: 2, line: 'real line' }]);
    appendFileSync(secret, 'still not\n');
    appendFileSync(real, 'next\n');
    await expect.poll(f.lines).toEqual(['real line', 'next']);
    // The follow ends when asked, the FIFO never having been waited on.
    await f.stop();
    expect(f.lines()).toEqual(['real line', 'next']);
  });

  it('a link put at the log path while it is followed is not read through; a regular file there again is', async () => {
    const dir = newDir();
    const log = join(dir, 'replica-0.log');
    const secret = join(dir, 'secret.txt');
    writeFileSync(secret, 'secret 1\n');
    writeFileSync(log, 'mine\n');
    const f = follow(one(log), 5);
    await expect.poll(f.lines).toEqual(['mine']);
    rmSync(log);
    symlinkSync(secret, log);
    appendFileSync(secret, 'secret 2\n');
    // Once the follower has seen the link (and read nothing through it), a real log again.
    await new Promise((r) => setTimeout(r, 600));
    rmSync(log);
    writeFileSync(log, 'mine again\n');
    await expect.poll(f.lines).toEqual(['mine', 'mine again']);
    await f.stop();
  });

  it('follows a replica that appears later from its start, each line saying its replica', async () => {
    const dir = newDir();
    const files: FollowedFile[] = [{ replica: 0, path: join(dir, 'replica-0.log') }];
    writeFileSync(files[0]!.path, 'zero\n');
    const f = follow(() => files, 5);
    await expect.poll(() => f.got).toEqual([{ replica: 0, line: 'zero' }]);
    files.push({ replica: 1, path: join(dir, 'replica-1.log') });
    writeFileSync(files[1]!.path, 'one a\none b\n');
    await expect
      .poll(() => f.got)
      .toEqual([
        { replica: 0, line: 'zero' },
        { replica: 1, line: 'one a' },
        { replica: 1, line: 'one b' },
      ]);
    await f.stop();
  });

  it('cuts a line longer than 16 KiB with a marker, and makes bytes that are not UTF-8 text', async () => {
    const log = join(newDir(), 'replica-0.log');
    writeFileSync(log, '');
    const f = follow(one(log), 0);
    appendFileSync(
      log,
      Buffer.concat([Buffer.from('bad '), Buffer.from([0xff, 0xfe]), Buffer.from(' end\n')]),
    );
    appendFileSync(log, `${'é'.repeat(MAX_LINE_BYTES)}\nafter\n`);
    await expect.poll(() => f.lines().length).toBe(3);
    const [bad, long, after] = f.lines();
    expect(bad).toBe('bad \uFFFD\uFFFD end');
    expect(long!.endsWith(CUT_MARKER)).toBe(true);
    expect(Buffer.byteLength(long!.slice(0, -CUT_MARKER.length))).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(long).not.toContain('\uFFFD');
    expect(after).toBe('after');
    await f.stop();
  });
});
