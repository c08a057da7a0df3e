import { readFileSync } from 'node:fs';

/** Set by the build (packages/cli/build.mjs); absent when the sources run under tsx. */
declare const __HUB_VERSION__: string | undefined;

/** The CLI's version: embedded at build time, else read from packages/cli/package.json. */
export const HUB_VERSION: string =
  typeof __HUB_VERSION__ === 'string'
    ? __HUB_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version;

/** Whether this code runs from the compiled bundle in dist/ (not the TypeScript sources). */
export const BUNDLED: boolean = typeof __HUB_VERSION__ === 'string';
