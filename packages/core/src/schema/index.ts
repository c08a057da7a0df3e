export * from './api';
export * from './archive-manifest';
export * from './catalog-entry';
export * from './documents';
export * from './known-keys';
export * from './primitives';
