// Which plugins dir a command uses, step by step (the CLI, the admin service and npm start share
// this one function), and the `.magellon/plugins-dir` pointer read as hostile input.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InstallError } from '../src/errors';
import {
  MAX_POINTER_BYTES,
  type PluginsDirInputs,
  prepareCheckoutPluginsDir,
  resolvePluginsDir,
} from '../src/plugins-dir';
import { shownEnvironment } from '../src/runtime/settings';
import { uploadLabel } from '../src/service/app';
import { asRoot, scratchDir } from './helpers';

const scratch = scratchDir('coreservice-plugins-dir-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let n = 0;
/** A fresh folder tree: `<base>/work/deep/er`, the current dir of the resolution. */
function tree(): { base: string; cwd: string } {
  const base = join(scratch, `t${n++}`);
  const cwd = join(base, 'work', 'deep', 'er');
  mkdirSync(cwd, { recursive: true });
  return { base, cwd };
}

/** Resolves with no variables but those given, as a user (uid 1000) unless told otherwise. */
const resolveIn = (cwd: string, more: Partial<PluginsDirInputs> = {}) =>
  resolvePluginsDir({ cwd, uid: 1000, env: { HOME: '/home/someone' }, ...more });

function refusal(fn: () => unknown): InstallError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InstallError);
    return err as InstallError;
  }
  throw new Error('expected a refusal');
}

describe('the plugins dir, in order', () => {
  it('--plugins-dir first, relative to the current dir', () => {
    const { cwd } = tree();
    expect(
      resolveIn(cwd, {
        flag: 'mine',
        env: { MAGELLON_PLUGINS_DIR: '/env/plugins', XDG_DATA_HOME: '/xdg' },
        config: { pluginsDir: '/cfg' },
      }),
    ).toEqual({ path: join(cwd, 'mine'), source: 'flag', from: '--plugins-dir' });
    expect(refusal(() => resolveIn(cwd, { flag: '' })).message).toMatch(/--plugins-dir needs a path/);
  });

  it('then $MAGELLON_PLUGINS_DIR (an empty one counts as unset)', () => {
    const { base, cwd } = tree();
    mkdirSync(join(base, '.magellon', 'plugins'), { recursive: true });
    expect(
      resolveIn(cwd, { env: { MAGELLON_PLUGINS_DIR: '/env/plugins' }, config: { pluginsDir: '/cfg' } }),
    ).toEqual({ path: '/env/plugins', source: 'env', from: '$MAGELLON_PLUGINS_DIR' });
    expect(resolveIn(cwd, { env: { MAGELLON_PLUGINS_DIR: '' } }).source).toBe('magellon');
  });

  it("then the config file's plugins_dir, relative to the config file's folder", () => {
    const { base, cwd } = tree();
    mkdirSync(join(base, '.magellon', 'plugins'), { recursive: true });
    const file = join(base, 'etc', 'coreservice.yaml');
    expect(resolveIn(cwd, { config: { pluginsDir: 'plugins', file } })).toEqual({
      path: join(base, 'etc', 'plugins'),
      source: 'config',
      from: `plugins_dir in ${file}`,
    });
  });

  it('then the nearest .magellon/ above the current dir: the dir its plugins-dir pointer names', () => {
    const { base, cwd } = tree();
    mkdirSync(join(base, '.magellon', 'plugins'), { recursive: true });
    writeFileSync(join(base, '.magellon', 'plugins-dir'), '/srv/elsewhere/plugins\n');
    expect(resolveIn(cwd, { env: { XDG_DATA_HOME: '/xdg' } })).toEqual({
      path: '/srv/elsewhere/plugins',
      source: 'magellon-pointer',
      from: `.magellon/plugins-dir in ${base}`,
    });
  });

  it('…else its plugins/ folder; the nearest .magellon/ wins over one further up', () => {
    const { base, cwd } = tree();
    mkdirSync(join(base, '.magellon', 'plugins'), { recursive: true });
    expect(resolveIn(cwd)).toEqual({
      path: join(base, '.magellon', 'plugins'),
      source: 'magellon',
      from: `.magellon/ in ${base}`,
    });
    const nearer = join(base, 'work');
    mkdirSync(join(nearer, '.magellon', 'plugins'), { recursive: true });
    expect(resolveIn(cwd).path).toBe(join(nearer, '.magellon', 'plugins'));
  });

  it('a .magellon/ with neither is passed over to the per-user default; $XDG_DATA_HOME when absolute', () => {
    const { base, cwd } = tree();
    mkdirSync(join(base, '.magellon'));
    expect(resolveIn(cwd, { env: { XDG_DATA_HOME: '/data/me', HOME: '/home/me' } })).toEqual({
      path: '/data/me/magellon/plugins',
      source: 'xdg',
      from: '$XDG_DATA_HOME',
    });
    // The XDG spec: a relative XDG_DATA_HOME is ignored.
    expect(resolveIn(cwd, { env: { XDG_DATA_HOME: 'rel', HOME: '/home/me' } })).toEqual({
      path: '/home/me/.local/share/magellon/plugins',
      source: 'user-default',
      from: 'the per-user default',
    });
  });

  it('root gets /var/lib/magellon/plugins, unless XDG_DATA_HOME says otherwise', () => {
    const { cwd } = tree();
    expect(resolveIn(cwd, { uid: 0 })).toEqual({
      path: '/var/lib/magellon/plugins',
      source: 'root-default',
      from: 'the default for root',
    });
    expect(resolveIn(cwd, { uid: 0, env: { XDG_DATA_HOME: '/root/data' } }).path).toBe(
      '/root/data/magellon/plugins',
    );
  });
});

