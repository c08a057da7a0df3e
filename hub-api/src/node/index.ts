/** Node-only parts of the hub API: loading a build dir into memory, the fs store. */

export * from '../storage/fs';
export * from '../storage/s3';
export * from './bundle-dir';
export * from './upload';
