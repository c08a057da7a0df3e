import { readFileSync } from 'node:fs';

/** Set by the build (packages/cli/build.mjs, from coreservice/package.json); absent when the sources run under tsx. */
declare const __CORESERVICE_VERSION__: string | undefined;

/** CoreService's version: embedded at build time, else read from coreservice/package.json. */
export const CORESERVICE_VERSION: string =
  typeof __CORESERVICE_VERSION__ === 'string'
    ? __CORESERVICE_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version;
