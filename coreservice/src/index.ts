/** CoreService: the installer library (the admin service and CLI are built over it). */

export * from './doctor';
export * from './download';
export * from './errors';
export * from './hub-client';
export * from './install';
export * from './lock';
export * from './upgrade';