describe('the .magellon/plugins-dir pointer is hostile input', () => {
  const pointerIn = () => {
    const { base, cwd } = tree();
    mkdirSync(join(base, '.magellon'));
    return { cwd, file: join(base, '.magellon', 'plugins-dir') };
  };

  it('a FIFO is refused at once, naming it (the open does not wait for a writer)', () => {
    const { cwd, file } = pointerIn();
    execFileSync('mkfifo', [file]);
    const err = refusal(() => resolveIn(cwd));
    expect(err.message).toContain(`${file} is refused: it is a FIFO, not a regular file`);
  });

  it('an oversized one is refused, naming it', () => {
    const { cwd, file } = pointerIn();
    writeFileSync(file, `/${'a'.repeat(MAX_POINTER_BYTES + 10)}\n`);
    expect(refusal(() => resolveIn(cwd)).message).toContain(
      `${file} is refused: it is ${MAX_POINTER_BYTES + 12} bytes, over ${MAX_POINTER_BYTES}`,
    );
  });

  it.each([
    ['two lines', '/a\n/b\n', /more than one line or a control character/],
    ['an escape sequence', '/a\x1b[2J\n', /more than one line or a control character/],
    ['a relative path', 'plugins\n', /not absolute/],
    ['nothing', '\n', /it is empty/],
    ['bytes that are not UTF-8', Buffer.from([0x2f, 0xff, 0xfe]), /not UTF-8/],
  ])('%s is refused', (_what, content, why) => {
    const { cwd, file } = pointerIn();
    writeFileSync(file, content);
    expect(refusal(() => resolveIn(cwd)).message).toMatch(why);
  });

  it('a symbolic link is refused (never followed)', () => {
    const { cwd, file } = pointerIn();
    writeFileSync(`${file}.real`, '/x\n');
    execFileSync('ln', ['-s', `${file}.real`, file]);
    expect(refusal(() => resolveIn(cwd)).message).toMatch(/plugins-dir is refused: it is a symbolic link/);
  });

  it('a .magellon/ someone else owns, or anyone may write, is not trusted', () => {
    const { base, cwd } = tree();
    const dir = join(base, '.magellon');
    mkdirSync(join(dir, 'plugins'), { recursive: true });
    chmodSync(dir, 0o777);
    expect(refusal(() => resolveIn(cwd, { uid: statSync(dir).uid })).message).toMatch(
      /\.magellon\/ folder in .* is writable by every user/,
    );
    chmodSync(dir, 0o755);
    if (asRoot) {
      chownSync(dir, 12345, 12345);
      expect(refusal(() => resolveIn(cwd, { uid: 1000 })).message).toMatch(
        /belongs to uid 12345, not to you \(uid 1000\) or root/,
      );
      // Root's own .magellon/ is trusted by everyone.
      chownSync(dir, 0, 0);
      expect(resolveIn(cwd, { uid: 1000 }).source).toBe('magellon');
    }
  });
});

