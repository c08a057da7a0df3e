/** The hub API, runtime-free: the Hono app, its HTTP rules, data sources and the store interface. */
export * from './app';
export * from './http';
export * from './source';
export * from './storage/r2';
export * from './storage/store';
