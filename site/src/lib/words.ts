// Words the site builds from numbers, in one place: counts with their plural, and sizes. Runtime-free
// (the finder script uses it in the browser too).

/** `one` for exactly 1, `many` otherwise: the one rule behind every count phrase on the site. */
export function pick(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}

/** A count and its noun: "1 backend", "3 backends", "0 plugins", "2 categories". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${pick(n, one, many)}`;
}

const UNITS = ['kB', 'MB', 'GB', 'TB'];

/** Bytes as people read download sizes (decimal units, one decimal): "812 B", "27.4 kB", "1.2 MB". */
export function humanSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  let value = bytes / 1000;
  let unit = 0;
  while (unit < UNITS.length - 1 && Number(value.toFixed(1)) >= 1000) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** The exact size, for a tooltip: "27,436 bytes". */
export function exactSize(bytes: number): string {
  return `${bytes.toLocaleString('en-US')} ${pick(bytes, 'byte')}`;
}
