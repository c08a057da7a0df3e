export * from './broker-url';
export * from './liveness-wire';
