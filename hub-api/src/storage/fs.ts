// The fs driver (the default): objects are files under one root dir. Node-only.
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { FileTree } from '@magellon/hub-core/node';
import {
  type ByteRange,
  checkKey,
  type ObjectBody,
  type ObjectStore,
  type PutResult,
  type StoredObject,
  StoreError,
} from './store';

/** Where the fs driver keeps each object's sha256 and content type: `<root>/.hub-meta/<key>.json`. */
const META_DIR = '.hub-meta';

interface Meta {
  sha256?: string;
  contentType?: string;
}

/**
 * A store in a directory. Reads go through the core's FileTree: only regular files whose real path
 * stays inside the root are opened (never a FIFO, a device, or a link out), and streams read only
 * the bytes asked for. Writes are atomic (a temp file renamed into place).
 */
export function createFsStore(root: string): ObjectStore {
  let tree: FileTree | undefined;
  const openTree = (): FileTree => {
    if (tree) return tree;
    try {
      statSync(root);
      tree = new FileTree(root);
      return tree;
    } catch (err) {
      throw new StoreError(
        'no-bucket',
        `fs:${root} does not exist or cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          cause: err,
        },
      );
    }
  };
  const description = `fs:${root}`;
  const pathOf = (key: string) => join(openTree().real, ...key.split('/'));
  const metaOf = (key: string) => join(openTree().real, META_DIR, ...`${key}.json`.split('/'));
  const readMeta = (key: string): Meta => {
    const got = openTree().read(metaOf(key), 4096);
    if (!got.ok) return {};
    try {
      const m = JSON.parse(got.bytes.toString('utf8')) as Meta;
      return {
        sha256: typeof m.sha256 === 'string' ? m.sha256 : undefined,
        contentType: typeof m.contentType === 'string' ? m.contentType : undefined,
      };
    } catch {
      return {};
    }
  };
  const stat = (key: string): StoredObject | undefined => {
    const where = openTree().resolve(pathOf(key), 'file');
    if (!where.ok) {
      if (where.refusal.kind === 'io') {
        const code = (where.refusal.error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
        throw new StoreError('io', `${description}: ${key}: ${where.refusal.message}`);
      }
      // A folder, FIFO or device is not an object; a link out of the root is refused outright.
      if (where.refusal.kind === 'not-regular') return undefined;
      throw new StoreError('bad-key', `${description}: ${key} ${where.refusal.message}`);
    }
    const meta = readMeta(key);
    return {
      key,
      size: where.stats.size,
      ...(meta.sha256 ? { sha256: meta.sha256 } : {}),
      ...(meta.contentType ? { contentType: meta.contentType } : {}),
    };
  };
  const writeAtomic = (path: string, bytes: Uint8Array) => {
    const parent = dirname(path);
    mkdirSync(parent, { recursive: true });
    const inside = openTree().resolve(parent, 'dir');
    if (!inside.ok)
      throw new StoreError(
        'bad-key',
        `${description}: ${relative(openTree().real, path)} would be written ${inside.refusal.message}`,
      );
    const tmp = join(parent, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      writeFileSync(tmp, bytes, { flag: 'wx' });
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new StoreError(
        'io',
        `${description}: cannot write ${relative(openTree().real, path)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };

  return {
    driver: 'fs',
    description,
    async head(key) {
      checkKey(key);
      return stat(key);
    },
    async get(key, range?: ByteRange): Promise<ObjectBody | undefined> {
      checkKey(key);
      const opened = openTree().open(pathOf(key));
      if (!opened.ok) {
        if (opened.refusal.kind === 'io') {
          const code = (opened.refusal.error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
        }
        throw new StoreError(
          opened.refusal.kind === 'io' ? 'io' : 'bad-key',
          `${description}: ${key} ${opened.refusal.message}`,
        );
      }
      const size = opened.stats.size;
      const start = range?.offset ?? 0;
      const end = range ? range.offset + range.length - 1 : size - 1;
      if (size === 0 || (range && end >= size)) {
        if (size === 0 && !range) {
          closeSync(opened.fd);
          const meta = readMeta(key);
          return { key, size, ...meta, body: new Blob([]).stream() as ReadableStream<Uint8Array> };
        }
        closeSync(opened.fd);
        throw new StoreError(
          'io',
          `${description}: ${key} has ${size} bytes; range ${start}-${end} is outside it`,
        );
      }
      const stream = createReadStream('', {
        fd: opened.fd,
        start,
        end,
        autoClose: true,
        highWaterMark: 256 * 1024,
      });
      const meta = readMeta(key);
      return {
        key,
        size,
        ...(meta.sha256 ? { sha256: meta.sha256 } : {}),
        ...(meta.contentType ? { contentType: meta.contentType } : {}),
        body: Readable.toWeb(stream) as ReadableStream<Uint8Array>,
        ...(range ? { range } : {}),
      };
    },
    async put(key, bytes, opts): Promise<PutResult> {
      checkKey(key);
      if (key === META_DIR || key.startsWith(`${META_DIR}/`))
        throw new StoreError('bad-key', `${description}: ${key} is reserved`);
      if (createHash('sha256').update(bytes).digest('hex') !== opts.sha256) {
        throw new StoreError('io', `${description}: ${key}: the bytes do not have the sha256 given for them`);
      }
      const old = stat(key);
      if (old) {
        // Recorded sha256, or (for files put there by hub build) the bytes themselves.
        const oldSha =
          old.sha256 ??
          createHash('sha256')
            .update(readFileSync(pathOf(key)))
            .digest('hex');
        if (oldSha === opts.sha256 && old.size === bytes.length) return 'unchanged';
        if (opts.immutable)
          throw new StoreError(
            'conflict',
            `${description} already holds ${key} with different bytes; it is immutable`,
          );
      }
      writeAtomic(pathOf(key), bytes);
      writeAtomic(
        metaOf(key),
        Buffer.from(JSON.stringify({ sha256: opts.sha256, contentType: opts.contentType })),
      );
      return old ? 'replaced' : 'created';
    },
    async list(prefix) {
      if (prefix !== '') checkKey(prefix.replace(/\/$/, ''));
      const base = openTree().real;
      const out: StoredObject[] = [];
      for (const name of readdirSync(base, { recursive: true, encoding: 'utf8' })) {
        const key = name.split(sep).join('/');
        if (!key.startsWith(prefix) || key === META_DIR || key.startsWith(`${META_DIR}/`)) continue;
        if (key.split('/').some((p) => p.startsWith('.'))) continue;
        const o = stat(key);
        if (o) out.push(o);
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async delete(key) {
      checkKey(key);
      rmSync(pathOf(key), { force: true });
      rmSync(metaOf(key), { force: true });
    },
  };
}
