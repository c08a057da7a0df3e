export * from './liveness-wire';
