import { ZipError } from './zip-error';

const TYPE_MASK = 0o170000;
const REGULAR = 0o100000;
const DIRECTORY = 0o040000;
const SYMLINK = 0o120000;
const EXEC_BITS = 0o111;

/** The unix mode stored in the upper 16 bits of the external attributes, or 0 when none was recorded. */
export function unixMode(externalFileAttributes: number): number {
  return (externalFileAttributes >>> 16) & 0xffff;
}

/** Refuses links, devices, fifos, sockets and unknown file types: only plain files and directories extract. */
export function checkEntryType(externalFileAttributes: number, name: string, file: string): void {
  const type = unixMode(externalFileAttributes) & TYPE_MASK;
  if (type === 0 || type === REGULAR || type === DIRECTORY) return;
  if (type === SYMLINK) throw new ZipError('zip.symlink', file, 'is a symbolic link', name);
  throw new ZipError(
    'zip.special-file',
    file,
    `is a special file (mode 0o${type.toString(8)}: device, fifo or socket)`,
    name,
  );
}

/** Whether any execute bit is set in the recorded unix mode. */
export function isExecutable(externalFileAttributes: number): boolean {
  return (unixMode(externalFileAttributes) & EXEC_BITS) !== 0;
}
