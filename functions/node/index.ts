/** The Node entry of the hub API: the http server and `hub serve`'s process management. */
export * from './serve';
export * from './server';
export * from './site-files';
