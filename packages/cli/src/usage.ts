import { type ParseArgsConfig, parseArgs } from 'node:util';

import { UsageError } from '@magellon/hub-core/text';

export { UsageError };

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with strict checking, turning its errors into UsageError with the command's name. */
export function parseCommandArgs<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`hub ${command}: ${(err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, '')}`);
  }
}
