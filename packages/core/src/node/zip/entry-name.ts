import { ZipError } from './zip-error';

const MAX_NAME_BYTES = 1024;
const UTF8_FLAG = 0x800;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a raw entry name: UTF-8 when general-purpose bit 11 says so, otherwise 7-bit ASCII only
 * (CP437 guesses would silently turn bytes into different file names on different tools).
 */
export function decodeEntryName(raw: Buffer, flags: number, file: string): string {
  const shown = raw.toString('utf8');
  if (raw.length === 0) throw new ZipError('zip.invalid-name', file, 'has an empty name', shown);
  if (raw.length > MAX_NAME_BYTES) {
    throw new ZipError('zip.invalid-name', file, `has a name longer than ${MAX_NAME_BYTES} bytes`, shown);
  }
  if (flags & UTF8_FLAG) {
    try {
      return utf8.decode(raw);
    } catch {
      throw new ZipError('zip.invalid-name', file, 'has a name that is not valid UTF-8', shown);
    }
  }
  if (raw.some((byte) => byte > 0x7f)) {
    throw new ZipError(
      'zip.invalid-name',
      file,
      'has a non-ASCII name without the UTF-8 flag (bit 11); re-create the archive with UTF-8 names',
      shown,
    );
  }
  return raw.toString('latin1');
}

/** Rejects any name that could land outside the destination or mean different paths on different systems. */
export function checkEntryName(name: string, file: string): void {
  const fail = (code: ConstructorParameters<typeof ZipError>[0], detail: string) =>
    new ZipError(code, file, detail, name);
  if (/\p{Cc}/u.test(name)) throw fail('zip.invalid-name', 'has a control character in its name');
  if (INVISIBLE.test(name)) {
    throw fail('zip.invalid-name', 'has a format, bidi or line-separator character in its name');
  }
  if (name.includes('\\')) throw fail('zip.backslash', 'has a backslash in its name; zip paths use "/"');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name))
    throw fail('zip.absolute-path', 'has an absolute path');
  const segments = entryPath(name).split('/');
  if (segments.includes('..')) throw fail('zip.path-traversal', 'escapes the archive root');
  if (segments.some((segment) => segment === '' || segment === '.')) {
    throw fail('zip.invalid-name', 'has an empty or "." path segment');
  }
  for (const segment of segments) {
    const why = unportableSegment(segment);
    if (why) throw fail('zip.unportable-name', `cannot be created on Windows: ${why}`);
  }
}

/** Format (incl. bidi overrides and isolates, U+200E/F, zero-width joiners), line and paragraph separators. */
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}]/u;
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;
const WINDOWS_RESERVED =
  /^(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[1-9\u00b9\u00b2\u00b3]|LPT[1-9\u00b9\u00b2\u00b3])$/i;

/** Why Windows could not hold a path segment with this name, or undefined if it can. */
function unportableSegment(segment: string): string | undefined {
  const forbidden = WINDOWS_FORBIDDEN.exec(segment);
  if (forbidden) return `"${forbidden[0]}" is not allowed in a name`;
  if (/[. ]$/.test(segment)) return `"${segment}" ends with a dot or a space`;
  // Windows ignores everything from the first dot (and spaces before it): "nul.tar.gz" is the device NUL.
  const stem = segment.replace(/\..*$/s, '').replace(/ +$/, '');
  if (WINDOWS_RESERVED.test(stem)) return `"${stem}" is a reserved device name`;
  return undefined;
}

/** True for directory entries, which by convention end with "/". */
export function isDirectoryName(name: string): boolean {
  return name.endsWith('/');
}

/** The entry's path without the trailing "/" of a directory entry. */
export function entryPath(name: string): string {
  return isDirectoryName(name) ? name.slice(0, -1) : name;
}
