/** Runtime-free part of the domain library: safe to bundle for Cloudflare Workers and the browser. */
export * from './broker';
export * from './catalog';
export * from './documents';
export * from './finding-codes';
export * from './finding-codes-doc';
export * from './findings';
export * from './layout';
export * from './manifest/pyproject';
export * from './manifest/requirement';
export * from './manifest/uv-lock';
export * from './schema';
export * from './text';
export * from './versions';
