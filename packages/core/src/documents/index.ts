export * from './build-index';
export * from './listing';
