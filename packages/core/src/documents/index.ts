export * from './build-index';
export * from './listing';
export * from './openapi';
