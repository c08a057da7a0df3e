export * from './locate';
export * from './parse-yaml';
export * from './schema-findings';