describe('npm start: .magellon/ in the checkout says where plugins are', () => {
  it('as a user: .magellon/plugins, and a pointer left from before goes', () => {
    const { base } = tree();
    const root = join(base, 'checkout');
    mkdirSync(join(root, '.magellon'), { recursive: true });
    writeFileSync(join(root, '.magellon', 'plugins-dir'), '/old/place\n');
    expect(prepareCheckoutPluginsDir(root, { uid: 1000 })).toEqual({});
    expect(resolveIn(join(root, 'catalog'))).toMatchObject({
      path: join(root, '.magellon', 'plugins'),
      source: 'magellon',
    });
  });

  it('as root under a folder others cannot enter: a dir under the temp dir, named by .magellon/plugins-dir', () => {
    const { base } = tree();
    const closed = join(base, 'home');
    mkdirSync(closed, { mode: 0o700 });
    chmodSync(closed, 0o700);
    const root = join(closed, 'checkout');
    const tmp = join(base, 'tmp');
    const r = prepareCheckoutPluginsDir(root, { uid: 0, tmp });
    expect(r.moved).toContain(`${closed} keeps other users out`);
    const pointer = readFileSync(join(root, '.magellon', 'plugins-dir'), 'utf8');
    expect(pointer).toMatch(new RegExp(`^${tmp}/magellon-plugins-[0-9a-f]{12}\\n$`));
    expect(statSync(join(root, '.magellon', 'plugins-dir')).mode & 0o777).toBe(0o644);
    expect(resolveIn(root, { uid: statSync(join(root, '.magellon')).uid })).toMatchObject({
      path: pointer.trim(),
      source: 'magellon-pointer',
      from: `.magellon/plugins-dir in ${root}`,
    });
  });
});

describe('what is shown of a plugin’s environment and of an upload', () => {
  it('secret-looking names print as ***, the heartbeat secret in its URL too; a setting is judged by its key', () => {
    expect(
      shownEnvironment(
        {
          MAGELLON_PLUGIN_KEYPICKER_LOG_LEVEL: 'debug',
          MAGELLON_PLUGIN_KEYPICKER_SSH_KEY: 'k',
          MAGELLON_PLUGIN_KEYPICKER_DB_PASSWORD: 'p',
          MAGELLON_PLUGIN_KEYPICKER_Credentials: 'c',
          MAGELLON_HEARTBEAT_TOKEN: 'hb',
          MAGELLON_HEARTBEAT_URL: 'http://127.0.0.1:8090/internal/heartbeat/hb',
          PATH: '/usr/bin',
        },
        'keypicker',
      ),
    ).toEqual({
      MAGELLON_PLUGIN_KEYPICKER_LOG_LEVEL: 'debug',
      MAGELLON_PLUGIN_KEYPICKER_SSH_KEY: '***',
      MAGELLON_PLUGIN_KEYPICKER_DB_PASSWORD: '***',
      MAGELLON_PLUGIN_KEYPICKER_Credentials: '***',
      MAGELLON_HEARTBEAT_TOKEN: '***',
      MAGELLON_HEARTBEAT_URL: 'http://127.0.0.1:8090/internal/heartbeat/***',
      PATH: '/usr/bin',
    });
  });

  it('an upload is named by the file name the client sent (its last part, escaped), else generically', () => {
    expect(uploadLabel('C:\\Users\\me\\fft-1.0.0.mpn')).toBe('the uploaded archive "fft-1.0.0.mpn"');
    expect(uploadLabel('../../x\x1b[2J.mpn')).toBe('the uploaded archive "x\\e[2J.mpn"');
    expect(uploadLabel(undefined)).toBe('the uploaded archive');
    expect(uploadLabel('  ')).toBe('the uploaded archive');
  });
});
