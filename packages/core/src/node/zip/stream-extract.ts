// Extraction that overlaps the download. While an archive's bytes arrive, its local entries are
// parsed, inflated, hashed and written to numbered files in a scratch dir — never under an entry's
// own name, so nothing about them is trusted yet. Once the whole file is there, readArchive does its
// full strict scan as always, and for each entry whose exact byte range (local header offset, data
// start, compressed size, method) was streamed and came out with the size and CRC-32 the central
// directory records, it takes the streamed file and digest instead of reading the entry again.
// Anything unusual (data descriptors, zip64, other methods, limits) simply ends the speculation:
// the strict pass then reads those entries from the file, so the result is the same either way.
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { crc32, createInflateRaw, type InflateRaw } from 'node:zlib';
import {
  DEFLATED,
  DESCRIPTOR_BYTES,
  DESCRIPTOR_SIG,
  ENCRYPTED,
  HAS_DESCRIPTOR,
  LOCAL_BYTES,
  LOCAL_SIG,
  STORED,
} from './zip-format';
import { maxInflatedBytes, RATIO_CHECK_MIN_BYTES, resolveZipLimits, type ZipLimits } from './zip-limits';

/** The data descriptor's signature as bytes, to search for. */
const DESCRIPTOR_SIG_BYTES = Buffer.alloc(4);
DESCRIPTOR_SIG_BYTES.writeUInt32LE(DESCRIPTOR_SIG);

/** One entry the stream saw completely. */
export interface StreamedEntry {
  localHeaderOffset: number;
  dataStart: number;
  method: number;
  compressedSize: number;
  /** Real bytes out, their CRC-32 and sha256. */
  size: number;
  crc32: number;
  sha256: string;
  /** Where its bytes are (absent for an empty entry). */
  file: string;
}

/** What a finished stream hands to readArchive: the entries it saw, by local header offset. */
export interface Prefetched {
  dir: string;
  entries: ReadonlyMap<number, StreamedEntry>;
}

interface Current {
  offset: number;
  dataStart: number;
  method: number;
  compressedSize: number;
  declaredSize: number;
  fed: number;
  out: number;
  crc: number;
  hash: ReturnType<typeof createHash>;
  fd: number | undefined;
  file: string;
  inflate?: InflateRaw;
  failed?: boolean;
  /** Sizes and CRC follow the data in a descriptor (bit 3): the end is found by scanning for it. */
  descriptor: boolean;
  /** Bytes held back while looking for the descriptor (at most 15, or a partial candidate). */
  carry: Buffer;
  /** What the descriptor said, once found. */
  ddCrc?: number;
  ddSize?: number;
}

export class StreamingExtractor {
  private readonly limits: ZipLimits;
  private readonly entries = new Map<number, StreamedEntry>();
  /** Bytes not parsed yet (only while a header is incomplete: at most 30 + 64 KiB + 64 KiB). */
  private pending: Buffer = Buffer.alloc(0);
  /** Archive offset of the first byte of `pending`. */
  private at = 0;
  private current: Current | undefined;
  private stopped = false;
  /** The local entries ended (the central directory began): what was seen stays valid. */
  private ended = false;
  private inflatedTotal = 0;
  /** Declared sizes of the entries begun so far. */
  private declaredTotal = 0;
  /** Archive bytes pushed so far: the whole archive is at least this big. */
  private received = 0;
  private count = 0;

