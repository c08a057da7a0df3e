// The one interface every archive/document store implements: fs (default), s3, r2.
// Runtime-free: nothing here imports node: modules, so the Worker bundle can use it.

/** What a store knows about one object. */
export interface StoredObject {
  key: string;
  size: number;
  /** Lower-case hex sha256 of the bytes, as recorded when the object was put; absent if unknown. */
  sha256?: string;
  contentType?: string;
}

/** A byte range, already resolved against the object's size: `offset + length <= size`, `length >= 1`. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** An object's bytes as a stream, with what is known about it. */
export interface ObjectBody extends StoredObject {
  body: ReadableStream<Uint8Array>;
  /** The range served, when one was asked for. */
  range?: ByteRange;
}

export interface PutOptions {
  /** Lower-case hex sha256 of `bytes`; the store records it and compares it before replacing anything. */
  sha256: string;
  contentType?: string;
  /**
   * Published archives are immutable: when an object with a different sha256 is already there,
   * `put` throws a StoreError with code `conflict` and leaves it as it was. Documents are not.
   */
  immutable?: boolean;
}

/** `created`: there was nothing; `unchanged`: the same sha256 was already there (nothing sent); `replaced`. */
export type PutResult = 'created' | 'unchanged' | 'replaced';

export type StoreErrorCode =
  | 'bad-key' // a key that could name something outside the store (.., absolute, control characters…)
  | 'conflict' // an immutable object already holds different bytes
  | 'auth' // the store refused our credentials (S3 403 SignatureDoesNotMatch, InvalidAccessKeyId…)
  | 'no-bucket' // the bucket (or fs root) does not exist
  | 'unavailable' // the store could not be reached
  | 'io'; // anything else; the message says what

/** A store failure with a code callers can act on and a message a person can read. */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export interface ObjectStore {
  readonly driver: 'fs' | 's3' | 'r2';
  /** Where the objects are, for messages: `fs:/srv/hub`, `s3://bucket at http://…`, `r2:ARCHIVES`. */
  readonly description: string;
  /** The object's size and recorded sha256, or undefined when there is none. */
  head(key: string): Promise<StoredObject | undefined>;
  /** The object's bytes (or a range of them), or undefined when there is none. */
  get(key: string, range?: ByteRange): Promise<ObjectBody | undefined>;
  put(key: string, bytes: Uint8Array, opts: PutOptions): Promise<PutResult>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Removes an object; removing one that is not there is not an error. */
  delete(key: string): Promise<void>;
  /** A time-limited URL that fetches the object directly from the store (s3 only). */
  presignGet?(key: string, expiresSeconds: number): Promise<string>;
}

const KEY_PART = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/**
 * Refuses keys that could escape a store or mean different things to different stores:
 * only `/`-separated parts of `[A-Za-z0-9._+-]` that start with a letter or digit (so no `.`, `..`,
 * empty parts, leading or trailing slashes), at most 512 bytes.
 */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 512) {
    throw new StoreError('bad-key', `object key must be 1 to 512 characters, got ${JSON.stringify(key)}`);
  }
  for (const part of key.split('/')) {
    if (!KEY_PART.test(part)) {
      throw new StoreError(
        'bad-key',
        `object key ${JSON.stringify(key)} has an unsafe part ${JSON.stringify(part)}`,
      );
    }
  }
}
