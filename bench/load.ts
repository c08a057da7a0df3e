import { loadavg } from 'node:os';

/**
 * The load average right now, printed beside every figure: a ratio measured on a loaded machine
 * flatters whichever side waits less, so a reader must see how quiet the machine was.
 */
export const load = (): string =>
  `load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`;
