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
  type PutOptions,
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

/** One fs store's root (its FileTree opened on first use) and the paths of a key's file and meta. */
class FsRoot {
  private tree: FileTree | undefined;
  readonly description: string;
  constructor(private readonly root: string) {
    this.description = `fs:${root}`;
  }
  open(): FileTree {
    if (this.tree) return this.tree;
    try {
      statSync(this.root);
      this.tree = new FileTree(this.root);
      return this.tree;
    } catch (err) {
      throw new StoreError(
        'no-bucket',
        `fs:${this.root} does not exist or cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        { cause: err },
      );
    }
  }
  pathOf(key: string): string {
    return join(this.open().real, ...key.split('/'));
  }
  metaOf(key: string): string {
    return join(this.open().real, META_DIR, ...`${key}.json`.split('/'));
  }
}

/** A key's recorded sha256 and content type (none when the meta file is missing or unreadable). */
function readMeta(fs: FsRoot, key: string): Meta {
  const got = fs.open().read(fs.metaOf(key), 4096);
  if (!got.ok) return {};
  try {
    const m = JSON.parse(got.bytes.toString('utf8')) as Meta;
    return {
      ...(typeof m.sha256 === 'string' ? { sha256: m.sha256 } : {}),
      ...(typeof m.contentType === 'string' ? { contentType: m.contentType } : {}),
    };
  } catch {
    return {};
  }
}

function stat(fs: FsRoot, key: string): StoredObject | undefined {
  const where = fs.open().resolve(fs.pathOf(key), 'file');
  if (!where.ok) {
    if (where.refusal.kind === 'io') {
      const code = (where.refusal.error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new StoreError('io', `${fs.description}: ${key}: ${where.refusal.message}`);
    }
    // A folder, FIFO or device is not an object; a link out of the root is refused outright.
    if (where.refusal.kind === 'not-regular') return undefined;
    throw new StoreError('bad-key', `${fs.description}: ${key} ${where.refusal.message}`);
  }
  return { key, size: where.stats.size, ...readMeta(fs, key) };
}

/** Writes `bytes` to `path` through a temp file renamed into place, never outside the root. */
function writeAtomic(fs: FsRoot, path: string, bytes: Uint8Array): void {
  const parent = dirname(path);
  mkdirSync(parent, { recursive: true });
  const inside = fs.open().resolve(parent, 'dir');
  if (!inside.ok)
    throw new StoreError(
      'bad-key',
      `${fs.description}: ${relative(fs.open().real, path)} would be written ${inside.refusal.message}`,
    );
  const tmp = join(parent, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    writeFileSync(tmp, bytes, { flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new StoreError(
      'io',
      `${fs.description}: cannot write ${relative(fs.open().real, path)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function fsGet(fs: FsRoot, key: string, range?: ByteRange): ObjectBody | undefined {
  checkKey(key);
  const opened = fs.open().open(fs.pathOf(key));
  if (!opened.ok) {
    if (opened.refusal.kind === 'io') {
      const code = (opened.refusal.error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    }
    throw new StoreError(
      opened.refusal.kind === 'io' ? 'io' : 'bad-key',
      `${fs.description}: ${key} ${opened.refusal.message}`,
    );
  }
  const size = opened.stats.size;
  const start = range?.offset ?? 0;
  const end = range ? range.offset + range.length - 1 : size - 1;
  if (size === 0 || (range && end >= size)) {
    closeSync(opened.fd);
    if (size === 0 && !range)
      return { key, size, ...readMeta(fs, key), body: new Blob([]).stream() as ReadableStream<Uint8Array> };
    throw new StoreError(
      'io',
      `${fs.description}: ${key} has ${size} bytes; range ${start}-${end} is outside it`,
    );
  }
  const stream = createReadStream('', {
    fd: opened.fd,
    start,
    end,
    autoClose: true,
    highWaterMark: 256 * 1024,
  });
  return {
    key,
    size,
    ...readMeta(fs, key),
    body: Readable.toWeb(stream) as ReadableStream<Uint8Array>,
    ...(range ? { range } : {}),
  };
}

function fsPut(fs: FsRoot, key: string, bytes: Uint8Array, opts: PutOptions): PutResult {
  checkKey(key);
  if (key === META_DIR || key.startsWith(`${META_DIR}/`))
    throw new StoreError('bad-key', `${fs.description}: ${key} is reserved`);
  if (createHash('sha256').update(bytes).digest('hex') !== opts.sha256) {
    throw new StoreError('io', `${fs.description}: ${key}: the bytes do not have the sha256 given for them`);
  }
  const old = stat(fs, key);
  if (old) {
    // Recorded sha256, or (for files put there by hub build) the bytes themselves.
    const oldSha =
      old.sha256 ??
      createHash('sha256')
        .update(readFileSync(fs.pathOf(key)))
        .digest('hex');
    if (oldSha === opts.sha256 && old.size === bytes.length) return 'unchanged';
    if (opts.immutable)
      throw new StoreError(
        'conflict',
        `${fs.description} already holds ${key} with different bytes; it is immutable`,
      );
  }
  writeAtomic(fs, fs.pathOf(key), bytes);
  writeAtomic(
    fs,
    fs.metaOf(key),
    Buffer.from(JSON.stringify({ sha256: opts.sha256, contentType: opts.contentType })),
  );
  return old ? 'replaced' : 'created';
}

function fsList(fs: FsRoot, prefix: string): StoredObject[] {
  if (prefix !== '') checkKey(prefix.replace(/\/$/, ''));
  const out: StoredObject[] = [];
  for (const name of readdirSync(fs.open().real, { recursive: true, encoding: 'utf8' })) {
    const key = name.split(sep).join('/');
    if (!key.startsWith(prefix) || key === META_DIR || key.startsWith(`${META_DIR}/`)) continue;
    if (key.split('/').some((p) => p.startsWith('.'))) continue;
    const o = stat(fs, key);
    if (o) out.push(o);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * A store in a directory. Reads go through the core's FileTree: only regular files whose real path
 * stays inside the root are opened (never a FIFO, a device, or a link out), and streams read only
 * the bytes asked for. Writes are atomic (a temp file renamed into place).
 */
export function createFsStore(root: string): ObjectStore {
  const fs = new FsRoot(root);
  return {
    driver: 'fs',
    description: fs.description,
    async head(key) {
      checkKey(key);
      return stat(fs, key);
    },
    get: async (key, range) => fsGet(fs, key, range),
    put: async (key, bytes, opts) => fsPut(fs, key, bytes, opts),
    list: async (prefix) => fsList(fs, prefix),
    async delete(key) {
      checkKey(key);
      rmSync(fs.pathOf(key), { force: true });
      rmSync(fs.metaOf(key), { force: true });
    },
  };
}
