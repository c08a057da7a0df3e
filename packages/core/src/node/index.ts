/** Node-side part of the domain library: files, YAML, zips. Not for Workers bundles. */
export * from '../manifest/key-typos';
export * from '../manifest/lint-rules';
export * from '../manifest/plugin-files';
export * from '../manifest/read-manifest';
export * from '../yaml';
export * from './archive/verify-archive';
export * from './check-archives';
export * from './hash-file';
export * from './io-error';
export * from './lint';
export * from './load-catalog';
export * from './pack';
export * from './plugin-dir';
export * from './read-entry';
export * from './uuid7';
export * from './write-build';
export * from './zip';