  constructor(
    private readonly dir: string,
    limits?: Partial<ZipLimits>,
  ) {
    this.limits = resolveZipLimits(limits);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Whether the stream gave up (the strict pass then reads everything from the file). */
  get abandoned(): boolean {
    return this.stopped;
  }

  /** Feeds the next bytes of the archive, in order. Never throws: a problem only ends the speculation. */
  async push(chunk: Buffer): Promise<void> {
    if (this.stopped || this.ended) return;
    this.received += chunk.length;
    try {
      await this.consume(chunk);
    } catch {
      this.stop();
    }
  }

  /** The entries seen completely; the scratch dir is the caller's to remove (see `discard`). */
  finish(): Prefetched {
    if (this.current) this.closeCurrent(true);
    return { dir: this.dir, entries: this.stopped ? new Map() : this.entries };
  }

  discard(): void {
    this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private stop(): void {
    this.stopped = true;
    if (this.current) this.closeCurrent(true);
    this.pending = Buffer.alloc(0);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let data = chunk;
    while (data.length > 0 && !this.stopped && !this.ended) {
      if (this.current?.descriptor) {
        data = await this.scanForDescriptor(data);
        continue;
      }
      if (this.current) {
        const want = this.current.compressedSize - this.current.fed;
        const part = data.subarray(0, want);
        data = data.subarray(part.length);
        await this.feed(part);
        this.at += part.length;
        if (this.current.fed === this.current.compressedSize) await this.endEntry();
        continue;
      }
      // Between entries: collect bytes until a whole local header is here.
      this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
      data = Buffer.alloc(0);
      if (this.pending.length < 4) return;
      if (this.pending.readUInt32LE(0) !== LOCAL_SIG) {
        // The central directory (or anything else) begins: no more local entries.
        this.ended = true;
        this.pending = Buffer.alloc(0);
        return;
      }
      if (this.pending.length < LOCAL_BYTES) return;
      const nameLength = this.pending.readUInt16LE(26);
      const extraLength = this.pending.readUInt16LE(28);
      const headerLength = LOCAL_BYTES + nameLength + extraLength;
      if (this.pending.length < headerLength) return;
      this.begin(headerLength);
      const rest = this.pending.subarray(headerLength);
      this.at += headerLength;
      this.pending = Buffer.alloc(0);
      if (this.current && (this.current as Current).compressedSize === 0) await this.endEntry();
      data = rest;
    }
  }

  private begin(headerLength: number): void {
    const h = this.pending;
    const flags = h.readUInt16LE(6);
    const method = h.readUInt16LE(8);
    const compressedSize = h.readUInt32LE(18);
    const declaredSize = h.readUInt32LE(22);
    const descriptor = (flags & HAS_DESCRIPTOR) !== 0;
    const unusual =
      flags & ENCRYPTED ||
      (method !== STORED && method !== DEFLATED) ||
      compressedSize === 0xffffffff ||
      declaredSize === 0xffffffff ||
      declaredSize > this.limits.maxEntryBytes ||
      this.count >= this.limits.maxEntries ||
      (!descriptor && method === STORED && compressedSize !== declaredSize) ||
      (declaredSize > RATIO_CHECK_MIN_BYTES &&
        declaredSize > compressedSize * this.limits.maxCompressionRatio);
    // The whole-archive ratio, against the bytes seen so far (never more than the archive's size):
    // stricter than the strict pass, which only means that pass reads the rest from the file.
    this.declaredTotal += descriptor ? 0 : declaredSize;
    if (unusual || this.declaredTotal > this.inflationCap()) throw new Error('not streamable');
    const file = path.join(this.dir, String(this.count++));
    this.current = {
      offset: this.at,
      dataStart: this.at + headerLength,
      method,
      compressedSize: descriptor ? Number.POSITIVE_INFINITY : compressedSize,
      declaredSize: descriptor ? this.limits.maxEntryBytes : declaredSize,
      descriptor,
      carry: Buffer.alloc(0),
      fed: 0,
      out: 0,
      crc: 0,
      hash: createHash('sha256'),
      fd: declaredSize > 0 || descriptor ? openSync(file, 'wx', 0o600) : undefined,
      file,
    };
    if (method === DEFLATED && (compressedSize > 0 || descriptor)) {
      const inflate = createInflateRaw({ chunkSize: 256 * 1024 });
      const cur = this.current;
      inflate.on('data', (out: Buffer) => this.output(cur, out));
      inflate.on('error', () => {
        cur.failed = true;
      });
      cur.inflate = inflate;
    }
  }

  /** Real bytes out of an entry: bounded by its declared size and the archive's total budget. */
  private output(cur: Current, out: Buffer): void {
    if (cur.failed) return;
    cur.out += out.length;
    this.inflatedTotal += out.length;
    const bomb = cur.out > RATIO_CHECK_MIN_BYTES && cur.out > cur.fed * this.limits.maxCompressionRatio;
    const tooMuch =
      this.inflatedTotal > this.limits.maxTotalBytes || this.inflatedTotal > this.inflationCap();
    if (cur.out > cur.declaredSize || tooMuch || bomb) {
      cur.failed = true;
      cur.inflate?.destroy();
      return;
    }
    cur.crc = crc32(out, cur.crc);
    cur.hash.update(out);
    if (cur.fd !== undefined)
      for (let w = 0; w < out.length; ) w += writeSync(cur.fd, out, w, out.length - w);
  }

  /** What the archive may inflate to in all, judged by the bytes received so far. */
  private inflationCap(): number {
    return maxInflatedBytes(this.limits, this.received);
  }

  /**
   * Within an entry whose sizes come after its data: passes bytes on to the entry until a data
   * descriptor whose compressed size equals the bytes seen so far (and, for stored data, whose
   * CRC-32 and size match too) ends it. A false match cannot do harm: the strict pass only uses an
   * entry whose byte range and CRC agree with the central directory. Returns the bytes after the
   * descriptor (empty while it has not been found).
   */
  private async scanForDescriptor(data: Buffer): Promise<Buffer> {
    const cur = this.current!;
    let buf = data;
    if (cur.carry.length > 0) {
      const carry = cur.carry;
      cur.carry = Buffer.alloc(0);
      // Joining the held-back bytes to each chunk would copy the whole entry once more: when no
      // signature begins in them (the usual case), they are plain data and go on their own.
      const joint = Buffer.concat([carry, data.subarray(0, DESCRIPTOR_BYTES)]);
      const first = joint.indexOf(DESCRIPTOR_SIG_BYTES);
      if (data.length >= DESCRIPTOR_BYTES && (first === -1 || first >= carry.length))
        await this.commit(carry);
      else buf = Buffer.concat([carry, data]);
    }
    for (let idx = buf.indexOf(DESCRIPTOR_SIG_BYTES); idx !== -1; idx = buf.indexOf(DESCRIPTOR_SIG_BYTES)) {
      if (idx + DESCRIPTOR_BYTES > buf.length) {
        await this.commit(buf.subarray(0, idx));
        cur.carry = Buffer.from(buf.subarray(idx));
        return Buffer.alloc(0);
      }
      await this.commit(buf.subarray(0, idx));
      const crc = buf.readUInt32LE(idx + 4);
      const csize = buf.readUInt32LE(idx + 8);
      const usize = buf.readUInt32LE(idx + 12);
      const stored = cur.method === STORED;
      if (csize === cur.fed && (!stored || (usize === cur.out && crc === cur.crc >>> 0))) {
        cur.compressedSize = cur.fed;
        cur.ddCrc = crc;
        cur.ddSize = usize;
        this.at += DESCRIPTOR_BYTES;
        await this.endEntry();
        return buf.subarray(idx + DESCRIPTOR_BYTES);
      }
      // The signature's bytes are data after all.
      await this.commit(buf.subarray(idx, idx + 4));
      buf = buf.subarray(idx + 4);
    }
    // A signature could still begin in the last 3 bytes: hold them back.
    const hold = Math.min(3, buf.length);
    await this.commit(buf.subarray(0, buf.length - hold));
    cur.carry = Buffer.from(buf.subarray(buf.length - hold));
    return Buffer.alloc(0);
  }

  private async commit(part: Buffer): Promise<void> {
    if (part.length === 0) return;
    await this.feed(part);
    this.at += part.length;
  }

  private async feed(part: Buffer): Promise<void> {
    const cur = this.current!;
    cur.fed += part.length;
    if (cur.failed) return;
    if (cur.method === STORED) {
      this.output(cur, part);
      return;
    }
    const inflate = cur.inflate!;
    await new Promise<void>((resolve) => {
      // An inflater that fails or closes may never call back: any of the three ends the wait.
      const done = () => {
        inflate.off('error', done).off('close', done);
        resolve();
      };
      inflate.once('error', done).once('close', done);
      inflate.write(part, done);
    });
  }

  private async endEntry(): Promise<void> {
    const cur = this.current!;
    if (cur.inflate && !cur.failed) {
      await new Promise<void>((resolve) => {
        cur.inflate!.once('end', () => resolve());
        cur.inflate!.once('error', () => resolve());
        cur.inflate!.once('close', () => resolve());
        cur.inflate!.end();
      });
    }
    this.closeCurrent(false);
  }

  private closeCurrent(abandon: boolean): void {
    const cur = this.current!;
    this.current = undefined;
    if (cur.fd !== undefined) closeSync(cur.fd);
    cur.inflate?.destroy();
    const expected = cur.descriptor ? cur.ddSize : cur.declaredSize;
    const crcOk = !cur.descriptor || cur.ddCrc === cur.crc >>> 0;
    if (abandon || cur.failed || cur.out !== expected || !crcOk || (cur.fd === undefined && cur.out > 0)) {
      rmSync(cur.file, { force: true });
      return;
    }
    this.entries.set(cur.offset, {
      localHeaderOffset: cur.offset,
      dataStart: cur.dataStart,
      method: cur.method,
      compressedSize: cur.compressedSize,
      size: cur.out,
      crc32: cur.crc >>> 0,
      sha256: cur.hash.digest('hex'),
      file: cur.file,
    });
  }
}
