// Receiving an uploaded .mpn: either the raw request body (`application/octet-stream`) or a form
// (`multipart/form-data`, the file in a part named `file`, as Magellon's web app sends it). Either
// way the bytes stream to a new file with a size cap; memory stays bounded whatever the size.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import busboy from 'busboy';
import { InstallError } from '../errors';

/**
 * Writes the upload in `body` to `file` (created new); returns its size, the form's fields and the
 * file name the form gave its file part (the client's, unchecked: for messages only).
 */
export async function receiveUpload(
  body: ReadableStream<Uint8Array> | null,
  contentType: string,
  file: string,
  max: number,
): Promise<{ size: number; fields: Record<string, string>; filename?: string }> {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  let size = 0;
  const write = (chunk: Uint8Array) => {
    size += chunk.byteLength;
    if (size > max) throw new InstallError('bad-archive', `the upload is over the limit of ${max} bytes`);
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
  };
  try {
    const type = contentType.split(';')[0]!.trim().toLowerCase();
    if (type === 'multipart/form-data') {
      const form = await fromForm(body, contentType, write, max);
      return { fields: form.fields, size, ...(form.filename ? { filename: form.filename } : {}) };
    }
    const reader = body?.getReader();
    try {
      for (;;) {
        const chunk = reader ? await reader.read() : { done: true as const, value: undefined };
        if (chunk.done) break;
        write(chunk.value);
      }
    } finally {
      // the body is let go of, read to its end or not: a stream that refuses to cancel has ended
      await reader?.cancel().catch(() => {});
    }
    return { size, fields: {} };
  } finally {
    closeSync(fd);
  }
}

/** Streams the `file` part of a form through `write`; other small fields, and the part's file name, are returned. */
function fromForm(
  body: ReadableStream<Uint8Array> | null,
  contentType: string,
  write: (chunk: Uint8Array) => void,
  max: number,
): Promise<{ fields: Record<string, string>; filename?: string }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { files: 1, fileSize: max, fields: 20, fieldSize: 4096, parts: 21, headerPairs: 50 },
      });
    } catch (err) {
      reject(new InstallError('bad-request', `the form cannot be read: ${(err as Error).message}`));
      return;
    }
    // Field names are the client's: a record without a prototype takes `__proto__` as a name.
    const fields: Record<string, string> = Object.create(null);
    let sawFile = false;
    let filename: string | undefined;
    let failed: Error | undefined;
    const fail = (err: Error) => {
      failed ??= err;
    };
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      // A truncated form ends every open part with an error; the parser reports it too.
      stream.on('error', () => {});
      if (name !== 'file' || sawFile) {
        stream.resume();
        return;
      }
      sawFile = true;
      filename = info.filename;
      stream.on('data', (chunk: Buffer) => {
        if (failed) return;
        try {
          write(chunk);
        } catch (err) {
          fail(err as Error);
        }
      });
      stream.on('limit', () =>
        fail(new InstallError('bad-archive', `the upload is over the limit of ${max} bytes`)),
      );
    });
    parser.on('error', (err: Error) =>
      reject(failed ?? new InstallError('bad-request', `the form cannot be read: ${err.message}`)),
    );
    parser.on('close', () => {
      if (failed) reject(failed);
      else if (!sawFile)
        reject(new InstallError('bad-request', 'the form has no part named "file" holding the .mpn'));
      else resolve({ fields, ...(filename ? { filename } : {}) });
    });
    if (!body) {
      parser.end();
      return;
    }
    Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>)
      .on('error', (err) => parser.destroy(err))
      .pipe(parser);
  });
}
