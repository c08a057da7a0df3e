// Small JSON state files: read leniently (absent or torn is "none"), written whole through a
// temp file and a rename, so a reader or a crash never sees half of one.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

const MAX_STATE_BYTES = 1024 * 1024;

export function readJson<T>(path: string): T | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    if (text.length > MAX_STATE_BYTES) return undefined;
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

let seq = 0;
export function writeJson(path: string, value: unknown, opts: { durable?: boolean } = {}): void {
  const tmp = `${path}.tmp-${process.pid}-${seq++}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const bytes = Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    if (opts.durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
